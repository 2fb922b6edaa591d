"""Candidates: the quotable sentences of the retrieved passages, the first stage of the answer path.

A candidate is a whole sentence of a retrieved passage with its neighbours. Headings, questions,
very short lines, lead-ins ("... the following:") and sentences addressed to an AI assistant (a
planted "ignore previous instructions ...") are never candidates: they cannot be quoted as an
answer whatever a scorer says of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from cecot_rag.answer.base import Evidence
from cecot_rag.answer.prompt import is_instruction
from cecot_rag.answer.reader import pair_text
from cecot_rag.models import Passage
from cecot_rag.text import is_heading, sentence_spans, words

MIN_SENTENCE_WORDS = 4
_INTRODUCES = re.compile(r"(:|\b(the\s+following|as\s+follows)\W*)$", re.IGNORECASE)


@dataclass
class Candidate:
    """One sentence of a retrieved passage, its neighbours, and what the scorers made of it."""

    passage: Passage
    index: int  # position among the passage's sentences
    start: int
    end: int
    text: str
    previous: str  # the sentence before it in the passage ("" for the first or after a heading)
    window: str  # the sentence with the one before and the one after
    features: dict[str, float] = field(default_factory=dict)
    prior: float = 0.0  # the first stage's score (the feature model), used to pick what the reader reads
    score: float = 0.0  # the final scorer's calibrated probability that it answers the question
    scored_by: str = ""  # the scorer that set score ("" if none did: never quoted)

    @property
    def evidence(self) -> Evidence:
        return Evidence(self.passage, self.start, self.end)

    @property
    def pair(self) -> str:
        """What the reader reads of this candidate."""
        return pair_text(self.text, self.previous)


@lru_cache(maxsize=8192)  # sentences recur across questions
def can_answer(sentence: str) -> bool:
    """Whether a sentence may be quoted as an answer at all."""
    return not (
        len(words(sentence)) < MIN_SENTENCE_WORDS
        or sentence.endswith("?")  # questions (often headings) are never answers
        or is_heading(sentence)
        or _INTRODUCES.search(sentence) is not None  # "... is the following:": the content comes next
        or is_instruction(sentence)  # a planted "ignore previous instructions ..." is not evidence
    )


def candidates(passages: Sequence[Passage]) -> tuple[list[Candidate], dict[str, list[str]]]:
    """Quotable sentences of the passages, and every passage's sentences (for stored vectors)."""
    found: list[Candidate] = []
    sentences_of: dict[str, list[str]] = {}
    for passage in passages:
        spans = sentence_spans(passage.text)
        sentences = sentences_of[passage.id] = [passage.text[s.start : s.end] for s in spans]
        for i, (span, sentence) in enumerate(zip(spans, sentences, strict=True)):
            if not can_answer(sentence):
                continue
            before = sentences[i - 1] if i else ""
            window = passage.text[spans[max(0, i - 1)].start : spans[min(len(spans) - 1, i + 1)].end]
            previous = "" if is_heading(before) else before  # a title is no context
            found.append(Candidate(passage, i, span.start, span.end, sentence, previous, window))
    return found, sentences_of
