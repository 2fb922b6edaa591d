"""Scorers: the stage of the answer path that says how likely each candidate answers the question.

A scorer sets `candidate.score`, a probability on one calibrated scale, for the candidates it
reads, and carries the threshold its calibration was chosen for; the answer path compares the
best score with that threshold to answer or abstain, for every kind of question.

- `FeatureScorer`: a logistic model over answer/features.py's features, fitted on the SQuAD
  training articles by training/fit.py (one per embedding model, in answer/weights.py). Cheap; it is also
  the first stage that picks which candidates the other scorers read (`candidate.prior`).
- `ReaderScorer`: the cross-encoder trained here (answer/reader.py) on the first stage's best
  candidates, its logit calibrated by a logistic fitted on the held-out training articles (both in
  reader_model/card.json).
- `LanguageRoutedScorer`: with the multilingual embedding model, the reader (English only) for
  English pairs and a cross-lingual feature model for the rest;
- `PostprocessorScorer`: any llama-index node postprocessor (a reranker, a filter) as a scorer;
  its scores are used as they come, with the threshold you give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from cecot_rag.answer import weights
from cecot_rag.answer.candidates import Candidate
from cecot_rag.language import ENGLISH, language_of

if TYPE_CHECKING:
    from llama_index.core.postprocessor.types import BaseNodePostprocessor

    from cecot_rag.answer.reader import OnnxReader


class Scorer(Protocol):
    """Sets candidate.score (and scored_by) for the candidates it reads; the rest stay unscored."""

    name: str
    threshold: float

    def score(self, question: str, found: Sequence[Candidate]) -> None: ...


def _sigmoid(z: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


class FeatureScorer:
    """A feature model: a logistic regression over the candidate's features (answer/weights.py)."""

    def __init__(
        self, bias: float, coefficients: dict[str, float], threshold: float, name: str = "features"
    ) -> None:
        self.bias = bias
        self.coefficients = dict(coefficients)
        self.names = tuple(coefficients)
        self.threshold = threshold
        self.name = name

    @classmethod
    def for_model(cls, key: str, name: str = "features") -> FeatureScorer:
        """The fitted model named key in answer/weights.py (an embedding model's name, or that name
        followed by "/crosslingual"); KeyError for a model nothing was fitted for."""
        fitted = weights.FEATURE_MODELS[key]
        return cls(fitted["bias"], fitted["weights"], fitted["threshold"], name)

    def on_scale_of(self, threshold: float) -> FeatureScorer:
        """The same model with its intercept moved so that its own threshold falls at threshold:
        the order of its scores and its abstention point are unchanged, and its scores can be
        compared with another scorer's threshold."""
        shift = _logit(threshold) - _logit(self.threshold)
        return FeatureScorer(self.bias + shift, self.coefficients, threshold, self.name)

    def probabilities(self, found: Sequence[Candidate]) -> np.ndarray:
        if not found:
            return np.zeros(0)
        rows = np.array([[c.features[f] for f in self.names] for c in found])
        coef = np.array([self.coefficients[f] for f in self.names])
        return _sigmoid(self.bias + rows @ coef)

    def rank(self, found: Sequence[Candidate]) -> None:
        """The first stage: every candidate's prior."""
        for c, p in zip(found, self.probabilities(found), strict=True):
            c.prior = float(p)

    def score(self, question: str, found: Sequence[Candidate]) -> None:
        for c, p in zip(found, self.probabilities(found), strict=True):
            c.score = float(p)
            c.scored_by = self.name


class ReaderScorer:
    """The trained reader on the `reads` best candidates of the first stage."""

    name = "reader"

    def __init__(
        self,
        reader: OnnxReader,
        calibration: dict[str, float],
        threshold: float,
        reads: int,
    ) -> None:
        """calibration: {"bias", "reader"} and optional feature coefficients (a logistic over the
        reader's logit and those features, fitted on the held-out training articles)."""
        self.reader = reader
        self.calibration = calibration
        self.threshold = threshold
        self.reads = reads

    def score(self, question: str, found: Sequence[Candidate]) -> None:
        chosen = sorted(found, key=lambda c: -c.prior)[: self.reads]
        if not chosen:
            return
        logits = self.reader.logits(question, [c.pair for c in chosen])
        extra = {k: v for k, v in self.calibration.items() if k not in ("bias", "reader")}
        for c, logit in zip(chosen, logits, strict=True):
            z = self.calibration["bias"] + self.calibration["reader"] * float(logit)
            z += sum(w * c.features[name] for name, w in extra.items())
            c.score = float(_sigmoid(z))
            c.scored_by = self.name


class LanguageRoutedScorer:
    """The reader where it can read (an English question and an English sentence), the
    cross-lingual feature model elsewhere (a Spanish question, or a sentence in Spanish), on the
    reader's scale: the feature model's intercept is moved so that its own held-out threshold falls
    at the reader's (FeatureScorer.on_scale_of). `scored_by` says which scored each sentence."""

    def __init__(self, reader: ReaderScorer, other: FeatureScorer) -> None:
        self.reader = reader
        self.other = other.on_scale_of(reader.threshold)
        self.threshold = reader.threshold
        self.name = f"{reader.name}+{other.name}"

    def score(self, question: str, found: Sequence[Candidate]) -> None:
        english = language_of(question) == ENGLISH
        readable = [c for c in found if english and language_of(c.text) == ENGLISH]
        seen = {id(c) for c in readable}
        self.reader.score(question, readable)
        self.other.score(question, [c for c in found if id(c) not in seen])


class PostprocessorScorer:
    """A llama-index node postprocessor as a scorer: each candidate sentence becomes a node (its
    first-stage prior as the node's score); the score the postprocessor returns is the candidate's.
    Nodes it drops stay unscored. Give the threshold on the postprocessor's own scale."""

    def __init__(
        self, postprocessor: BaseNodePostprocessor, threshold: float, reads: int = 16, name: str | None = None
    ) -> None:
        self.postprocessor = postprocessor
        self.threshold = threshold
        self.reads = reads
        self.name = name or type(postprocessor).__name__

    def score(self, question: str, found: Sequence[Candidate]) -> None:
        from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

        chosen = sorted(found, key=lambda c: -c.prior)[: self.reads]
        nodes = [
            NodeWithScore(node=TextNode(text=c.text, id_=f"candidate-{i}"), score=c.prior)
            for i, c in enumerate(chosen)
        ]
        kept = self.postprocessor.postprocess_nodes(nodes, query_bundle=QueryBundle(question))
        scores = {n.node.node_id: n.score for n in kept}
        for i, c in enumerate(chosen):
            value = scores.get(f"candidate-{i}")
            if value is not None:
                c.score = float(value)
                c.scored_by = self.name
