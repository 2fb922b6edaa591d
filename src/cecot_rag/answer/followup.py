"""Follow-up questions: whether a question depends on the conversation, decided by form, then evidence.

A question asked after others has two readings: standalone (its own words) and joined (the
previous user question followed by it). By form:

1. An elliptical question ("And in Honduras?", "What about Guatemala?", "Same for Peru?") only
   makes sense with the previous one: joined, and scored joined; what it names is what changes
   ("Honduras"), so a quoted sentence must name it too (the joined text would otherwise let a
   sentence answering the previous question, about Ecuador, win). One with a personal pronoun ("How
   many inmates will it hold?") is retrieved joined (the referent is in the previous question) and
   scored as asked (it says what it asks).
2. A question that does not look dependent stands on its own.
3. A question that looks dependent (six words or fewer, or a demonstrative such as "this",
   "those") is undecided by form: the answer path (answer/path.py) retrieves and scores both
   readings, once each, and keeps the joined one when its evidence is higher or the question is
   not answered on its own. A self-contained question the documents do not answer must not
   inherit the old topic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cecot_rag.text import terms

SHORT_QUESTION_WORDS = 6

_ELLIPTICAL = re.compile(
    r"^\W*(and|but|also|what\s+about|how\s+about|and\s+what|same|then|what\s+of)\b", re.IGNORECASE
)
# A personal pronoun ("How many inmates will it hold?", "What did he promise?") points back into
# the conversation; a demonstrative ("this article") often points at the documents instead.
_PERSONAL = re.compile(r"\b(it|its|they|them|their|he|she|his|her|him)\b", re.IGNORECASE)
_DEMONSTRATIVE = re.compile(r"\b(there|that|this|those|these)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Reading:
    query: str  # the text to retrieve with
    joined: bool
    asks: str = ""  # the text the scorer reads, when not the query
    # An elliptical follow-up's own content terms (text.terms): a quoted sentence names one of them.
    names: tuple[str, ...] = ()

    @property
    def scored(self) -> str:
        return self.asks or self.query


def readings(question: str, history: Sequence[dict[str, str]] | None) -> tuple[Reading, Reading | None]:
    """The standalone reading, and the joined one when there is a previous user question."""
    previous = [t.get("content", "") for t in history or [] if t.get("role") == "user"]
    joined = Reading(f"{previous[-1]} {question}", True) if previous else None
    return Reading(question, False), joined


def looks_dependent(question: str) -> bool:
    return len(question.split()) <= SHORT_QUESTION_WORDS or bool(_DEMONSTRATIVE.search(question))


def by_form(question: str, history: Sequence[dict[str, str]] | None) -> Reading | None:
    """The reading decided on form alone, or None when both readings must be scored."""
    standalone, joined = readings(question, history)
    if joined is None:
        return standalone
    if _ELLIPTICAL.search(question):
        return Reading(joined.query, True, names=tuple(terms(question)))
    if _PERSONAL.search(question):
        # The question says what it asks; only its referent is in the conversation: retrieval needs
        # the previous question, the scorer reads the question itself (read whole, the joined text
        # would let a sentence answering the previous question win).
        return Reading(joined.query, True, question)
    if not looks_dependent(question):
        return standalone
    return None


def retrieval_query(question: str, history: Sequence[dict[str, str]] | None) -> str:
    """The reading decided on form alone, the joined one when undecided: for answerers that
    cannot score sentences."""
    reading = by_form(question, history)
    if reading is None:
        reading = readings(question, history)[1] or readings(question, history)[0]
    return reading.query
