"""What every answerer receives and returns, and the citation numbering they all share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cecot_rag.answer.texts import text, text_for_question
from cecot_rag.language import ENGLISH
from cecot_rag.models import Answer, Citation, Decision, Passage

ABSTAIN_TEXT = text("abstention", ENGLISH)  # the English abstention; answers use the question's language


@dataclass
class Question:
    """A question as the answerers see it: the user's words plus what retrieval used."""

    text: str
    retrieval_query: str
    history: list[dict[str, str]] = field(default_factory=list)
    query_embedding: np.ndarray | None = None


@dataclass(frozen=True)
class Evidence:
    """One quoted span of one passage, as chosen by an answerer."""

    passage: Passage
    start: int
    end: int


def number_citations(evidence: Sequence[Evidence]) -> tuple[list[int], list[Citation]]:
    """Number evidence 1..k in order of first use; the same passage and quote share a number."""
    numbers: list[int] = []
    citations: list[Citation] = []
    seen: dict[tuple[str, int, int], int] = {}
    for item in evidence:
        key = (item.passage.id, item.start, item.end)
        if key not in seen:
            quote = item.passage.text[item.start : item.end]
            seen[key] = len(citations) + 1
            citations.append(
                Citation(
                    number=seen[key],
                    passage=item.passage,
                    quote=quote,
                    quote_start=item.start,
                    quote_end=item.end,
                )
            )
        numbers.append(seen[key])
    return numbers, citations


def abstention(question: Question, passages: list[Passage], generator: str, decision: Decision) -> Answer:
    """The answer when the documents do not answer: no citations, in the question's language."""
    return Answer(
        question=question.text,
        text=text_for_question("abstention", question.text),
        answered=False,
        citations=[],
        passages=passages,
        generator=generator,
        decision=decision,
    )
