"""Answer-quality metrics that need no LLM: pure functions over answers, passages and references.

Text comparisons ignore case, accents, quote styles, spacing and digit grouping, so "40,000"
matches "40000" and "Operación" matches "operacion".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from cecot_rag.stats import percentile
from cecot_rag.text import CITATION_MARKER, fold, sentence_spans, terms, ungroup_digits, words

# Metric names users may gate on, with the direction that counts as better.
HIGHER_IS_BETTER = (
    "hit_rate",
    "mrr",
    "fact_recall",
    "citation_precision",
    "citation_precision_passage",
    "citation_recall",
    "abstention_accuracy",
    "answer_f1",
    "answer_recall",
    "first_quote_fact_recall",
)
LOWER_IS_BETTER = ("false_abstention_rate", "latency_p50_ms", "latency_p95_ms")
METRICS = HIGHER_IS_BETTER + LOWER_IS_BETTER

# A reference context split across two passages still counts when one passage holds this share of it.
PARTIAL_CONTEXT_SHARE = 0.6
PARTIAL_CONTEXT_MIN_CHARS = 40

_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2011": "-",
        "\u00a0": " ",
    }
)
_CITATION_MARK = re.compile(r"\s*" + CITATION_MARKER.pattern)
_ARTICLES = frozenset({"a", "an", "the"})


def normalize(text: str) -> str:
    """Folded text for comparisons: no case, accents, typographic quotes, digit grouping or extra spaces."""
    text = fold(text).translate(_QUOTES)
    text = ungroup_digits(text, ", ")
    return re.sub(r"\s+", " ", text).strip()


def strip_citation_marks(text: str) -> str:
    """Answer text without its [n] markers (they are not words of the answer)."""
    return _CITATION_MARK.sub("", text)


def alternatives(fact: str) -> list[str]:
    """The `|`-separated alternatives of an expected fact; `\\|` is a literal `|`, `\\\\` a backslash."""
    found, current, escaped = [], [], False
    for ch in fact:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "|":
            found.append("".join(current))
            current = []
        else:
            current.append(ch)
    found.append("".join(current))
    return found


def fact_present(fact: str, answer: str) -> bool:
    """Whether any `|`-separated alternative of fact occurs in answer, starting at a word boundary.

    Only the start is anchored, so "metal bunk" matches "metal bunks" but "81" does not match "1981".
    """
    haystack = normalize(strip_citation_marks(answer))
    for alternative in alternatives(fact):
        needle = normalize(alternative)
        if needle and re.search(rf"(?<![a-z0-9]){re.escape(needle)}", haystack):
            return True
    return False


def facts_found(facts: Sequence[str], answer: str) -> list[bool]:
    return [fact_present(fact, answer) for fact in facts]


def text_supports(reference: str, text: str) -> bool:
    """Whether text holds the reference passage: whole, or the larger part of it when it was split."""
    ref, hay = normalize(reference), normalize(text)
    if not ref or not hay:
        return False
    if ref in hay or (len(hay) >= PARTIAL_CONTEXT_MIN_CHARS and hay in ref):
        return True
    if len(ref) < PARTIAL_CONTEXT_MIN_CHARS:
        return False
    match = SequenceMatcher(None, hay, ref, autojunk=False).find_longest_match(0, len(hay), 0, len(ref))
    return match.size >= max(PARTIAL_CONTEXT_MIN_CHARS, PARTIAL_CONTEXT_SHARE * len(ref))


def hit_rank(reference_contexts: Sequence[str], passages: Sequence[str]) -> int | None:
    """1-based rank of the first passage holding any reference context, None when none does."""
    for rank, passage in enumerate(passages, start=1):
        if any(text_supports(context, passage) for context in reference_contexts):
            return rank
    return None


def citation_supported_by_passage(quote: str, passage: str, reference_contexts: Sequence[str]) -> bool:
    """The passage-level judgement: the cited passage holds a reference context, or the quote matches one.

    Lenient: a passage holding the right context counts even when the quoted sentence is another one.
    """
    for context in reference_contexts:
        if text_supports(context, passage) or text_supports(quote, context) or text_supports(context, quote):
            return True
    return False


def citation_supported(
    quote: str, reference_contexts: Sequence[str], expected_facts: Sequence[str] = ()
) -> bool:
    """The quote-level judgement: the cited sentence itself supports the answer.

    It does when it lies inside a reference context, holds one of a context's sentences (or most
    of it), or contains an expected fact. What else its passage says does not count.
    """
    if any(fact_present(fact, quote) for fact in expected_facts):
        return True
    for context in reference_contexts:
        if text_supports(quote, context):  # the quote lies inside the context
            return True
        for span in sentence_spans(context):
            if text_supports(context[span.start : span.end], quote):
                return True
    return False


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 (folded words, articles dropped, citation markers ignored)."""
    predicted = [w for w in words(strip_citation_marks(prediction)) if w not in _ARTICLES]
    expected = [w for w in words(reference) if w not in _ARTICLES]
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def answer_recall(answer: str, reference: str) -> float | None:
    """Share of the reference's content words (stemmed, stop words dropped) present in the answer."""
    wanted = set(terms(reference))
    if not wanted:
        return None
    present = set(terms(strip_citation_marks(answer)))
    return len(wanted & present) / len(wanted)


def mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


