"""How reports word things: metric labels and values, a case's expected and returned text, its history,
thresholds missed (a floor or a ceiling) and why a metric is n/a. Shared by text, HTML and the web tab.
"""

from __future__ import annotations

from typing import Any

from cecot_rag.evaluation.metrics import LOWER_IS_BETTER

Report = dict[str, Any]

LABELS = {
    "hit_rate": "hit rate",
    "mrr": "MRR",
    "fact_recall": "fact recall",
    "citation_precision": "citation precision",
    "citation_precision_passage": "citation precision (passage)",
    "citation_recall": "citation recall",
    "abstention_accuracy": "abstention accuracy",
    "false_abstention_rate": "false abstention rate",
    "answer_f1": "answer F1",
    "answer_recall": "answer recall",
    "first_quote_fact_recall": "fact in first quote",
    "latency_p50_ms": "latency p50 (ms)",
    "latency_p95_ms": "latency p95 (ms)",
}

_NO_CONTEXTS = "no answerable case has reference contexts"
# Why a metric has no value: what the set (or the run) lacks for it.
_NA_REASONS = {
    "hit_rate": _NO_CONTEXTS,
    "mrr": _NO_CONTEXTS,
    "citation_recall": _NO_CONTEXTS,
    "citation_precision": "no answer to a case with reference contexts cited anything",
    "citation_precision_passage": "no answer to a case with reference contexts cited anything",
    "fact_recall": "no answerable case has expected facts",
    "first_quote_fact_recall": "no answerable case has expected facts",
    "answer_f1": "no answerable case has a reference answer",
    "answer_recall": "no answerable case has a reference answer",
    "abstention_accuracy": "the set has no unanswerable cases",
    "false_abstention_rate": "the set has no answerable cases",
    "latency_p50_ms": "no case ran without an error",
    "latency_p95_ms": "no case ran without an error",
}


def format_value(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if name.endswith("_ms") else f"{value:.3f}"


def na_reason(name: str, report: Report) -> str:
    """Why a metric is n/a on this report's cases."""
    answerable = [c for c in report.get("cases", []) if c.get("answerable", True)]
    if name.startswith("citation_precision") and not any(c.get("reference_contexts") for c in answerable):
        return _NO_CONTEXTS
    return _NA_REASONS.get(name, "the set gives it nothing to measure")


def threshold_misses(report: Report) -> list[str]:
    """Each missed threshold in words: a floor missed from below, a ceiling from above, or n/a and why."""
    thresholds = report.get("thresholds") or {}
    found = []
    for name in report.get("failed_thresholds") or []:
        value, limit = report["metrics"].get(name), thresholds.get(name)
        if value is None:
            found.append(f"{name} is n/a: {na_reason(name, report)}")
        elif limit is None:
            continue
        elif name in LOWER_IS_BETTER:
            found.append(
                f"{name} {format_value(name, value)} is above its ceiling {format_value(name, limit)}"
            )
        else:
            found.append(f"{name} {format_value(name, value)} is below its floor {format_value(name, limit)}")
    return found


def expected_text(case: dict[str, Any]) -> str:
    if not case.get("answerable", True):
        return "abstain (the documents do not say)"
    if case.get("expected_facts"):
        return "facts: " + "; ".join(case["expected_facts"])
    return case.get("reference_answer", "")


def got_text(case: dict[str, Any]) -> str:
    if case.get("error"):
        return f"error: {case['error']}"
    return case.get("answer", "") if case.get("answered") else "abstained"


def history_text(case: dict[str, Any]) -> str:
    """A follow-up's earlier turns, "after: user: ... / assistant: ...", or "" for a first question."""
    turns = case.get("history") or []
    if not turns:
        return ""
    return "after: " + " / ".join(f"{t['role']}: {' '.join(t['content'].split())}" for t in turns)


def clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "\u2026"
