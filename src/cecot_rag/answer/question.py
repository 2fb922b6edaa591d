"""What a question asks for, read from its words: the answer type, its conditions, list or comparison.

Used by the extractive answerer's scoring (answer/scoring.py) and sentence choice
(answer/select.py). Everything here is a general reading of English question forms; nothing
names a document or a particular question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from cecot_rag.stopwords import STOPWORDS
from cecot_rag.text import has_date, has_quantity, names, numbers, stem_prefix, words

_TYPES = [
    (
        "money",
        re.compile(
            r"\bhow\s+much\b[^?]*\b(cost|costs|spend|spent|pay|paid|price|worth|invest\w*|fund\w*)\b"
            r"|\bhow\s+much\s+money\b|\bwhat\s+(is|was|were|are)\s+the\s+(total\s+)?(cost|price|budget)\b",
            re.I,
        ),
    ),
    (
        "author",
        re.compile(
            r"\bwho\s+(wrote|writes|authored)\b|\b(author|writer)\s+of\b|^\W*who\s+is\s+the\s+(author|writer)\b",
            re.I,
        ),
    ),
    # "When was/did ...?" asks for a time; "When can/does ...?" usually for a circumstance.
    (
        "time",
        re.compile(
            r"^\W*(in\s+)?(when\s+(was|were|did|had|will)|what\s+year|which\s+year|what\s+date|since\s+when)\b",
            re.I,
        ),
    ),
    (
        "number",
        re.compile(
            r"\bhow\s+(many|much|large|big|long|old|often)\b|\bwhat\s+(number|percentage|share|proportion"
            r"|rate|capacity|amount|size|figure)\b|\bwhich\s+number\b"
            r"|\bwhat\s+(is|was|are|were)\s+(the\s+)?([\w'’-]+\s+){0,3}?(number|percentage|share|proportion"
            r"|rate|capacity|amount|size|figure|population|cost|budget|total)\b",
            re.I,
        ),
    ),
    (
        "person",
        re.compile(
            r"^\W*(who|whom|whose)\b|^\W*(name|list)\b.*\b(officials?|leaders?|presidents?|politicians?)\b"
            r"|\b(which|what)\s+(\w+\s+){0,2}?(presidents?|leaders?|politicians?|ministers?"
            r"|mayors?|persons?|people|authors?|officials?)\b",
            re.I,
        ),
    ),
    (
        "place",
        re.compile(
            r"^\W*where\b|\b(which|what)\s+(\w+\s+){0,2}?(countries|country|city|cities|places?)\b", re.I
        ),
    ),
]
# "Which presidents ...", "What are the conditions ...", "Name the ...": several items are wanted.
_AUXILIARY = r"(?:is|was|has|does|are|were|do|did|have|had|can|will|would|should)\b"
_LIST = re.compile(
    rf"\b(which|what)\s+(?!{_AUXILIARY})(\w+\s+){{0,2}}?(?!{_AUXILIARY})\w+(s|ies|people)\b"
    rf"|\bwhat\s+(are|were)\s+(the\s+)?\w+s\b|^\W*(name|list)\b",
    re.I,
)
# An explicit enumeration: "What are the conditions ...?", "List ...", "Name ...".
_ENUMERATION = re.compile(r"\bwhat\s+(are|were)\s+(the\s+)?\w+s\b|^\W*(name|list)\b", re.I)
_COMPARE = [
    re.compile(r"\bhow\s+(?:do|does|did)\s+(.+?)\s+and\s+(.+?)\s+(?:compare|differ)", re.I),
    re.compile(r"\bhow\s+(?:do|does|did)\s+(.+?)\s+(?:compare|differ)\s+(?:with|to|from)\s+(.+?)\W*$", re.I),
    re.compile(r"\b(?:difference|differences)\s+between\s+(.+?)\s+and\s+(.+?)\W*$", re.I),
    re.compile(r"\bcompare\s+(.+?)\s+(?:and|with|to)\s+(.+?)\W*$", re.I),
]
# A title tied to a name ("Costa Rica's president", "the Colombian president") is a condition: a
# security minister is not a president. A generic title ("leader") accepts any specific one; a
# plural ("Latin American leaders") names a class, not a condition.
_TITLE = re.compile(
    r"[A-Z][\w]*(?:['’]s)?\s+(president|mayor|minister|governor|senator|king|queen|judge|leader|official)\b(?!s)"
)
_TITLES = ("president", "mayor", "minister", "governor", "senator", "king", "queen", "judge")
_GENERIC_TITLES = ("leader", "official")
# How a text names its own author: "In this article, Elizabeth García examines ...", "written by ...".
_AUTHORSHIP = re.compile(  # case-sensitive: the name must be capitalised ("By the time" is no byline)
    r"\b[Ii]n\s+this\s+(article|post|report|paper|piece|essay|blog),?\s+[A-Z]\w+"
    r"|\b(written|authored)\s+by\s+[A-Z]\w+|^\W*[Bb]y\s+[A-Z]\w+\s+[A-Z]\w+"
)
_MONEY = re.compile(
    r"[$€£]\s?\d|\b\d[\d,.]*\s*(dollars?|euros?|pesos?|usd|colones)\b|\b(usd|us\$)\s?\d", re.I
)
_ASKS_OFFICIALS = re.compile(
    r"\b(presidents|leaders|politicians|ministers|mayors|officials?|governors)\b", re.I
)
_TITLED_NAME = re.compile(
    r"\b(President|Mayor|Minister|Governor|Senator|King|Queen|Judge|Chancellor)\b[,\s]+(?:[a-z]+\s+)?[A-Z]\w+"
)
# "today", "now", "currently": the question asks for the present, which a dated figure is not.
_PRESENT = re.compile(r"\b(today|now|currently|current|at present|these days|still|so far|to date)\b", re.I)
_YES_NO = re.compile(r"^\W*(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should)\b", re.I)


@dataclass(frozen=True)
class Asked:
    """The parts of a question the answer must meet."""

    answer_type: str | None  # "money", "author", "time", "number", "person", "place" or None
    # What the question states that the answer must share: numbers and names (kind "number" and
    # "name"), a title tied to a name ("title"), the present ("now").
    conditions: tuple[tuple[str, str], ...]
    wants_list: bool
    enumerates: bool  # an explicit enumeration ("What are the conditions ...?", "List ...")
    compared: tuple[str, ...]  # the two subjects of "How do A and B compare?"
    yes_no: bool


def read_question(text: str) -> Asked:
    answer_type = next((name for name, pattern in _TYPES if pattern.search(text)), None)
    conditions = [("number", n) for n in numbers(text)]
    for name in names(text):
        if any(len(w) > 2 and w not in STOPWORDS for w in _plain_words(name)):
            conditions.append(("name", name))
    conditions += [("title", m.group(1).lower()) for m in _TITLE.finditer(text)]
    present = _PRESENT.search(text)
    if present:
        conditions.append(("now", present.group(1)))
    compared: tuple[str, ...] = ()
    for pattern in _COMPARE:
        match = pattern.search(text)
        if match:
            # A subject is known by its names when it has any ("Ecuador's prison plans": Ecuador).
            compared = tuple((names(f"The {g}") or [g])[0] for g in match.groups())
            break
    if compared:
        # Each subject of a comparison is a condition for its own sentence only (select.py
        # covers both), not for every sentence of the answer.
        conditions = [c for c in conditions if not any(c[1] in subject for subject in compared)]
    return Asked(
        answer_type=answer_type,
        conditions=tuple(dict.fromkeys(conditions)),
        wants_list=bool(_LIST.search(text)) or bool(compared),
        enumerates=bool(_ENUMERATION.search(text)),
        compared=compared,
        yes_no=bool(_YES_NO.search(text)),
    )


@lru_cache(maxsize=8192)  # candidate sentences recur across questions
def _names(sentence: str) -> tuple[str, ...]:
    return tuple(names(sentence))


@lru_cache(maxsize=8192)
def _plain_words(text: str) -> tuple[str, ...]:
    """Folded words without a possessive ending: "Ecuador's" -> "ecuador"."""
    return tuple(w.removesuffix("'s") for w in words(text))


@lru_cache(maxsize=8192)  # passages and windows recur across candidates and questions
def _prefixes(text: str) -> frozenset[str]:
    return frozenset({stem_prefix(w) if len(w) >= 6 else w for w in _plain_words(text)})


def mentions(name: str, text: str) -> bool:
    """Whether text states a name or number: the same number, or a significant word of the name.

    Names match on their first six letters, so "Honduran" finds "Honduras".
    """
    if name.replace(".", "").isdigit():
        return name in numbers(text)
    present = _prefixes(text)
    significant = [w for w in _plain_words(name) if len(w) > 2 and w not in STOPWORDS]
    return any((stem_prefix(w) if len(w) >= 6 else w) in present for w in significant)


def _states(kind: str, value: str, sentence: str, window: str, passage: str) -> bool:
    if kind == "number":  # a year or a count: in the sentence or its neighbours
        return mentions(value, window)
    if kind == "name":  # a country or a person: anywhere in the passage, usually about one subject
        return mentions(value, passage)
    if kind == "title":  # in the sentence itself, next to the name it belongs to
        found = {w.rstrip("s") for w in words(sentence)}
        return (value in found) if value in _TITLES else bool(found & set(_TITLES + _GENERIC_TITLES))
    return bool(_PRESENT.search(sentence))  # "now": the sentence itself speaks of the present


def missing_conditions(asked: Asked, sentence: str, window: str, passage: str) -> list[str]:
    """The question's conditions the evidence does not state (as the question words them)."""
    return [value for kind, value in asked.conditions if not _states(kind, value, sentence, window, passage)]


