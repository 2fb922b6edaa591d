"""Which language a question or a passage is in (English or Spanish), and Spanish question words.

Detection counts function words: a word on one language's stop list and not on the other's is a
vote for it, and "¿" or "¡" a vote for Spanish. It decides only on clear evidence (at least two
votes and twice the other language's), else answers None and the caller keeps its default, so
English text never changes its reading on a doubt. A library model (langid, lingua) would tell a
hundred languages apart; here two are enough, and counting costs microseconds with no model to
load. Measured on 3,000 real English/Spanish message pairs and on the bundled article and its
evaluation questions (README, "Languages and embedding models").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from cecot_rag.stopwords import STOPWORDS, stop_words
from cecot_rag.text import content_words, fold, stem_words

ENGLISH, SPANISH = "en", "es"
LANGUAGES = (ENGLISH, SPANISH)
MIN_VOTES = 2  # a single word ("de", "El Salvador") is a name as often as a language


# Words of two letters or more, as written: lower-casing and one regular expression cost a tenth
# of folding accents character by character (text.fold), and the votes hold both spellings.
_WORDS = re.compile(r"[^\W\d_]{2,}")


@lru_cache(maxsize=1)
def _votes() -> tuple[frozenset[str], frozenset[str]]:
    """(English-only, Spanish-only) function words, Spanish with and without its accents ('qué' and
    'que'). Single letters do not vote: stopwords-iso lists each as Spanish, and "%s" in English
    text voted for Spanish."""
    listed = {w for w in stop_words(SPANISH) if len(w) > 1}
    spanish = frozenset(listed | {fold(w) for w in listed})
    english = frozenset(w for w in STOPWORDS if len(w) > 1)
    return english - spanish, spanish - english


def detect_language(text: str) -> str | None:
    """The language ("en" or "es") when the text says so clearly, else None (too short, mixed, or
    neither)."""
    english_only, spanish_only = _votes()
    tokens = _WORDS.findall(text.lower())
    english = sum(map(english_only.__contains__, tokens))
    spanish = sum(map(spanish_only.__contains__, tokens)) + text.count("¿") + text.count("¡")
    if spanish >= MIN_VOTES and spanish >= 2 * english:
        return SPANISH
    if english >= MIN_VOTES and english >= 2 * spanish:
        return ENGLISH
    return None


def language_of(text: str, default: str = ENGLISH) -> str:
    """The detected language of text, or default when detection is not sure."""
    return detect_language(text) or default


def search_terms(text: str, languages: Iterable[str]) -> list[str]:
    """Lexical query terms for an index holding passages in these languages.

    The question's content words (its own language's stop words dropped) stemmed by its own
    language, then by each other language present: a name or a cognate is stemmed differently
    in each ('Honduras' is 'hondura' in English text, 'hondur' in Spanish), and a question must
    match it in either. With only its own language present these are exactly terms(text, own).
    """
    own = language_of(text)
    tokens = content_words(text, own)
    found = dict.fromkeys(stem_words(tokens, own))
    for other in sorted(set(languages) - {own}):
        found.update(dict.fromkeys(stem_words(tokens, other)))
    return list(found)


# -- Spanish question words -------------------------------------------------------------------
# The interrogatives and what each asks for, in the answer types of answer/question.py (money,
# time, number, person, place); None: no particular type (a reason, a manner, a thing).
QUESTION_WORDS_ES: dict[str, str | None] = {
    "cuánto": "number",
    "cuántos": "number",
    "cuánta": "number",
    "cuántas": "number",
    "quién": "person",
    "quiénes": "person",
    "cuándo": "time",
    "dónde": "place",
    "adónde": "place",
    "por qué": None,
    "qué": None,
    "cuál": None,
    "cuáles": None,
    "cómo": None,
}
# Matched accents folded ("cuantos" typed without its accent is "cuántos"), longest first.
_INTERROGATIVE = re.compile(
    r"\b(" + "|".join(sorted((re.escape(fold(w)) for w in QUESTION_WORDS_ES), key=len, reverse=True)) + r")\b"
)
_TYPE_OF_WORD = {fold(w): kind for w, kind in QUESTION_WORDS_ES.items()}

# Phrases that decide before the interrogative does, as answer/question.py reads English ones:
# "¿En qué año?" asks for a time, "¿Qué porcentaje?" for a number.
_PHRASES_ES = [
    ("time", re.compile(r"\b(que|cual)\s+(ano|fecha|mes|dia|decada)\b")),
    ("number", re.compile(r"\b(que|cual)\s+(numero|porcentaje|proporcion|tasa|cantidad|tamano|cifra)\b")),
]


def question_type_es(text: str) -> str | None:
    """The answer type a Spanish question asks for ("time", "number", "person", "place"), as
    answer/question.py reads English ones; None for any other question.

    A phrase decides first ("¿En qué año?": time); else the first
    interrogative of the question, read from its last "¿" on when it has one, so a clause before
    it ("Cuando abrió, ¿cuántos presos había?") does not count."""
    folded = fold(text)
    question = folded[folded.rfind("¿") + 1 :]
    for name, pattern in _PHRASES_ES:
        if pattern.search(question):
            return name
    word = _INTERROGATIVE.search(question)
    return _TYPE_OF_WORD[word.group(1)] if word else None
