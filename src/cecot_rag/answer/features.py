"""Features of (question, candidate sentence): similarities, term coverage, answer kind, conditions.

They feed the feature model (answer/scorers.py `FeatureScorer`), which is the answer path's first
stage and one of its scorers. Computed from the current question; the previous question's terms
count half in coverage when retrieval used the conversation.

- sentence, window, passage: cosine similarity of the question to the sentence, to the sentence
  with the one before it (normalised sum of their vectors), and to the passage;
- coverage: IDF-weighted share of the question's content terms in the sentence; window_coverage:
  the same over the sentence and its two neighbours;
- type_match / type_absent: the question asks when / how many / who / where and the sentence
  does / does not hold a date, amount or name it does not already state;
- condition_missing: how many of the numbers and names the question states the evidence lacks
  (at most 2);
- gap: the sentence's similarity minus the best candidate's (ranking within the question).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from cecot_rag.answer.candidates import Candidate
from cecot_rag.answer.question import missing_conditions, offers_type, read_question
from cecot_rag.embedding import Embedder
from cecot_rag.language import language_of
from cecot_rag.text import terms

FEATURES = (
    "sentence",
    "window",
    "passage",
    "coverage",
    "window_coverage",
    "type_match",
    "type_absent",
    "condition_missing",
    "gap",
)
# What a question and a sentence in two languages can share: no words, so no coverage.
CROSSLINGUAL_FEATURES = tuple(f for f in FEATURES if f not in ("coverage", "window_coverage"))
StoredVectors = Callable[[list[str], str], dict[str, np.ndarray]]


@lru_cache(maxsize=8192)  # sentences and windows recur across questions
def term_set(text: str) -> frozenset[str]:
    """Stems of text by the rules of its own language (language.language_of)."""
    return frozenset(terms(text, language_of(text)))


def term_weights(
    question: str, earlier: str | None, idf: Callable[[str], float]
) -> tuple[dict[str, float], dict[str, float]]:
    """IDF weights of the question's own terms, and of all terms (earlier question's at half weight)."""
    own = {t: idf(t) for t in term_set(question)}
    combined = dict(own)
    for term in term_set(earlier or ""):
        combined[term] = max(combined.get(term, 0.0), 0.5 * idf(term))
    return own, combined


def _share(weights: dict[str, float], present: frozenset[str]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in present) / total if total else 0.0


class FeatureExtractor:
    """Fills every candidate's features for one question."""

    def __init__(
        self, embedder: Embedder, idf: Callable[[str], float], stored: StoredVectors | None = None
    ) -> None:
        """stored(passage_ids, model name): sentence vectors saved at ingestion, if any."""
        self.embedder = embedder
        self.idf = idf
        self.stored = stored

    def fill(
        self,
        found: Sequence[Candidate],
        sentences_of: dict[str, list[str]],
        question: str,
        query_vector: np.ndarray,
        earlier: str | None = None,
    ) -> None:
        if not found:
            return
        vectors = self._vectors(sentences_of)
        _, combined = term_weights(question, earlier, self.idf)
        asked = read_question(question)
        pairs = []
        for c in found:
            vec = vectors[c.text]
            before = sentences_of[c.passage.id][c.index - 1] if c.previous else None
            window_vec = vec + vectors[before] if before is not None else vec
            window = float(window_vec @ query_vector) / max(float(np.linalg.norm(window_vec)), 1e-12)
            pairs.append((float(vec @ query_vector), window))
        best = max(s for s, _ in pairs)
        for c, (sentence_sim, window_sim) in zip(found, pairs, strict=True):
            in_window = term_set(c.window)
            has_type = asked.answer_type is not None
            offered = has_type and offers_type(asked, c.text, question)
            c.features = {
                "sentence": sentence_sim,
                "window": window_sim,
                "passage": c.passage.similarity or 0.0,
                "coverage": _share(combined, term_set(c.text)),
                "window_coverage": _share(combined, in_window),
                "type_match": float(offered),
                "type_absent": float(has_type and not offered),
                "condition_missing": float(min(2, len(missing_conditions(asked, c.window, c.passage.text)))),
                "gap": sentence_sim - best,
            }

    def _vectors(self, sentences_of: dict[str, list[str]]) -> dict[str, np.ndarray]:
        """Sentence text -> vector: stored at ingestion when they match the passage, else embedded now."""
        found: dict[str, np.ndarray] = {}
        if self.stored is not None:
            stored = self.stored(list(sentences_of), self.embedder.model_name)
            for passage_id, sentences in sentences_of.items():
                rows = stored.get(passage_id)
                if rows is not None and len(rows) == len(sentences):
                    found.update(zip(sentences, rows, strict=True))
        missing = [
            t for t in dict.fromkeys(s for texts in sentences_of.values() for s in texts) if t not in found
        ]
        if missing:
            found.update(zip(missing, self.embedder.embed_cached(missing), strict=True))
        return found