@dataclass
class CaseResult:
    """What happened to one case: the answer, its checks and whether it passed."""

    id: str
    question: str
    answerable: bool
    answer: str
    answered: bool
    expected_facts: list[str] = field(default_factory=list)
    reference_answer: str = ""
    reference_contexts: list[str] = field(default_factory=list)
    history: list[dict[str, str]] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    passages: list[dict[str, Any]] = field(default_factory=list)
    hit_rank: int | None = None
    facts_found: list[bool] = field(default_factory=list)
    fact_recall: float | None = None
    first_quote_fact: bool | None = None
    answer_f1: float | None = None
    answer_recall: float | None = None
    latency_ms: float = 0.0
    # The answer's decision: what decided, its score and the threshold it was compared with.
    decision_stage: str | None = None
    evidence_score: float | None = None  # decision.score
    decision_threshold: float | None = None
    passed: bool = False
    reason: str = ""
    error: str | None = None

    @property
    def supported_citations(self) -> int:
        return sum(1 for c in self.citations if c.get("supported"))


def score_case(result: CaseResult, passage_texts: Sequence[str], citations: Sequence[dict[str, Any]]) -> None:
    """Fill result's checks from the retrieved passage texts and the citations (quote, passage_text)."""
    result.hit_rank = (
        hit_rank(result.reference_contexts, passage_texts) if result.reference_contexts else None
    )
    facts = result.expected_facts
    result.citations = [
        {
            **{k: v for k, v in c.items() if k != "passage_text"},
            "supported": citation_supported(c["quote"], result.reference_contexts, facts),
            "supported_passage": citation_supported_by_passage(
                c["quote"], c["passage_text"], result.reference_contexts
            ),
        }
        for c in citations
    ]
    answer = result.answer if result.answered else ""
    result.facts_found = facts_found(facts, answer)
    if result.answerable and facts:
        result.fact_recall = sum(result.facts_found) / len(facts)
        first_quote = citations[0]["quote"] if result.answered and citations else ""
        result.first_quote_fact = any(fact_present(fact, first_quote) for fact in facts)
    if result.answerable and result.reference_answer:
        result.answer_f1 = token_f1(answer, result.reference_answer)
        result.answer_recall = answer_recall(answer, result.reference_answer)
    result.passed, result.reason = verdict(result)


def verdict(result: CaseResult) -> tuple[bool, str]:
    """Passed or not, and why not, in words a reader of the report understands."""
    if result.error:
        return False, f"error: {result.error}"
    if not result.answerable:
        return (
            (True, "") if not result.answered else (False, "answered a question the documents do not answer")
        )
    if not result.answered:
        return False, "abstained on an answerable question"
    if result.expected_facts:
        missing = [f for f, ok in zip(result.expected_facts, result.facts_found, strict=True) if not ok]
        return (False, "missing: " + "; ".join(missing)) if missing else (True, "")
    if result.reference_answer and result.answer_recall is not None:
        ok = result.answer_recall >= 0.5
        return ok, "" if ok else f"answer recall {result.answer_recall:.2f} < 0.50"
    if result.reference_contexts:
        return (True, "") if result.hit_rank else (False, "no reference context retrieved")
    return True, ""


def aggregate(results: Sequence[CaseResult]) -> dict[str, float | None]:
    """Set-level metrics; a metric is None when the set gives it nothing to measure."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    with_contexts = [r for r in answerable if r.reference_contexts]
    with_facts = [r for r in answerable if r.first_quote_fact is not None]
    cited = [c for r in with_contexts if r.answered for c in r.citations]
    latencies = [r.latency_ms for r in results if r.error is None]
    return {
        "hit_rate": _share(r.hit_rank is not None for r in with_contexts),
        "mrr": mean(1 / r.hit_rank if r.hit_rank else 0.0 for r in with_contexts) if with_contexts else None,
        "fact_recall": mean(r.fact_recall for r in answerable),
        "citation_precision": _share(bool(c.get("supported")) for c in cited),
        "citation_precision_passage": _share(bool(c.get("supported_passage")) for c in cited),
        "citation_recall": _share(r.supported_citations > 0 for r in with_contexts),
        "abstention_accuracy": _share(not r.answered for r in unanswerable),
        "false_abstention_rate": _share(not r.answered for r in answerable),
        "answer_f1": mean(r.answer_f1 for r in answerable),
        "answer_recall": mean(r.answer_recall for r in answerable),
        "first_quote_fact_recall": _share(r.first_quote_fact for r in with_facts),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
    }


def _share(flags: Iterable[bool]) -> float | None:
    values = list(flags)
    return sum(values) / len(values) if values else None


def below_threshold(metric: str, value: float | None, threshold: float) -> bool:
    """Whether value misses the threshold (a floor, or a ceiling for lower-is-better metrics)."""
    if value is None:
        return True
    return value > threshold if metric in LOWER_IS_BETTER else value < threshold


def parse_thresholds(items: Iterable[str]) -> dict[str, float]:
    """METRIC=VALUE strings as a dict; ValueError naming the bad item and the known metrics."""
    thresholds: dict[str, float] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--fail-under expects METRIC=VALUE, got {item!r}")
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r} in --fail-under; known: {', '.join(METRICS)}")
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"--fail-under {name}: {raw!r} is not a number") from None
        if not math.isfinite(value) or value < 0 or (name not in LOWER_IS_BETTER and value > 1):
            raise ValueError(f"--fail-under {name}: {raw!r} is out of range (0..1 for rates and scores)")
        thresholds[name] = value
    return thresholds
