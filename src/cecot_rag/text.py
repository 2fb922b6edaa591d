"""Sentence splitting with character offsets, and the word normalisation shared by lexical search."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from cecot_rag.stopwords import STOPWORDS, stop_words

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


# Snowball stemmers (PyStemmer) by language code.
_STEMMERS = {"en": "english", "es": "spanish"}


@lru_cache(maxsize=len(_STEMMERS))
def _stemmer(language: str = "en"):  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer(_STEMMERS[language])


_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")

# The one digit-grouping rule: a separator between a digit and exactly three more digits groups
# thousands ('40,000' -> '40000'). Words and the verifier accept commas and points; numbers() only
# commas (it keeps '0.600' a decimal); evaluation also accepts spaces ('40 000' in references).
_DIGIT_GROUPS = {
    separators: re.compile(rf"(?<=\d){pattern}(?=\d{{3}}(?!\d))")
    for separators, pattern in ((",.", "[,.]"), (",", ","), (", ", r"[,\s]"))
}

# The [n] citation marker of an answer, with several numbers allowed ([1, 3] or [1; 3]): the
# verifier reads model output with it and evaluation strips it from answers before comparing words.
MARKER_NUMBERS = r"\d{1,3}(?:\s*[,;]\s*\d{1,3})*"
CITATION_MARKER = re.compile(rf"\[\s*({MARKER_NUMBERS})\s*\]")


def ungroup_digits(text: str, separators: str = ",.") -> str:
    """text with thousands separators removed ('40,000' -> '40000'); separators: ",.", "," or ", "."""
    return _DIGIT_GROUPS[separators].sub("", text)


def words(text: str) -> list[str]:
    """Folded word tokens; numbers keep digit groups together ('40,000' -> '40000')."""
    folded = fold(text).replace("’", "'")
    return _WORD.findall(ungroup_digits(folded))


def terms(text: str, language: str = "en") -> list[str]:
    """Stemmed content words for lexical matching (stop words dropped), by the rules of a language
    ("en", "es"; see language.py for telling which)."""
    return stem_words(content_words(text, language), language)


# A word with its accents and any letters, for languages whose stemmer reads accents.
_LETTERS_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")


@lru_cache(maxsize=len(_STEMMERS))
def _folded_stop_words(language: str) -> frozenset[str]:
    return frozenset(fold(w) for w in stop_words(language))


def content_words(text: str, language: str = "en") -> list[str]:
    """The words terms() stems: stop words and single letters dropped.

    English words are folded first (as words() gives them). Spanish ones keep their accents until
    stemmed: Snowball's Spanish suffixes are written with them ('-ación'), so a folded
    'operacion' would keep a suffix that 'operación' loses."""
    if language == "en":
        tokens = [w.replace("'s", "") for w in words(text)]
        return [w for w in tokens if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    stop = _folded_stop_words(language)
    lowered = ungroup_digits(unicodedata.normalize("NFC", text).lower().replace("’", "'"))
    return [w for w in _LETTERS_WORD.findall(lowered) if fold(w) not in stop and (len(w) > 1 or w.isdigit())]


def stem_words(tokens: list[str], language: str = "en") -> list[str]:
    """Tokens stemmed by a language's stemmer, accents folded ('operación' -> 'oper')."""
    if not tokens:
        return []
    stems = _stemmer(language).stemWords(tokens)
    return [stem if stem.isascii() else fold(stem) for stem in stems]


# -- helpers for the answerer: numbers, names, headings ------------------------------------------

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_WORDS = frozenset(
    [
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "hundred",
        "thousand",
        "million",
        "billion",
        "dozen",
        "dozens",
        "hundreds",
        "thousands",
        "millions",
        "half",
        "percent",
    ]
)
_TOKEN = re.compile(r"[\w’'-]+")
_MONTHS = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ]
)


def numbers(text: str) -> set[str]:
    """Numbers written with digits, digit groups removed ('40,000' -> '40000', '0.6' stays)."""
    return {ungroup_digits(m, ",") for m in _NUMBER.findall(text)}


def has_quantity(text: str) -> bool:
    """Whether text states an amount: a number in digits or in words ('two', 'thousands')."""
    return bool(_NUMBER.search(text)) or any(
        part in _NUMBER_WORDS for w in words(text) for part in w.split("-")
    )


def has_date(text: str) -> bool:
    """Whether text names a year, a decade or a month."""
    return bool(re.search(r"\b(1[0-9]|20)\d\d(s|’s|'s)?\b", text)) or any(w in _MONTHS for w in words(text))


def names(text: str) -> list[str]:
    """Runs of capitalised words ('Xiomara Castro', 'Lima'), without a sentence's capitalised first word.

    A sentence's first word is capitalised whatever it is, so it counts only as part of a run
    ('Nayib Bukele entered ...').
    """
    found = []
    for span in sentence_spans(text):
        tokens = list(_TOKEN.finditer(text, span.start, span.end))
        run: list[str] = []
        for i, token in enumerate([*tokens, None]):
            word = token.group() if token else ""
            capital = bool(word) and word[0].isupper() and fold(word) not in STOPWORDS
            opener = i == 0 and not (len(tokens) > 1 and tokens[1].group()[0].isupper())
            # Punctuation between two capitalised words ends a name: "Honduras, President ...".
            joined = token is not None and i > 0 and not text[tokens[i - 1].end() : token.start()].strip()
            if run and not (capital and joined):
                found.append(" ".join(run))
                run = []
            if capital and not opener:
                run.append(word)
    return found


def is_heading(text: str) -> bool:
    """A title line: short, capitalised, no closing punctuation (a Markdown "## Title" too)."""
    line = text.strip().lstrip("#").strip()
    return bool(line) and len(words(line)) <= 12 and line[-1] not in ".!?…:;,\"'”’)]" and line[0].isupper()
