"""Properties (hypothesis): chunks fit the model and lose or duplicate nothing; citations map back."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cecot_rag import Assistant
from cecot_rag.embedding import Embedder
from cecot_rag.ingest.chunking import chunk_text
from cecot_rag.ingest.loaders import load_file
from conftest import ARTICLE

EMBEDDER = Embedder()
ARTICLE_TEXT = load_file(ARTICLE).text
ARTICLE_WORDS = sorted(set(re.findall(r"[A-Za-z][A-Za-z'-]{3,}", ARTICLE_TEXT)))

_word = st.one_of(
    st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True),
    st.from_regex(r"[0-9]{1,3}(,[0-9]{3})?", fullmatch=True),
    st.sampled_from(
        ["Dr.", "U.S.", "e.g.", "CECOT's", "Bukele", "niño", "—", "«sí»", "10.5%", "😀", "Ωμέγα"]
    ),
    st.text(
        alphabet=st.characters(blacklist_categories=["Cs", "Cc", "Zs", "Zl", "Zp"]), min_size=1, max_size=30
    ),
    st.from_regex(r"[a-z]{60,400}", fullmatch=True),  # a "word" longer than the limit
)
_separator = st.sampled_from([" ", " ", " ", ". ", "! ", "? ", "\n", "\n\n", ", ", "\t", "  "])
_texts = st.lists(st.tuples(_word, _separator), min_size=1, max_size=400).map(
    lambda pairs: "".join(w + s for w, s in pairs)
)


def assert_chunks_cover(text: str, chunks: list, limit: int, regions: list[tuple[int, int]]) -> None:
    counts = EMBEDDER.count_tokens([c.text for c in chunks])
    previous_end = 0
    for chunk, tokens in zip(chunks, counts, strict=True):
        assert tokens <= limit, f"chunk of {tokens} word pieces over {limit}"
        assert chunk.text == text[chunk.start : chunk.end], "offsets do not map back to the text"
        assert chunk.text.strip(), "empty chunk"
        assert previous_end <= chunk.start, "chunks overlap or are out of order (text duplicated)"
        assert not text[previous_end : chunk.start].strip(), "text between chunks was lost"
        assert any(a <= chunk.start and chunk.end <= b for a, b in regions), "chunk crosses a region"
        previous_end = chunk.end
    assert not text[previous_end:].strip(), "text after the last chunk was lost"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_texts, limit=st.sampled_from([32, 64, 200, 254]))
def test_chunks_fit_the_token_limit_map_back_and_cover_all_text(text: str, limit: int) -> None:
    chunks = chunk_text(text, EMBEDDER.count_tokens, limit)
    assert_chunks_cover(text, chunks, limit, [(0, len(text))])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_texts, cuts=st.lists(st.floats(0, 1), max_size=5), limit=st.sampled_from([32, 200]))
def test_chunks_never_cross_page_regions(text: str, cuts: list[float], limit: int) -> None:
    bounds = sorted({0, len(text), *(int(c * len(text)) for c in cuts)})
    regions = list(itertools.pairwise(bounds)) or [(0, 0)]
    chunks = chunk_text(text, EMBEDDER.count_tokens, limit, regions)
    assert_chunks_cover(text, chunks, limit, regions)


@pytest.fixture(scope="module")
def assistant(bundled_assistant: Assistant) -> Assistant:
    return bundled_assistant


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(words=st.lists(st.sampled_from(ARTICLE_WORDS), min_size=1, max_size=8))
def test_every_citation_quotes_its_passage_at_its_offsets(assistant: Assistant, words: list[str]) -> None:
    answer = assistant.ask("What about " + " ".join(words) + "?")
    for citation in answer.citations:
        passage = citation.passage
        assert passage.text[citation.quote_start : citation.quote_end] == citation.quote
        assert ARTICLE_TEXT[passage.start_char : passage.end_char] == passage.text
        assert f"[{citation.number}]" in answer.text
    for passage in answer.passages:
        assert ARTICLE_TEXT[passage.start_char : passage.end_char] == passage.text
