"""Sentence splitting with character offsets, and the word normalisation shared by lexical search."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sr",
    "jr",
    "st",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "u.s",
    "u.k",
    "no",
    "fig",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "gen",
    "gov",
    "pres",
    "sen",
    "rep",
    "inc",
    "ltd",
    "co",
    "corp",
    "approx",
    "art",
}
# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentences of text[start:end] as spans (no surrounding whitespace); lines never join."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        line_start = start + line.start()
        spans.extend(_split_line(text, line_start, start + line.end()))
    return spans


def _split_line(text: str, start: int, end: int) -> Iterator[Span]:
    cursor = start
    segment = text[start:end]
    for match in _END.finditer(segment):
        stop = start + match.end()
        word = re.search(r"(\S+)$", text[cursor:stop])
        if word and match.group().startswith(".") and _is_abbreviation(word.group(1)):
            continue
        following = text[stop:end].lstrip()
        if following and following[0].islower():
            continue
        span = _trim(text, cursor, stop)
        if span:
            yield span
        cursor = stop
    span = _trim(text, cursor, end)
    if span:
        yield span


def _is_abbreviation(token: str) -> bool:
    core = token.strip("\"'“‘([").rstrip(".").lower()
    return core in _ABBREVIATIONS or bool(re.fullmatch(r"[a-z]", core))


def _trim(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None


def fold(text: str) -> str:
    """Lower case without accents: 'Operación' and 'operacion' compare equal."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "according",
        "article",
        "author",
        "say",
        "said",
        "says",
        "tell",
        "did",
        "does",
        "many",
        "much",
        "one",
        "ones",
    ]
)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def words(text: str) -> list[str]:
    """Folded word tokens; numbers keep digit groups together ('40,000' -> '40000')."""
    folded = fold(text).replace("’", "'")
    folded = re.sub(r"(?<=\d)[,.](?=\d{3}\b)", "", folded)
    return _WORD.findall(folded)


def terms(text: str) -> list[str]:
    """Stemmed content words for lexical matching (stop words dropped)."""
    tokens = [w.replace("'s", "") for w in words(text)]
    tokens = [w for w in tokens if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return _stemmer().stemWords(tokens) if tokens else []
