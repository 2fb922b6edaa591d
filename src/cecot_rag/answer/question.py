"""What a question asks for, read from its form: the kind of answer and the conditions it states.

Only general question forms: "when / what year" asks for a time, "how many / how much / what
percentage" for an amount, "who" for a person, "where" for a place (in Spanish the same from
cuándo, cuánto, quién, dónde: language.question_type_es); the numbers and capitalised names a
question states are conditions the evidence should share. These are inputs of the feature
model (answer/features.py), which is fitted on the SQuAD training articles; the reader learns the
rest from data. Nothing here names a document or a particular question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from cecot_rag.language import ENGLISH, language_of, question_type_es
from cecot_rag.stopwords import STOPWORDS
from cecot_rag.text import has_date, has_quantity, names, numbers, terms, words

_TYPES = [
    ("time", re.compile(r"^\W*(in\s+)?(when|what\s+year|which\s+year|what\s+date|since\s+when)\b", re.I)),
    (
        "number",
        re.compile(
            r"\bhow\s+(many|much|large|big|long|old|often)\b|\bwhat\s+(number|percentage|share|proportion"
            r"|rate|amount|size|figure)\b",
            re.I,
        ),
    ),
    ("person", re.compile(r"^\W*(who|whom|whose)\b", re.I)),
    ("place", re.compile(r"^\W*where\b", re.I)),
]


@dataclass(frozen=True)
class Asked:
    """The kind of answer a question wants and the conditions it states."""

    answer_type: str | None  # "time", "number", "person", "place" or None
    conditions: tuple[tuple[str, str], ...]  # ("number", "2023") and ("name", "Honduras")


@lru_cache(maxsize=4096)
def read_question(text: str) -> Asked:
    if language_of(text) == ENGLISH:
        answer_type = next((name for name, pattern in _TYPES if pattern.search(text)), None)
    else:
        answer_type = question_type_es(text)
    conditions = [("number", n) for n in sorted(numbers(text))]
    for name in names(text):
        if any(len(w) > 2 and w not in STOPWORDS for w in words(name)):
            conditions.append(("name", name))
    return Asked(answer_type, tuple(dict.fromkeys(conditions)))


@lru_cache(maxsize=8192)  # passages and windows recur across candidates and questions
def _term_set(text: str) -> frozenset[str]:
    """Stems of text by its own language's rules (a name stems alike in both languages mostly)."""
    return frozenset(terms(text, language_of(text)))


def mentions(value: str, text: str) -> bool:
    """Whether text states a number or a name: the same number, or a content word of the name."""
    if value.replace(".", "").isdigit():
        return value in numbers(text)
    return bool(_term_set(value) & _term_set(text))


def missing_conditions(asked: Asked, window: str, passage: str) -> list[str]:
    """The question's conditions the evidence does not state: a number must be in the sentence or
    its neighbours, a name anywhere in the passage (usually about one subject)."""
    return [
        value
        for kind, value in asked.conditions
        if not mentions(value, window if kind == "number" else passage)
    ]


def offers_type(asked: Asked, sentence: str, question: str) -> bool:
    """Whether the sentence holds something of the asked kind that the question does not already say."""
    if asked.answer_type == "time":
        return has_date(sentence) and not numbers(sentence) <= numbers(question)
    if asked.answer_type == "number":
        return bool(numbers(sentence) - numbers(question)) or (
            has_quantity(sentence) and not numbers(sentence)
        )
    if asked.answer_type in ("person", "place"):
        asked_terms = _term_set(question)
        return any(not (_term_set(n) & asked_terms) for n in names(sentence))
    return False
