"""Checks each generated sentence against the passages it cites, and finds the quote that supports it.

A sentence survives only if its [n] markers name passages that were given to the model, every
number in it occurs in those passages, most of its content words do too, and its meaning is close
to one sentence of them (cosine similarity with the same embedding model that retrieval uses).
That sentence becomes the citation's quote, verbatim. Given the sentences the answer path's scorer
found to answer the question (`quotable`), only those can be that sentence: a generated sentence
that the passage supports but that answers nothing is dropped too. For a model whose markers are
not trusted, attach() finds the passages itself and applies the same checks.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from cecot_rag.answer.base import Evidence
from cecot_rag.answer.prompt import is_instruction, strip_markup
from cecot_rag.embedding import Embedder
from cecot_rag.models import Passage
from cecot_rag.text import CITATION_MARKER, MARKER_NUMBERS, fold, sentence_spans, terms, ungroup_digits, words

MIN_SIMILARITY = 0.55
MIN_TERM_COVERAGE = 0.75
MIN_TERMS = 2
ATTACH_CANDIDATES = 3  # passages tried for a sentence whose markers are ignored
SHORT_ANSWER_TERMS = 4  # fewer content words: a bare answer, read together with the question

_MARKER = CITATION_MARKER
_LEADING_MARKERS = re.compile(rf"^(?:\s*\[\s*{MARKER_NUMBERS}\s*\])+")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SOURCES = r"(documents?|passages?|sources?|texts?|evidence)"
_ABSTAINS = re.compile(
    rf"\b{_SOURCES}\b[^.]{{0,40}}\b(do|does|did)\s*(not|n't)\s+"
    r"(say|mention|state|contain|answer|provide|specify|discuss|include|give)\b"
    rf"|\b(is|are|was|were)\s+not\s+(mentioned|stated|given|provided|specified|included)\s+"
    rf"in\s+the\s+{_SOURCES}\b"
    rf"|\bno\s+information\b[^.]{{0,40}}\bin\s+the\s+{_SOURCES}\b",
)
_NUMBER_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "twenty": "20",
    "hundred": "100",
    "thousand": "1000",
}


@dataclass(frozen=True)
class GeneratedSentence:
    """One sentence of the model's answer: its words without markers, and the [n] it cited."""

    text: str
    markers: tuple[int, ...]


@dataclass(frozen=True)
class Verdict:
    supported: bool
    reason: str | None = None
    evidence: tuple[Evidence, ...] = ()
    similarity: float = 0.0


@dataclass
class _Sentence:
    passage: int
    start: int
    end: int
    text: str
    terms: frozenset[str]
    numbers: frozenset[str]
    quotable: bool


def numbers(text: str) -> set[str]:
    """The numbers written in digits in text, thousands separators removed ('40,000' -> '40000')."""
    return set(_NUMBER.findall(ungroup_digits(fold(text))))


