from service.domain import ids
from service.domain.normalize import normalize_name, normalize_text


def test_normalize_text_is_unicode_aware():
    assert normalize_text("  Ｐａｒｉｓ\tIS\n big ") == "paris is big"
    assert normalize_text("Straße") == "strasse"  # casefold, not lower
    assert normalize_text("Ålesund") == normalize_text("Ålesund")  # NFKC composes
    assert normalize_text("東京") == "東京"  # non-Latin text is kept, not dropped


def test_normalize_name_trims_decorative_punctuation_only():
    assert normalize_name('"Paris,"') == "paris"
    assert normalize_name("(AC/DC)") == "ac/dc"
    assert normalize_name("O'Brien") == "o'brien"


def test_ids_are_prefixed_stable_and_namespace_scoped():
    a = ids.entity_id("ns1", "Marie Curie")
    assert a.startswith("entity-") and len(a) == len("entity-") + 32
    assert a == ids.entity_id("ns1", "  marie   CURIE ")
    assert a != ids.entity_id("ns2", "Marie Curie")
    assert ids.entity_id("ns", "Москва") != ids.entity_id("ns", "Киев")


def test_fact_ids_depend_on_all_three_parts_without_concatenation_collisions():
    f = ids.fact_id("ns", "a", "b", "c")
    assert f == ids.fact_id("ns", "A", " b ", "C")
    assert f != ids.fact_id("ns", "a b", "", "c")
    assert f != ids.fact_id("ns", "c", "b", "a")


def test_document_and_passage_ids():
    d = ids.document_id("ns", "Title", "Some text.")
    assert d.startswith("doc-") and d == ids.document_id("ns", "title", "some   text.")
    assert d != ids.document_id("ns", None, "Some text.")
    p0 = ids.passage_id("ns", d, 0, "Some text.")
    assert p0.startswith("passage-") and p0 != ids.passage_id("ns", d, 1, "Some text.")
