"""Selection and the one abstention decision: which scored sentences are quoted, if any.

One rule for every kind of question (facts, lists, comparisons, authorship): the best-scored
sentence decides. If its score reaches the scorer's threshold the question is answered with it.
Up to `max_sentences - 1` further sentences are quoted, best first, each only when it is itself
more likely than not to answer the question (score at least EXTRA_SENTENCE_SCORE, and the
threshold): a list's items or a comparison's sides are separate sentences that each answer it,
while a sentence that merely clears the abstention threshold is padding. The threshold is low
on purpose (it decides whether there is an answer at all, and the best sentence of an answerable
question often scores far below certainty); the bar for a second quote is about precision. A
sentence already quoted (same text, e.g. a duplicate document) is not quoted twice. Below the
threshold nothing is quoted. `Decision.score` is the best sentence's score either way, so
`answered == (score >= threshold)` always holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cecot_rag.answer.candidates import Candidate
from cecot_rag.models import STRONG_EVIDENCE, Decision

# Scores are calibrated probabilities that the sentence supports an answer: a further quote must
# be more likely right than wrong. Fixed by that meaning, not tuned on any set.
EXTRA_SENTENCE_SCORE = STRONG_EVIDENCE


@dataclass
class Selection:
    chosen: list[Candidate]  # best first; empty when abstaining
    decision: Decision

    @property
    def answered(self) -> bool:
        return bool(self.chosen)


def select(
    found: Sequence[Candidate], scorer: str, threshold: float, max_sentences: int, retrieved: bool = True
) -> Selection:
    """The sentences to quote and the decision (found: every candidate of the retrieved passages)."""
    if not retrieved:
        return Selection([], Decision(stage="retrieval", score=0.0, threshold=threshold, scorer=scorer))
    ranked = sorted((c for c in found if c.scored_by), key=lambda c: -c.score)
    if not ranked:
        return Selection([], Decision(stage="candidates", score=0.0, threshold=threshold, scorer=scorer))
    best = ranked[0]
    decision = Decision(stage=best.scored_by, score=best.score, threshold=threshold, scorer=scorer)
    if not decision.answers:
        return Selection([], decision)
    chosen = [best]
    for candidate in ranked[1:]:
        if len(chosen) >= max_sentences or candidate.score < max(threshold, EXTRA_SENTENCE_SCORE):
            break
        if any(candidate.text == c.text for c in chosen):
            continue
        chosen.append(candidate)
    return Selection(chosen, decision)
