"""The answer path: a question in, scored evidence and one answer-or-abstain decision out.

Stages, each in its module, data flowing one way:

1. reading (answer/followup.py): which text to retrieve with for a follow-up; when form does not
   decide, both readings go through the stages below once each and the better one is kept;
2. retrieval: the passages for the reading (retrieve.py, hybrid dense + BM25), once per reading;
3. candidates (answer/candidates.py): the quotable sentences of those passages;
4. first stage (answer/features.py + scorers.FeatureScorer): every candidate's features and prior;
5. scorer (answer/scorers.py): the reader by default, on the first stage's best candidates;
6. selection and decision (answer/select.py).

Answerers (extractive, generated) turn the result, a `Found`, into an Answer; they never retrieve
or score again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cecot_rag.answer.base import Question
from cecot_rag.answer.candidates import Candidate, candidates
from cecot_rag.answer.features import FeatureExtractor
from cecot_rag.answer.followup import Reading, by_form, readings
from cecot_rag.answer.scorers import FeatureScorer, Scorer
from cecot_rag.answer.select import Selection, select
from cecot_rag.models import Answer, Decision, Passage
from cecot_rag.text import terms

Retrieve = Callable[[str, np.ndarray, int], list[Passage]]
Rewrite = Callable[[str, list[dict[str, str]]], str]


@dataclass
class Found:
    """What the answer path found for one question: the reading used, its passages, every
    candidate (scored ones have `scored_by`), the chosen sentences and the decision."""

    question: Question
    passages: list[Passage]
    candidates: list[Candidate]
    selection: Selection

    @property
    def decision(self) -> Decision:
        return self.selection.decision

    @property
    def chosen(self) -> list[Candidate]:
        return self.selection.chosen

    @property
    def answered(self) -> bool:
        return self.selection.answered


class Answerer(Protocol):
    """Turns what the answer path found into an Answer (it never retrieves or scores again)."""

    name: str

    def answer(self, found: Found) -> Answer: ...

    def stream(self, found: Found) -> Iterator[str | Answer]: ...


class AnswerPath:
    def __init__(
        self,
        retrieve: Retrieve,
        embed_query: Callable[[str], np.ndarray],
        extractor: FeatureExtractor,
        scorer: Scorer,
        first_stage: FeatureScorer,
        threshold: float | None = None,
        max_sentences: int = 3,
    ) -> None:
        """threshold: None uses the scorer's own (the one its calibration was chosen for)."""
        self.retrieve = retrieve
        self.embed_query = embed_query
        self.extractor = extractor
        self.scorer = scorer
        self.first_stage = first_stage
        self.threshold = scorer.threshold if threshold is None else threshold
        self.max_sentences = max_sentences

    def find(
        self,
        text: str,
        history: Sequence[dict[str, str]] | None,
        top_k: int,
        rewrite: Rewrite | None = None,
    ) -> Found:
        """Answer-path result for a question (text already validated) after history.

        rewrite(text, history): a standalone rewrite of a follow-up (a language model's), used as
        the only reading when given.
        """
        turns = list(history or [])
        standalone, joined = readings(text, turns)
        if joined is None:
            return self.read(text, standalone, turns, top_k)
        if rewrite is not None:
            return self.read(text, Reading(rewrite(text, turns), True), turns, top_k)
        decided = by_form(text, turns)
        if decided is not None:
            return self.read(text, decided, turns, top_k)
        own = self.read(text, standalone, turns, top_k)
        other = self.read(text, joined, turns, top_k)
        return other if other.decision.score > own.decision.score or not own.answered else own

    def read(self, text: str, reading: Reading, history: list[dict[str, str]], top_k: int) -> Found:
        """One reading through retrieval, candidates, first stage, scorer and selection."""
        vector = self.embed_query(reading.query)
        question = Question(text, reading.query, history, vector)
        passages = self.retrieve(reading.query, vector, top_k)
        found, sentences_of = candidates(passages)
        if reading.names:  # an elliptical follow-up: only sentences naming what it names are read
            named = set(reading.names)
            found = [c for c in found if not named.isdisjoint(terms(c.text))]
        earlier = _previous_question(history) if reading.joined else None
        self.extractor.fill(found, sentences_of, text, vector, earlier)
        self.first_stage.rank(found)
        # An elliptical follow-up is read joined ("And in Honduras?" does not say what is asked);
        # followup.by_form says which text the scorer reads.
        self.scorer.score(reading.scored, found)
        selection = select(found, self.scorer.name, self.threshold, self.max_sentences, bool(passages))
        return Found(question, passages, found, selection)


def _previous_question(history: Sequence[dict[str, str]]) -> str | None:
    earlier = [t["content"] for t in history if t.get("role") == "user"]
    return earlier[-1] if earlier else None