def _numbers_with_words(text: str) -> set[str]:
    found = numbers(text)
    found.update(_NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", fold(text)) if w in _NUMBER_WORDS)
    return found


def is_abstention(sentence: str) -> bool:
    """True for 'The documents do not say.' and its variants."""
    return bool(_ABSTAINS.search(fold(sentence).replace("’", "'")))


def split_generated(text: str) -> list[GeneratedSentence]:
    """Sentences of a generated answer with their markers; markers after the full stop count too."""
    text = strip_markup(text)
    pieces: list[tuple[str, list[int]]] = []
    for span in sentence_spans(text):
        raw = text[span.start : span.end]
        leading = _LEADING_MARKERS.match(raw)
        if leading:
            if pieces:
                pieces[-1][1].extend(_marker_numbers(leading.group()))
                raw = raw[leading.end() :]
            elif not raw[leading.end() :].strip():
                continue
        markers = _marker_numbers(raw)
        clean = _MARKER.sub("", raw)
        clean = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s{2,}", " ", clean)).strip()
        clean = _BULLET.sub("", clean).strip()
        if re.search(r"\w", clean):
            pieces.append((clean, markers))
        elif pieces:
            pieces[-1][1].extend(markers)
    return [GeneratedSentence(t, tuple(dict.fromkeys(m))) for t, m in pieces]


def _marker_numbers(text: str) -> list[int]:
    return [int(n) for group in _MARKER.findall(text) for n in re.split(r"\s*[,;]\s*", group)]


Span = tuple[str, int, int]  # passage id, start and end of a sentence in the passage's text


@dataclass
class Verifier:
    """Holds the passages given to the model, split into sentences; the ones that may be quoted are
    embedded once per answer.

    quotable: the sentences that may support a generated sentence (None: every sentence);
    retrieved: passages retrieved beside them, whose instructions to an assistant are withheld too.
    """

    passages: Sequence[Passage]
    embedder: Embedder
    quotable: Collection[Span] | None = None
    retrieved: Sequence[Passage] = ()
    min_similarity: float = MIN_SIMILARITY
    min_coverage: float = MIN_TERM_COVERAGE
    _sentences: list[_Sentence] = field(init=False, default_factory=list)
    _rows: list[int] = field(init=False, default_factory=list)  # _sentences index of each vector
    _vectors: np.ndarray = field(init=False)
    _withheld_words: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        usable_words: set[str] = set()
        quotable = None if self.quotable is None else set(self.quotable)
        own = {p.id for p in self.passages}
        for passage in self.retrieved:  # the other passages' instructions are withheld words too
            if passage.id not in own:
                for sentence in (passage.text[s.start : s.end] for s in sentence_spans(passage.text)):
                    (self._withheld_words if is_instruction(sentence) else usable_words).update(
                        words(sentence)
                    )
        for index, passage in enumerate(self.passages):
            for span in sentence_spans(passage.text):
                text = passage.text[span.start : span.end]
                if is_instruction(text):
                    # Text addressed to the assistant is neither shown to the model nor evidence.
                    self._withheld_words.update(words(text))
                    continue
                usable_words.update(words(text))
                may_quote = quotable is None or (passage.id, span.start, span.end) in quotable
                self._sentences.append(
                    _Sentence(
                        index,
                        span.start,
                        span.end,
                        text,
                        frozenset(terms(text)),
                        frozenset(_numbers_with_words(text)),
                        may_quote,
                    )
                )
        self._withheld_words -= usable_words
        self._rows = [i for i, s in enumerate(self._sentences) if s.quotable]
        self._vectors = self.embedder.embed([self._sentences[i].text for i in self._rows])

    def redact(self, text: str) -> str:
        """text with the words that only occur in withheld (instruction-like) sentences masked."""
        if not self._withheld_words:
            return text
        return re.sub(
            r"[\w'’-]+",
            lambda m: "[withheld]" if fold(m.group()) in self._withheld_words else m.group(),
            text,
        )

    def check(self, sentence: GeneratedSentence) -> Verdict:
        if not sentence.markers:
            return Verdict(False, "no [n] citation")
        count = len(self.passages)
        outside = [n for n in sentence.markers if not 1 <= n <= count]
        if outside:
            given = f"passages [1]–[{count}] were" if count > 1 else "passage [1] was"
            return Verdict(False, f"cites [{outside[0]}], but only {given} given")
        if is_instruction(sentence.text):
            return Verdict(False, "repeats text addressed to an AI assistant")
        tainted = [w for w in words(sentence.text) if w in self._withheld_words]
        if tainted:
            return Verdict(False, "repeats words from text addressed to an AI assistant")
        claimed = set(terms(sentence.text))
        if len(claimed) < MIN_TERMS:
            return Verdict(False, "too short to check against the passages")
        cited = [i for i, s in enumerate(self._sentences) if s.passage + 1 in sentence.markers]
        if not cited:
            return Verdict(False, "the cited passage has no checkable text")
        markers = _format_markers(sentence.markers)
        available = set().union(*(self._sentences[i].numbers for i in cited))
        missing_numbers = sorted(numbers(sentence.text) - available)
        if missing_numbers:
            listed = ", ".join(missing_numbers)
            noun = "the number" if len(missing_numbers) == 1 else "the numbers"
            verb = "is" if len(missing_numbers) == 1 else "are"
            return Verdict(False, f"{noun} {listed} {verb} not in {markers}")
        present = set().union(*(self._sentences[i].terms for i in cited))
        coverage = len(claimed & present) / len(claimed)
        if coverage < self.min_coverage:
            missing = ", ".join(sorted(claimed - present))
            return Verdict(False, f"key terms not in {markers}: {missing}")
        rows = [r for r, i in enumerate(self._rows) if self._sentences[i].passage + 1 in sentence.markers]
        if not rows:
            return Verdict(False, f"no sentence of {markers} answers the question")
        similarities = self._vectors[rows] @ self.embedder.embed_one(sentence.text)
        best = float(similarities.max())
        if best < self.min_similarity:
            what = "says this" if self.quotable is None else "that answers the question says this"
            return Verdict(
                False,
                f"no sentence of {markers} {what} (similarity {best:.2f} < {self.min_similarity:.2f})",
                similarity=best,
            )
        quotable = [self._rows[r] for r in rows]
        evidence = self._evidence(sentence, quotable, similarities, cited)
        kept = [
            i for i in cited if self.passages[self._sentences[i].passage] in [e.passage for e in evidence]
        ]
        kept_terms = set().union(*(self._sentences[i].terms for i in kept))
        if len(claimed & kept_terms) / len(claimed) < self.min_coverage:
            # The words came from a passage whose sentences are not close enough to quote: cite it too.
            evidence = self._evidence(sentence, quotable, similarities, cited, keep_all=True)
        return Verdict(True, None, evidence, best)

    def attach(self, sentence: GeneratedSentence, question: str = "") -> Verdict:
        """The verdict on sentence against the passages that support it best, whatever it cited.

        For a model whose own [n] cannot be trusted: its passages are tried in order of their
        closest sentence, alone and then the best two together (a sentence joining two facts).
        The first that passes every check of check() becomes the citation. A short answer that
        fails alone ("Elected in 2019.") is checked again as the claim it makes together with the
        question, and then every one of its own words must be in the passage that supports it.
        """
        if not self._rows:
            return Verdict(False, "the passages have no checkable text")
        verdict = self._attach(sentence.text)
        own = set(terms(sentence.text))
        if verdict.supported or not question or len(own) >= SHORT_ANSWER_TERMS:
            return verdict
        combined = self._attach(f"{question} {sentence.text}")
        supporting = {e.passage.id for e in combined.evidence}
        found = set().union(*(s.terms for s in self._sentences if self.passages[s.passage].id in supporting))
        return combined if combined.supported and own <= found else verdict

    def _attach(self, text: str) -> Verdict:
        similarities = self._vectors @ self.embedder.embed_one(text)
        ranked: list[int] = []
        for row in np.argsort(-similarities):
            passage = self._sentences[self._rows[int(row)]].passage + 1
            if passage not in ranked:
                ranked.append(passage)
        candidates = [(n,) for n in ranked[:ATTACH_CANDIDATES]]
        if len(ranked) > 1:
            candidates.append((ranked[0], ranked[1]))
        verdicts = []
        for markers in candidates:
            verdict = self.check(GeneratedSentence(text, markers))
            if verdict.supported:
                return verdict
            verdicts.append(verdict)
        return Verdict(False, f"nothing in the passages supports it ({verdicts[0].reason})")

    def _evidence(
        self,
        sentence: GeneratedSentence,
        quotable: list[int],
        similarities: np.ndarray,
        cited: list[int],
        keep_all: bool = False,
    ) -> tuple[Evidence, ...]:
        """Per cited passage its best-matching quotable sentence; passages that support nothing are
        left out (cited: every sentence of the cited passages, for their numbers).

        A passage stays if its best sentence is similar enough, or if it is where a number of the
        generated sentence comes from.
        """
        best_by_passage: dict[int, tuple[float, _Sentence]] = {}
        for index, similarity in zip(quotable, similarities, strict=True):
            candidate = self._sentences[index]
            current = best_by_passage.get(candidate.passage)
            if current is None or similarity > current[0]:
                best_by_passage[candidate.passage] = (float(similarity), candidate)
        supporting = {p for p, (sim, _) in best_by_passage.items() if keep_all or sim >= self.min_similarity}
        covered = set().union(*(self._numbers_of(p, cited) for p in supporting))
        for number in sorted(numbers(sentence.text) - covered):
            for passage in (n - 1 for n in sentence.markers):
                if passage in best_by_passage and number in self._numbers_of(passage, cited):
                    supporting.add(passage)
                    break
        return tuple(
            Evidence(self.passages[p], best_by_passage[p][1].start, best_by_passage[p][1].end)
            for p in (n - 1 for n in sentence.markers)
            if p in supporting
        )

    def _numbers_of(self, passage: int, cited: list[int]) -> set[str]:
        return set().union(
            *(self._sentences[i].numbers for i in cited if self._sentences[i].passage == passage)
        )


def _format_markers(markers: Sequence[int]) -> str:
    listed = "".join(f"[{n}]" for n in markers)
    return f"passage {listed}" if len(markers) == 1 else f"passages {listed}"
