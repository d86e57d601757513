"""Job payloads are stored JSON: a job queued by an older version must read the same after an
upgrade, and every payload written now must read back as it was."""

from __future__ import annotations

from service.domain.records import IngestPayload, PassageExtraction


def test_an_openie_payload_queued_before_export_files_reads_as_one_passage_per_document():
    old = {
        "document_ids": ["d1"],
        "split": False,
        "extractions": {"d1": {"entities": ["Warsaw"], "triples": [["Curie", "born in", "Warsaw"]]}},
    }
    payload = IngestPayload.from_json(old)
    assert payload.split is False
    assert payload.imported == {
        "d1": (PassageExtraction(("Warsaw",), (("Curie", "born in", "Warsaw"),), text=None),)
    }
    assert payload.to_json() == old  # and it is still written in that shape


def test_passages_with_their_texts_and_evidence_round_trip():
    passages = (
        PassageExtraction(("A",), (("A", "is", "B", "A is B."),), text="A is B."),
        PassageExtraction((), (), text="Nothing here."),
    )
    payload = IngestPayload(("d1", "d2"), split=False, imported={"d1": passages})
    data = payload.to_json()
    assert data["extractions"]["d1"] == {
        "passages": [
            {"entities": ["A"], "triples": [["A", "is", "B", "A is B."]], "text": "A is B."},
            {"entities": [], "triples": [], "text": "Nothing here."},
        ]
    }
    assert IngestPayload.from_json(data) == payload
    assert IngestPayload.from_json(IngestPayload(("x",)).to_json()) == IngestPayload(("x",))
