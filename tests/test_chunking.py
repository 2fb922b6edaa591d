"""Sentence splitting and chunking: whole sentences, within the token limit, exact offsets."""

from __future__ import annotations

from tests.conftest import ARTICLE

from cecot_rag.embedding import Embedder
from cecot_rag.ingest.chunking import chunk_text
from cecot_rag.text import is_heading, sentence_spans, terms, words


def test_sentences_split_on_terminal_punctuation_but_not_abbreviations() -> None:
    text = "Dr. Smith went to the U.S. in 2019. He said “it works.” Then he left! Did he?"
    got = [text[s.start : s.end] for s in sentence_spans(text)]
    assert got == ["Dr. Smith went to the U.S. in 2019.", "He said “it works.”", "Then he left!", "Did he?"]


def test_lines_are_never_joined_into_one_sentence() -> None:
    text = "A heading without a stop\nThe body sentence. Another one."
    got = [text[s.start : s.end] for s in sentence_spans(text)]
    assert got == ["A heading without a stop", "The body sentence.", "Another one."]


def test_numbers_keep_their_digit_groups() -> None:
    assert "40000" in words("capacity to hold 40,000 inmates")
    assert "0.6" not in words("0.6 square meters")  # split into 0 and 6, both kept as terms
    assert terms("the inmates") == ["inmat"]


def test_article_chunks_fit_the_model_and_map_back_to_the_text() -> None:
    embedder = Embedder()
    text = ARTICLE.read_text(encoding="utf-8")
    chunks = chunk_text(text, embedder.count_tokens, 120)
    assert len(chunks) > 5
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert all(embedder.count_tokens([c.text])[0] <= 120 for c in chunks)
    # No sentence is cut: every chunk boundary is a sentence boundary.
    sentence_starts = {s.start for s in sentence_spans(text)}
    assert all(c.start in sentence_starts for c in chunks)
    # Nothing lost: the non-space characters of the chunks are those of the text.
    assert " ".join(c.text for c in chunks).split() == text.split()


def test_an_over_long_sentence_is_split_at_word_boundaries() -> None:
    embedder = Embedder()
    sentence = " ".join(f"word{i}" for i in range(400)) + "."
    chunks = chunk_text(sentence, embedder.count_tokens, 50)
    assert len(chunks) > 1
    assert all(embedder.count_tokens([c.text])[0] <= 50 for c in chunks)
    assert " ".join(c.text for c in chunks) == sentence


def test_a_word_longer_than_the_limit_is_cut_into_pieces_that_fit() -> None:
    embedder = Embedder()
    text = "x" * 3000
    chunks = chunk_text(text, embedder.count_tokens, 64)
    assert "".join(c.text for c in chunks) == text
    assert all(embedder.count_tokens([c.text])[0] <= 64 for c in chunks)


def test_chunks_never_cross_page_regions() -> None:
    embedder = Embedder()
    text = "Page one sentence.\n\nPage two sentence."
    chunks = chunk_text(text, embedder.count_tokens, 200, regions=[(0, 18), (20, len(text))])
    assert [c.text for c in chunks] == ["Page one sentence.", "Page two sentence."]


def _word_count(texts: object) -> list[int]:
    """A stand-in tokenizer (one piece per word) so the chunk boundaries are easy to place."""
    return [len(t.split()) for t in texts]  # type: ignore[attr-defined]


def test_a_heading_opens_the_passage_it_titles_instead_of_ending_the_previous_one() -> None:
    text = (
        "The first body sentence has seven words here.\n"
        "A Heading For The Next Part\n"
        "The second body sentence also has eight words.\n"
    )
    # 8 + 6 words fit in 14; the body sentence after the heading does not.
    chunks = chunk_text(text, _word_count, 14)
    assert [c.text for c in chunks] == [
        "The first body sentence has seven words here.",
        "A Heading For The Next Part\nThe second body sentence also has eight words.",
    ]


def test_a_heading_inside_a_passage_stays_where_it_is_and_a_short_label_line_is_one_too() -> None:
    text = "Body one is here.\nA Heading\nBody two is here.\nImage credit: Someone Else\nBody three."
    assert [c.text for c in chunk_text(text, _word_count, 100)] == [text]
    # A short line without closing punctuation ("Image credit: ...") is a title line like any
    # other: it is carried into the chunk of the text after it.
    chunks = chunk_text(text, _word_count, 15)
    assert chunks[-1].text == "Image credit: Someone Else\nBody three."
    assert is_heading("A Heading") and is_heading("Image credit: Someone Else")
    assert not is_heading("Body one is here.")
    # A Markdown heading is a title line, never a quotable answer (its "#" is not a capital).
    assert is_heading("# The CECOT prison complex") and is_heading("## Family visits")
    assert not is_heading("#hashtag campaigns spread quickly across the region.")
