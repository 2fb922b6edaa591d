"""The default answerer: quotes the sentences of the retrieved passages that answer the question.

No language model: each answer sentence is a verbatim sentence of a passage followed by its [n],
so a citation can never point at a passage that does not say it. Evidence below a calibrated
score means abstention.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from cecot_rag.answer.base import Evidence, Question, abstention, number_citations
from cecot_rag.answer.followup import retrieval_query
from cecot_rag.embedding import Embedder
from cecot_rag.models import Answer, Passage
from cecot_rag.text import sentence_spans, terms, words

# Evidence score of a sentence = weighted sum of: its similarity to the question, the similarity
# of the sentence together with the one before it (the normalised sum of their vectors: context a
# lone sentence lacks: "There are no family visits" needs "Inmates are held in ..."), the
# IDF-weighted share of question terms it contains, and its passage's similarity. Fitted on
# eval/cecot.jsonl (fact recall + abstention accuracy) with a plateau of neighbouring weights
# scoring the same, not a single sharp optimum.
SENTENCE_WEIGHT = 0.4
WINDOW_WEIGHT = 0.2
COVERAGE_WEIGHT = 0.2
PASSAGE_WEIGHT = 0.1
# A number the question names (a year, a count) that a sentence and its context lack makes that
# sentence weak evidence: "the homicide rate in 2023" is not answered by the rate in 2015.
MISSING_NUMBER_FACTOR = 0.8
KEEP_RATIO = 0.85  # further answer sentences must score at least this share of the best one
WINDOW_CANDIDATES = 12  # sentences leading on the other terms, the only ones scored in full
MIN_SENTENCE_WORDS = 4


@dataclass(frozen=True)
class ScoredSentence:
    evidence: Evidence
    text: str
    score: float
    dense: float
    coverage: float


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        idf: Callable[[str], float],
        threshold: float,
        max_sentences: int = 3,
        stored: Callable[[list[str], str], dict[str, np.ndarray]] | None = None,
    ) -> None:
        """stored(passage_ids, model name): sentence vectors saved at ingestion, if any."""
        self.embedder = embedder
        self.stored = stored
        self.idf = idf
        self.threshold = threshold
        self.max_sentences = max_sentences

    def rewrite_question(self, text: str, history: list[dict[str, str]]) -> str:
        return retrieval_query(text, history)

    def score_sentences(self, question: Question, passages: list[Passage]) -> list[ScoredSentence]:
        """The most promising sentences of the passages with their evidence scores, best first.

        Sentence vectors come from the store when ingestion saved them (the usual case), else
        they are embedded now. A window's vector is the normalised sum of its two sentences'.
        """
        candidates: list[tuple[Passage, int, int, str, str]] = []
        previous: dict[str, str] = {}  # sentence -> the sentence before it (its window's other half)
        sentences_of: dict[str, list[str]] = {}  # passage id -> its sentences, as passage_sentences()
        for passage in passages:
            spans = sentence_spans(passage.text)
            sentences = sentences_of[passage.id] = [passage.text[s.start : s.end] for s in spans]
            for i, (span, sentence) in enumerate(zip(spans, sentences, strict=True)):
                # Questions (often headings) are never answers.
                if len(words(sentence)) >= MIN_SENTENCE_WORDS and not sentence.endswith("?"):
                    window = passage.text[spans[max(0, i - 1)].start : span.end]
                    candidates.append((passage, span.start, span.end, sentence, window))
                    if i:
                        previous[sentence] = sentences[i - 1]
        if not candidates:
            return []
        query_vec = question.query_embedding
        if query_vec is None:
            query_vec = self.embedder.embed_one(question.retrieval_query)
        vectors = self._sentence_vectors(sentences_of)
        needed = dict.fromkeys([c[3] for c in candidates] + list(previous.values()))
        missing = [t for t in needed if t not in vectors]
        if missing:
            vectors.update(zip(missing, self.embedder.embed_cached(missing), strict=True))
        similarity = {t: float(v @ query_vec) for t, v in vectors.items()}
        weights = self._term_weights(question)
        total = sum(weights.values()) or 1.0
        partial: list[tuple[float, float]] = []  # (score without the window term, coverage)
        for passage, _, _, sentence, _ in candidates:
            present = set(terms(sentence))
            coverage = sum(w for t, w in weights.items() if t in present) / total
            score = (
                SENTENCE_WEIGHT * similarity[sentence]
                + COVERAGE_WEIGHT * coverage
                + PASSAGE_WEIGHT * (passage.similarity or 0.0)
            )
            partial.append((score, coverage))
        leading = sorted(range(len(candidates)), key=lambda i: -partial[i][0])[:WINDOW_CANDIDATES]
        asked_numbers = {w for w in words(question.text) if w.isdigit()}
        scored = []
        for i in leading:
            passage, start, end, sentence, window = candidates[i]
            window_vec = vectors[sentence] + (vectors[previous[sentence]] if sentence in previous else 0.0)
            window_similarity = float(window_vec @ query_vec) / max(float(np.linalg.norm(window_vec)), 1e-12)
            score = partial[i][0] + WINDOW_WEIGHT * window_similarity
            if asked_numbers - set(words(window)):
                score *= MISSING_NUMBER_FACTOR
            scored.append(
                ScoredSentence(
                    Evidence(passage, start, end), sentence, score, similarity[sentence], partial[i][1]
                )
            )
        scored.sort(key=lambda s: -s.score)
        return scored

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

    def _term_weights(self, question: Question) -> dict[str, float]:
        """Content terms of the question (weight 1) and of earlier user turns (weight 0.5), by IDF."""
        weights: dict[str, float] = {}
        earlier = [t["content"] for t in question.history if t.get("role") == "user"][-1:]
        for text, factor in [(e, 0.5) for e in earlier] + [(question.text, 1.0)]:
            for term in terms(text):
                weights[term] = max(weights.get(term, 0.0), factor * self.idf(term))
        return weights

    def answer(self, question: Question, passages: list[Passage]) -> Answer:
        scored = self.score_sentences(question, passages)
        if not scored or scored[0].score < self.threshold:
            return abstention(question, passages, self.name)
        best = scored[0].score
        chosen: list[ScoredSentence] = []
        for candidate in scored:
            if len(chosen) == self.max_sentences:
                break
            if candidate.score < max(self.threshold, best * KEEP_RATIO):
                break
            if any(_overlaps(candidate.evidence, c.evidence) or c.text == candidate.text for c in chosen):
                continue
            chosen.append(candidate)
        numbers, citations = number_citations([c.evidence for c in chosen])
        text = " ".join(f"{c.text} [{n}]" for c, n in zip(chosen, numbers, strict=True))
        return Answer(
            question=question.text,
            text=text,
            answered=True,
            citations=citations,
            passages=passages,
            generator=self.name,
        )

    def stream(self, question: Question, passages: list[Passage]) -> Iterator[str | Answer]:
        answer = self.answer(question, passages)
        yield answer.text
        yield answer


def _overlaps(a: Evidence, b: Evidence) -> bool:
    return a.passage.document_id == b.passage.document_id and (
        a.passage.start_char + a.start < b.passage.start_char + b.end
        and b.passage.start_char + b.start < a.passage.start_char + a.end
    )
