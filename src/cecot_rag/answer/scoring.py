"""The evidence score of each sentence: features of (question, sentence) and a logistic model over them.

A candidate is a whole sentence of a retrieved passage. Headings, questions, very short lines and
sentences addressed to an AI assistant (`prompt.is_instruction`, a planted "ignore previous
instructions ...") are never candidates. Each candidate gets the features below; the evidence
score is the logistic model's output, whose weights (answer/weights.py) are fitted on the bundled
set by eval/fit_answerer.py and only reported on the other sets.

Features (all computed from the current question; the previous question's terms count half in
coverage only when retrieval used the conversation):
- sentence, window, passage: cosine similarity of the question to the sentence, to the sentence
  with the one before it (normalised sum of their vectors), and to the passage;
- coverage: IDF-weighted share of the question's content terms in the sentence; window_coverage:
  the same over the sentence and its two neighbours;
- missing_rare: the rarest question term absent from that window, as a share of the rarest
  term's IDF (a question about "Guatemala" on a text without it);
- type_match / type_absent: the question asks when / how many / who / where and the sentence
  does / does not hold a date, amount or name it does not already state;
- condition_missing: how many of the numbers and names the question states (a year, a country)
  the window lacks, at most 2: "the homicide rate in 2023" is not answered by the rate in 2015;
- gap: the sentence's similarity minus the best candidate's (ranking within the question).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from cecot_rag.answer.base import Evidence
from cecot_rag.answer.prompt import is_instruction
from cecot_rag.answer.question import Asked, missing_conditions, offers_type
from cecot_rag.answer.weights import ANSWER_BIAS, ANSWER_WEIGHTS, BIAS, WEIGHTS
from cecot_rag.models import Passage
from cecot_rag.text import is_heading, sentence_spans, terms, words

FEATURES = (
    "sentence",
    "window",
    "passage",
    "coverage",
    "window_coverage",
    "missing_rare",
    "type_match",
    "type_absent",
    "condition_missing",
    "gap",
)
MIN_SENTENCE_WORDS = 4
_INTRODUCES = re.compile(r"(:|\b(the\s+following|as\s+follows)\W*)$", re.IGNORECASE)


@dataclass
class Candidate:
    """One sentence of a retrieved passage, its neighbours, features and evidence score."""

    passage: Passage
    index: int  # position among the passage's sentences
    start: int
    end: int
    text: str
    window: str  # the sentence with the one before and the one after
    features: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # conditions the window lacks
    score: float = 0.0

    @property
    def evidence(self) -> Evidence:
        return Evidence(self.passage, self.start, self.end)


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
    """Answerable sentences of the passages, and every passage's sentences (for stored vectors)."""
    found: list[Candidate] = []
    sentences_of: dict[str, list[str]] = {}
    for passage in passages:
        spans = sentence_spans(passage.text)
        sentences = sentences_of[passage.id] = [passage.text[s.start : s.end] for s in spans]
        for i, (span, sentence) in enumerate(zip(spans, sentences, strict=True)):
            if not can_answer(sentence):
                continue
            window = passage.text[spans[max(0, i - 1)].start : spans[min(len(spans) - 1, i + 1)].end]
            found.append(Candidate(passage, i, span.start, span.end, sentence, window))
    return found, sentences_of


def term_weights(
    question: str, earlier: str | None, idf: Callable[[str], float]
) -> tuple[dict[str, float], dict[str, float]]:
    """IDF weights of the question's own terms, and of all terms (earlier question's at half weight)."""
    own = {t: idf(t) for t in terms(question)}
    combined = dict(own)
    for term in terms(earlier or ""):
        combined[term] = max(combined.get(term, 0.0), 0.5 * idf(term))
    return own, combined


@lru_cache(maxsize=8192)  # sentences and windows recur across questions
def term_set(text: str) -> frozenset[str]:
    return frozenset(terms(text))


def _share(weights: dict[str, float], present: set[str]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in present) / total if total else 0.0


def featurize(
    found: Sequence[Candidate],
    question: str,
    asked: Asked,
    own: dict[str, float],
    combined: dict[str, float],
    similarity: Callable[[Candidate], tuple[float, float]],
) -> None:
    """Fill every candidate's features; similarity(c) gives (sentence, window) cosine similarities."""
    rarest = max(own.values(), default=0.0)
    pairs = [similarity(c) for c in found]
    best = max((s for s, _ in pairs), default=0.0)
    for candidate, (sentence_sim, window_sim) in zip(found, pairs, strict=True):
        in_sentence = term_set(candidate.text)
        in_window = term_set(candidate.window)
        absent = [w for t, w in own.items() if t not in in_window]
        candidate.missing = missing_conditions(
            asked, candidate.text, candidate.window, candidate.passage.text
        )
        has_type = asked.answer_type is not None
        offered = has_type and offers_type(asked, candidate.text, question)
        candidate.features = {
            "sentence": sentence_sim,
            "window": window_sim,
            "passage": candidate.passage.similarity or 0.0,
            "coverage": _share(combined, in_sentence),
            "window_coverage": _share(combined, in_window),
            "missing_rare": max(absent, default=0.0) / rarest if rarest else 0.0,
            "type_match": float(offered),
            "type_absent": float(has_type and not offered),
            "condition_missing": float(min(2, len(candidate.missing))),
            "gap": sentence_sim - best,
        }


def relevance(features: dict[str, float]) -> float:
    """The ranking model's output: how likely this sentence supports an answer to the question."""
    z = BIAS + sum(WEIGHTS[name] * features[name] for name in FEATURES)
    return float(1.0 / (1.0 + np.exp(-z)))


def answer_features(candidate: Candidate) -> dict[str, float]:
    """What the answer-or-abstain model sees of the best sentence: its ranking logit and coverage."""
    score = min(max(candidate.score, 1e-6), 1 - 1e-6)
    f = candidate.features
    return {
        "relevance": float(np.log(score / (1 - score))),
        "sentence": f["sentence"],
        "coverage": f["coverage"],
        "window_coverage": f["window_coverage"],
        "missing_rare": f["missing_rare"],
        "type_absent": f["type_absent"],
    }


ANSWER_FEATURES = ("relevance", "sentence", "coverage", "window_coverage", "missing_rare", "type_absent")


def evidence_score(candidate: Candidate) -> float:
    """The answer-or-abstain model's output for the best sentence, compared to abstain_threshold."""
    f = answer_features(candidate)
    z = ANSWER_BIAS + sum(ANSWER_WEIGHTS[name] * f[name] for name in ANSWER_FEATURES)
    return float(1.0 / (1.0 + np.exp(-z)))
