"""Choosing the answer sentences from scored candidates: answer, near miss or abstention, and how many.

1. A sentence whose evidence lacks a condition the question states (a year, a country: see
   question.missing_conditions) is never an answer. The best of the others (by relevance) must
   reach the threshold with its evidence score (the answer-or-abstain model), else there is no
   answer. If the best sentence overall lacks a condition but would have reached the threshold,
   the result is a near miss: that sentence is shown as what the documents do say, with
   answered=False.
2. After the first sentence, others are added only when they answer a part it does not:
   - a list question ("Which presidents ...", "What are the conditions ...") takes the sentences
     that follow the first in the document while they still hold the asked kind of item (a name,
     an amount) or strong evidence: items of one list sit in adjacent sentences;
   - a comparison ("How do A and B compare?") is answered by the best sentence about each
     subject, each with at least COMPARE_SHARE of the threshold; when a subject has none, the
     question is answered (or not) like any other;
   - any other question takes a sentence above the threshold, at least half as relevant as the
     first, only if it holds question terms the chosen sentences lack, names of the question's
     subject aside (no padding about another subject).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cecot_rag.answer.question import Asked, lacks_type, mentions
from cecot_rag.answer.scoring import Candidate, evidence_score
from cecot_rag.text import terms

# A list continues into an adjacent sentence holding the asked kind of item when its evidence is at
# least this share of the threshold; without an asked item type it must reach the threshold itself.
LIST_ITEM_SHARE = 0.25
LIST_STARTS = 6  # list blocks tried: from the best sentences that may start one
COMPARE_SHARE = 0.5  # each compared subject's sentence needs this share of the threshold
# A further sentence for a plain question needs at least this share of the first one's relevance.
KEEP_RATIO = 0.5


@dataclass
class Choice:
    chosen: list[Candidate]
    answered: bool
    missing: list[str]  # a near miss: the question's conditions the documents do not state
    # The evidence score compared with the threshold: the best eligible sentence's, else the best
    # sentence's (None without any); evaluation rows show it so thresholds can be tuned.
    evidence: float | None = None


def choose(
    scored: Sequence[Candidate],
    asked: Asked,
    question_terms: set[str],
    threshold: float,
    max_sentences: int,
) -> Choice:
    """The sentences to quote (scored is best first)."""
    eligible = [c for c in scored if not c.missing and not lacks_type(asked, c.features)]
    choice = _choose(scored, eligible, asked, question_terms, threshold, max_sentences)
    best = eligible[0] if eligible else (scored[0] if scored else None)
    choice.evidence = None if best is None else round(evidence_score(best), 6)
    return choice


def _choose(
    scored: Sequence[Candidate],
    eligible: list[Candidate],
    asked: Asked,
    question_terms: set[str],
    threshold: float,
    max_sentences: int,
) -> Choice:
    if asked.answer_type == "author" and eligible:
        # Only a sentence naming the text's author is left; its wording shares nothing with
        # "Who wrote this?", so its evidence score says little: it is the answer.
        return Choice(eligible[:1], True, [])
    if asked.compared:
        picked = _cover_subjects(eligible, asked, threshold, max_sentences)
        if len(picked) == len(asked.compared):  # every subject has its sentence
            return Choice(picked, True, [])
    if asked.wants_list and asked.answer_type and eligible:
        # Several adjacent sentences naming an asked item answer together: their evidence adds up.
        block = _best_block(eligible, threshold, max_sentences)
        if len(block) > 1 and sum(evidence_score(c) for c in block) >= threshold:
            return Choice(block, True, [])
    if not eligible or evidence_score(eligible[0]) < threshold:
        top = scored[0] if scored else None
        if top is not None and top.missing and evidence_score(top) >= threshold:
            return Choice([top], False, top.missing)
        return Choice([], False, [])
    chosen = [eligible[0]]
    scored = eligible
    if asked.wants_list:
        _continue_list(chosen, scored, asked, threshold, max_sentences)
    else:
        # A name the question states is its subject, not a part of what it asks: a sentence adding
        # only the subject's name ("CECOT") answers nothing new.
        subject = {t for kind, value in asked.conditions if kind == "name" for t in terms(value)}
        _complete(chosen, scored, question_terms - subject, threshold, max_sentences)
    return Choice(chosen, True, [])


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
    """Grow the answer into a block of adjacent sentences that continue the list.

    With an asked item type the block with the most evidence in item sentences wins (see
    _best_block). An explicit enumeration without one ("What are the conditions ...?") may be
    spread over sentences none of which is the best alone: blocks start at the best sentences that
    reach the threshold, grow by neighbours that reach it too, and the one with the most evidence
    in all wins. Otherwise the block grows from the best sentence.
    """
    ordered = sorted({_position(c): c for c in scored}.values(), key=_position)
    if asked.answer_type:
        block = _block(chosen[0], ordered, threshold, limit)
        typed = _best_block(scored, threshold, limit)
        if _item_evidence(typed) > _item_evidence(block):
            block = typed
    elif not asked.enumerates:  # "Which gangs ...?": the best sentence and what continues it
        block = _block(chosen[0], ordered, threshold, limit)
    else:
        starts = [c for c in scored[:LIST_STARTS] if evidence_score(c) >= threshold] or [chosen[0]]
        blocks = [_block(start, ordered, threshold, limit) for start in starts]
        block = max(blocks, key=lambda b: sum(evidence_score(c) for c in b))
    # The block's best evidence first; the rest follow in document order.
    first = max(block, key=evidence_score)
    chosen[:] = [first, *sorted((c for c in block if c is not first), key=_position)]


def _item_evidence(block: list[Candidate]) -> float:
    return sum(evidence_score(c) for c in block if c.features["type_match"] > 0)


def _best_block(scored: Sequence[Candidate], threshold: float, limit: int) -> list[Candidate]:
    """The items of a list sit in adjacent sentences: of the blocks starting at the best sentences
    holding an asked item (a name, an amount), the one with the most evidence in such sentences."""
    ordered = sorted({_position(c): c for c in scored}.values(), key=_position)
    starts = [
        c for c in scored if c.features["type_match"] > 0 and evidence_score(c) >= LIST_ITEM_SHARE * threshold
    ]
    blocks = [_block(start, ordered, threshold, limit) for start in starts[:LIST_STARTS]]
    return max(blocks, key=_item_evidence, default=[])


def _block(start: Candidate, ordered: list[Candidate], threshold: float, limit: int) -> list[Candidate]:
    """start and the adjacent sentences after it, then before it, that continue the list."""
    block = [start]
    at = next(i for i, c in enumerate(ordered) if _position(c) == _position(start))
    for step in (1, -1):
        edge, index = start, at + step
        while len(block) < limit and 0 <= index < len(ordered):
            neighbour = ordered[index]
            if not _adjacent(edge, neighbour) or not _continues(neighbour, threshold):
                break
            block.append(neighbour)
            edge, index = neighbour, index + step
    return block


def _adjacent(a: Candidate, b: Candidate) -> bool:
    """Consecutive sentences of one document: nothing but whitespace between them (a heading or a
    skipped line ends a list)."""
    if a.passage.document_id != b.passage.document_id:
        return False
    first, second = sorted((a, b), key=_position)
    return second.passage.start_char + second.start - (first.passage.start_char + first.end) <= 2


def _continues(c: Candidate, threshold: float) -> bool:
    """A neighbour belongs to the list when it holds the asked kind of item with some evidence,
    or is strong evidence itself."""
    if c.missing:
        return False
    evidence = evidence_score(c)
    item = c.features["type_match"] > 0 and evidence >= LIST_ITEM_SHARE * threshold
    return item or evidence >= threshold


def _cover_subjects(
    scored: Sequence[Candidate], asked: Asked, threshold: float, limit: int
) -> list[Candidate]:
    """One sentence per compared subject: the best about each with enough evidence."""
    picked: list[Candidate] = []
    for subject in asked.compared:
        if len(picked) >= limit or any(mentions(subject, c.text) for c in picked):
            continue
        best = next(
            (
                c
                for c in scored
                if mentions(subject, c.text)
                and evidence_score(c) >= COMPARE_SHARE * threshold
                and not any(_overlaps(c, o) for o in picked)
            ),
            None,
        )
        if best is not None:
            picked.append(best)
    return picked


def _complete(
    chosen: list[Candidate],
    scored: Sequence[Candidate],
    question_terms: set[str],
    threshold: float,
    limit: int,
) -> None:
    covered = set(terms(chosen[0].text)) & question_terms
    for candidate in scored[1:]:
        if len(chosen) >= limit or candidate.score < KEEP_RATIO * chosen[0].score:
            break
        new = (set(terms(candidate.text)) & question_terms) - covered
        if not new or any(_overlaps(candidate, c) for c in chosen) or evidence_score(candidate) < threshold:
            continue
        chosen.append(candidate)
        covered |= new
