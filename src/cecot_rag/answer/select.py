"""Choosing the answer sentences from scored candidates: answer, near miss or abstention, and how many.

1. The best candidate must reach the threshold, else there is no answer. If a candidate would have
   reached it but for a condition of the question its window lacks (a year, a country), the result
   is a near miss: that sentence is shown as what the documents do say, with answered=False.
2. After the first sentence, others are added only when they answer a part it does not:
   - a list question ("Which presidents ...", "What are the conditions ...") takes the sentences
     that follow the first in the document while they still hold the asked kind of item (a name,
     an amount) or strong evidence: items of one list sit in adjacent sentences;
   - a comparison ("How do A and B compare?") takes the best sentence about each subject the
     chosen ones do not yet mention;
   - any other question takes a sentence above the threshold only if it holds question terms the
     chosen sentences lack (no padding about another subject).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cecot_rag.answer.question import Asked, mentions
from cecot_rag.answer.scoring import Candidate, evidence_score
from cecot_rag.text import terms

# A list continues into a following sentence holding the asked item when its evidence is at least
# this share of the threshold; without an asked item type it must reach the threshold itself.
LIST_SHARE = 0.5
COMPARE_SHARE = 0.5  # a comparison's second subject needs this share of the threshold


@dataclass
class Choice:
    chosen: list[Candidate]
    answered: bool
    missing: list[str]  # a near miss: the question's conditions the documents do not state


def choose(
    scored: Sequence[Candidate],
    asked: Asked,
    question_terms: set[str],
    threshold: float,
    max_sentences: int,
) -> Choice:
    """The sentences to quote (scored is best first)."""
    if not scored:
        return Choice([], False, [])
    best = scored[0]
    if best.score < threshold:
        return _near_miss(scored, threshold)
    chosen = [best]
    if asked.compared:
        _cover_subjects(chosen, scored, asked, threshold, max_sentences)
    elif asked.wants_list:
        _continue_list(chosen, scored, asked, threshold, max_sentences)
    else:
        _complete(chosen, scored, question_terms, threshold, max_sentences)
    return Choice(chosen, True, [])


def _near_miss(scored: Sequence[Candidate], threshold: float) -> Choice:
    for candidate in scored:
        without_condition = {**candidate.features, "condition_missing": 0.0}
        if candidate.missing and evidence_score(without_condition) >= threshold:
            return Choice([candidate], False, candidate.missing)
    return Choice([], False, [])


def _position(c: Candidate) -> tuple[str, int]:
    return c.passage.document_id, c.passage.start_char + c.start


def _overlaps(a: Candidate, b: Candidate) -> bool:
    return a.text == b.text or (
        a.passage.document_id == b.passage.document_id
        and a.passage.start_char + a.start < b.passage.start_char + b.end
        and b.passage.start_char + b.start < a.passage.start_char + a.end
    )


def _continue_list(
    chosen: list[Candidate], scored: Sequence[Candidate], asked: Asked, threshold: float, limit: int
) -> None:
    """Add the sentences right after the first (in document order) while they continue the list."""
    ordered = sorted({_position(c): c for c in scored}.values(), key=_position)
    at = next(i for i, c in enumerate(ordered) if _position(c) == _position(chosen[0]))
    for following in ordered[at + 1 :]:
        if len(chosen) >= limit or following.passage.document_id != chosen[0].passage.document_id:
            break
        # Adjacent: nothing but whitespace or a skipped line (a heading ends the list) between them.
        last = chosen[-1]
        if following.passage.start_char + following.start - (last.passage.start_char + last.end) > 2:
            break
        item = following.features["type_match"] > 0
        if (
            not ((item and following.score >= LIST_SHARE * threshold) or following.score >= threshold)
            or following.missing
        ):
            break
        chosen.append(following)


def _cover_subjects(
    chosen: list[Candidate], scored: Sequence[Candidate], asked: Asked, threshold: float, limit: int
) -> None:
    for subject in asked.compared:
        if len(chosen) >= limit or any(mentions(subject, c.text) for c in chosen):
            continue
        extra = next(
            (
                c
                for c in scored
                if c.score >= COMPARE_SHARE * threshold
                and mentions(subject, c.text)
                and not any(_overlaps(c, o) for o in chosen)
            ),
            None,
        )
        if extra is not None:
            chosen.append(extra)


def _complete(
    chosen: list[Candidate],
    scored: Sequence[Candidate],
    question_terms: set[str],
    threshold: float,
    limit: int,
) -> None:
    covered = set(terms(chosen[0].text)) & question_terms
    for candidate in scored[1:]:
        if len(chosen) >= limit or candidate.score < threshold:
            break
        new = (set(terms(candidate.text)) & question_terms) - covered
        if not new or candidate.missing or any(_overlaps(candidate, c) for c in chosen):
            continue
        chosen.append(candidate)
        covered |= new
