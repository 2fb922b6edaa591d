"""Quotes checked against the truth, not against the answer's own offsets.

A quote must be a whole sentence of its passage (it starts and ends where the splitter's
sentence spans do), equal the sentence of the article that answers a known question (written
out here by hand, verbatim from the article) and be shown verbatim in the answer. Checking only
passage[start:end] == quote lets a quote that starts one character late pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cecot_rag.text import sentence_spans
from conftest import ARTICLE

# The first quote of the answer to each known question: one sentence of the article, verbatim.
EXPECTED_QUOTES = {
    "How many inmates can CECOT hold?": (
        "The establishment of the Centro de Confinamiento del Terrorismo (CECOT), a mega-prison with "
        "the capacity to hold 40,000 inmates, has become a symbol of Bukele’s iron-fisted approach to crime."
    ),
    "How many people have been arrested under the state of emergency?": (
        "Under his “state of emergency,” which suspends certain constitutional rights, more than 75,000 "
        "people have been arrested, many without due process."
    ),
    "What was El Salvador's homicide rate in 2015?": (
        "Before Bukele, El Salvador was known as the “murder capital of the world,” with the country "
        "recording an average of 103 homicides per 100,000 people in 2015."
    ),
    "What did the mayor of Lima call Bukele's crackdown?": (
        "In Lima, Peru’s capital, Mayor Rafael López Aliaga has called Bukele’s crime crackdown a "
        "“miracle,” while Costa Rica’s Security Minister, Jorge Torres, has expressed interest in "
        "adopting similar methods."
    ),
    "Which gangs drove the violence?": (
        "This staggering rate of violence was largely driven by powerful street gangs, particularly "
        "MS-13 and Barrio 18."
    ),
    "What is Ecuador's president planning?": (
        "In Ecuador, President Daniel Noboa has unveiled plans to construct similar “ultra-secure” "
        "facilities, citing Bukele’s strategy as a model."
    ),
    "What do CECOT inmates sleep on?": (
        "Inmates are held in overcrowded cells, sleep on metal bunks without mattresses and have 0.6 "
        "square meters of space each."
    ),
    "What does building lasting security require?": (
        "Building lasting security requires more than mass incarceration and militarised crackdowns; it "
        "requires rebuilding trust between communities and institutions."
    ),
}


def article_text() -> str:
    return ARTICLE.read_text(encoding="utf-8")


def assert_whole_sentence(passage_text: str, start: int, end: int, quote: str) -> None:
    """The quote is passage_text[start:end] and that slice is exactly one sentence of the passage."""
    assert passage_text[start:end] == quote, f"quote is not passage[{start}:{end}]"
    bounds = {(span.start, span.end) for span in sentence_spans(passage_text)}
    assert (start, end) in bounds, f"quote {quote!r} does not start and end at sentence boundaries"


def assert_citation(citation: Mapping[str, Any], answer_text: str) -> None:
    """A citation as the API returns it (JSON): a whole sentence, shown verbatim before its marker."""
    passage = citation["passage"]
    assert_whole_sentence(passage["text"], citation["quote_start"], citation["quote_end"], citation["quote"])
    assert f"{citation['quote']} [{citation['number']}]" in answer_text


def assert_answer_quotes(question: str, answer_text: str, citations: Sequence[Mapping[str, Any]]) -> None:
    """Every quote a whole sentence shown verbatim; a known question's first quote is the expected one."""
    assert citations, f"no citation for {question!r}: {answer_text!r}"
    for citation in citations:
        assert_citation(citation, answer_text)
    if question in EXPECTED_QUOTES:
        expected = EXPECTED_QUOTES[question]
        assert expected in article_text(), "the expected sentence must be verbatim from the article"
        assert citations[0]["quote"] == expected