def offers_type(asked: Asked, sentence: str, question: str) -> bool:
    """Whether the sentence holds something of the asked type that the question does not already say."""
    if asked.answer_type == "author":
        return bool(_AUTHORSHIP.search(sentence))
    if asked.answer_type == "money":
        return bool(_MONEY.search(sentence))
    if asked.answer_type == "time":
        return has_date(sentence) and not numbers(sentence) <= numbers(question)
    if asked.answer_type == "number":
        own = numbers(sentence) - numbers(question)
        return bool(own) or (has_quantity(sentence) and not numbers(sentence))
    if asked.answer_type == "person" and _ASKS_OFFICIALS.search(question):
        # "Which presidents / leaders / officials": a name that comes with a title.
        return bool(_TITLED_NAME.search(sentence))
    if asked.answer_type in ("person", "place"):
        # A name sharing no word with the question ("Nayib Bukele" is not new when Bukele is asked about).
        asked_words = _prefixes(question)
        return any(not (_prefixes(n) & asked_words) for n in _names(sentence))
    return False


def lacks_type(asked: Asked, candidate_features: dict[str, float]) -> bool:
    """A date, an amount or an author asked for and absent: such a sentence is not an answer
    ("What is the capacity of X?" is not answered by a sentence about X without a number)."""
    return (
        asked.answer_type in ("money", "time", "number", "author") and candidate_features["type_absent"] > 0
    )
