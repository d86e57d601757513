from service.domain.models import PassageText, Triple, fact_embedding_text
from service.extraction.offline import OfflineExtractor


def _extract(title, text):
    return OfflineExtractor().extract(PassageText("d", 0, title, text))


def test_entities_are_proper_noun_spans_with_connectors_and_the_title():
    x = _extract(
        "Hello Love (song)",
        "Hello Love is a song by Ludwig van Beethoven. It was played at the Bank of America.",
    )
    assert x.entities[0] == "Hello Love"  # trailing parenthetical dropped
    assert "Ludwig van Beethoven" in x.entities and "Bank of America" in x.entities


def test_numbers_and_lone_calendar_words_are_not_entities():
    x = _extract(None, "Marie Curie moved to Paris in 1891. In March 1,200 people met Pierre Curie.")
    assert "1891" not in x.entities and "1,200" not in x.entities and "March" not in x.entities
    assert {"Marie Curie", "Paris", "Pierre Curie"} <= set(x.entities)


def test_possessive_is_stripped_and_pronoun_sentences_relate_to_the_title():
    x = _extract(
        "Ada Lovelace", "Ada Lovelace was a mathematician. Later, she wrote Babbage's notes in London."
    )
    assert "Babbage" in x.entities
    assert (
        Triple("Ada Lovelace", "wrote", "Babbage", "Later, she wrote Babbage's notes in London.") in x.triples
    )


def test_abbreviations_do_not_end_sentences_and_triples_keep_their_sentence():
    x = _extract(
        "Karl Deisseroth",
        "Karl Deisseroth is a scientist. He is the D.H. Chen Professor at Stanford University.",
    )
    facts = [t for t in x.triples if t.object == "Stanford University" and t.subject == "Karl Deisseroth"]
    assert facts and facts[0].evidence == "He is the D.H. Chen Professor at Stanford University."
    assert fact_embedding_text(facts[0], "Karl Deisseroth") == f"Karl Deisseroth\n{facts[0].evidence}"


def test_deterministic_and_no_self_loops():
    text = "Paris is in France. Paris hosts the Louvre."
    assert _extract("Paris", text) == _extract("Paris", text)
    assert all(t.subject.casefold() != t.object.casefold() for t in _extract("Paris", text).triples)
