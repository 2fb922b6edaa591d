"""The default answerer: quotes the sentences of the retrieved passages that answer the question.

No language model: each answer sentence is a verbatim sentence of a passage followed by its [n],
so a citation can never point at a passage that does not say it. The steps, each in its module:

1. follow-up or not (answer/followup.py): which reading of the question retrieval uses;
2. evidence (answer/scoring.py): every candidate sentence gets features and a fitted logistic
   score; below `abstain_threshold` for the best one there is no answer;
3. choice (answer/select.py): answer, near miss ("The documents do not say this for 2023; what
   they do say: ... [1]", answered=False) or abstention, and which further sentences answer a part
   of the question the first does not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from cecot_rag.answer.base import Question, abstention, number_citations
from cecot_rag.answer.followup import Reading, decide_reading
from cecot_rag.answer.question import Asked, read_question
from cecot_rag.answer.scoring import Candidate, candidates, evidence_score, featurize, relevance, term_weights
from cecot_rag.answer.select import Choice, choose
from cecot_rag.embedding import Embedder
from cecot_rag.models import Answer, Passage
from cecot_rag.text import is_heading

_POSSESSIVE = re.compile(r"['’]s$")
Retrieve = Callable[[str, np.ndarray], list[Passage]]


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        idf: Callable[[str], float],
        threshold: float,
        max_sentences: int = 3,
        stored: Callable[[list[str], str], dict[str, np.ndarray]] | None = None,
        retrieve: Retrieve | None = None,
    ) -> None:
        """stored(passage_ids, model name): sentence vectors saved at ingestion, if any.
        retrieve(text, vector): passages for a reading of a follow-up (see answer/followup.py)."""
        self.embedder = embedder
        self.stored = stored
        self.idf = idf
        self.threshold = threshold
        self.max_sentences = max_sentences
        self.retrieve = retrieve

    def rewrite_question(self, text: str, history: list[dict[str, str]]) -> str:
        return decide_reading(text, history, lambda reading: self._evidence(text, history, reading)).query

    def _evidence(self, text: str, history: list[dict[str, str]], reading: Reading) -> float:
        """How well a reading of the question is answered: the evidence score of the sentence the
        answerer would quote first (at least the threshold when it would answer, 0 without one)."""
        if self.retrieve is None:
            return 0.0
        vector = self.embedder.embed_cached([reading.query])[0]
        question = Question(text, reading.query, history, vector)
        choice = self.choose(question, self.retrieve(reading.query, vector))
        if not choice.chosen or not choice.answered:
            return 0.0
        score = evidence_score(choice.chosen[0])
        return max(score, self.threshold)

    def score_sentences(self, question: Question, passages: list[Passage]) -> list[Candidate]:
        """Every candidate sentence of the passages with its evidence score, best first.

        Sentence vectors come from the store when ingestion saved them (the usual case), else
        they are embedded now. A window's vector is the normalised sum of its two sentences'.
        """
        found, sentences_of = candidates(passages)
        if not found:
            return []
        query_vec = question.query_embedding
        if query_vec is None:
            query_vec = self.embedder.embed_one(question.retrieval_query)
        vectors = self._sentence_vectors(sentences_of)
        needed = dict.fromkeys(s for texts in sentences_of.values() for s in texts)
        missing = [t for t in needed if t not in vectors]
        if missing:
            vectors.update(zip(missing, self.embedder.embed_cached(missing), strict=True))

        def similarity(c: Candidate) -> tuple[float, float]:
            vec = vectors[c.text]
            before = sentences_of[c.passage.id][c.index - 1] if c.index else None
            # The window adds the sentence before, but not a heading: a title is no context.
            if before is not None and not is_heading(before):
                vec = vec + vectors[before]
            window = float(vec @ query_vec) / max(float(np.linalg.norm(vec)), 1e-12)
            return float(vectors[c.text] @ query_vec), window

        joined = question.retrieval_query != question.text
        earlier = _previous_question(question) if joined else None
        own, combined = term_weights(question.text, earlier, self.idf)
        featurize(found, question.text, _asked(question), own, combined, similarity)
        for candidate in found:
            candidate.score = relevance(candidate.features)
        found.sort(key=lambda c: -c.score)
        return found

    def _sentence_vectors(self, sentences_of: dict[str, list[str]]) -> dict[str, np.ndarray]:
        """Sentence text -> vector, for the passages whose stored vectors match their sentences."""
        if self.stored is None:
            return {}
        found: dict[str, np.ndarray] = {}
        stored = self.stored(list(sentences_of), self.embedder.model_name)
        for passage_id, sentences in sentences_of.items():
            rows = stored.get(passage_id)
            if rows is not None and len(rows) == len(sentences):
                found.update(zip(sentences, rows, strict=True))
        return found

    def choose(self, question: Question, passages: list[Passage]) -> Choice:
        scored = self.score_sentences(question, passages)
        own = set(term_weights(question.text, None, self.idf)[0])
        return choose(scored, _asked(question), own, self.threshold, self.max_sentences)

    def answer(self, question: Question, passages: list[Passage]) -> Answer:
        choice = self.choose(question, passages)
        if not choice.chosen:
            return abstention(question, passages, self.name).model_copy(
                update={"evidence_score": choice.evidence}
            )
        numbers, citations = number_citations([c.evidence for c in choice.chosen])
        text = " ".join(f"{c.text} [{n}]" for c, n in zip(choice.chosen, numbers, strict=True))
        if not choice.answered:
            # A near miss: say what is missing, then quote what the documents do say.
            asked_for = ", ".join(f"“{_POSSESSIVE.sub('', m)}”" for m in choice.missing)
            text = f"The documents do not say this for {asked_for}. What they do say: {text}"
        return Answer(
            question=question.text,
            text=text,
            answered=choice.answered,
            citations=citations,
            passages=passages,
            generator=self.name,
            evidence_score=choice.evidence,
        )

    def stream(self, question: Question, passages: list[Passage]) -> Iterator[str | Answer]:
        answer = self.answer(question, passages)
        yield answer.text
        yield answer


def _asked(question: Question) -> Asked:
    """What the question asks. A joined follow-up that states no condition of its own ("How many
    inmates will it hold?") keeps the previous question's ("Which Honduran leader ...?"); one that
    states its own ("And in Honduras?") replaces them."""
    asked = read_question(question.text)
    earlier = _previous_question(question) if question.retrieval_query != question.text else None
    if earlier and not asked.conditions:
        asked = replace(asked, conditions=read_question(earlier).conditions)
    return asked


def _previous_question(question: Question) -> str | None:
    earlier = [t["content"] for t in question.history if t.get("role") == "user"]
    return earlier[-1] if earlier else None
