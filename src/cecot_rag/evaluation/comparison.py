"""Comparing a run with a previous report: each metric's previous and current value and its change
(better or worse, by the metric's direction), the settings that differ, and the cases that changed
outcome.

Deltas between unrelated cases mean nothing, so a comparison is refused (ComparisonRefused; the
CLI exits 2) when the two runs share no case id (different sets), or when a case id they share
carries a different question (the case was rewritten: give it a new id).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cecot_rag.evaluation.metrics import LOWER_IS_BETTER, METRICS
from cecot_rag.evaluation.texts import Report, got_text


class ComparisonRefused(ValueError):
    """The previous report is not a run of the same cases."""


def check_comparable(cases: Iterable[tuple[str, str]], previous: Report, name: str = "this set") -> None:
    """Raise ComparisonRefused unless (id, question) pairs match the previous report's cases."""
    earlier = {c["id"]: _words(c.get("question", "")) for c in previous.get("cases", [])}
    current = {case_id: _words(question) for case_id, question in cases}
    shared = set(earlier) & set(current)
    previous_name = (previous.get("set") or {}).get("name", "?")
    if earlier and not shared:
        raise ComparisonRefused(
            f"refusing to compare: the previous report (set {previous_name!r}) has no case in common "
            f"with {name!r}; compare two runs of the same set"
        )
    rewritten = sorted(i for i in shared if earlier[i] != current[i])
    if rewritten:
        ids = ", ".join(repr(i) for i in rewritten)
        raise ComparisonRefused(
            f"refusing to compare: the question of case {ids} changed since the previous report "
            "(same id, different question); give a rewritten case a new id"
        )


def _words(text: str) -> str:
    return " ".join(text.split())


def compare(current: Report, previous: Report) -> dict[str, Any]:
    """Per-metric previous/current/delta/better, changed settings and the cases whose outcome changed."""
    check_comparable(((c["id"], c["question"]) for c in current["cases"]), previous, current["set"]["name"])
    metrics = {}
    for name in METRICS:
        before, after = previous["metrics"].get(name), current["metrics"].get(name)
        delta = None if before is None or after is None else round(after - before, 4)
        better = None if not delta else (delta < 0) == (name in LOWER_IS_BETTER)
        metrics[name] = {"previous": before, "current": after, "delta": delta, "better": better}
    old_settings, new_settings = previous.get("settings") or {}, current.get("settings") or {}
    settings = {
        key: {"previous": old_settings.get(key), "current": new_settings.get(key)}
        for key in dict.fromkeys([*old_settings, *new_settings])
        if old_settings.get(key) != new_settings.get(key)
    }
    earlier = {c["id"]: c for c in previous.get("cases", [])}
    changed = []
    for case in current["cases"]:
        old = earlier.get(case["id"])
        if old is not None and bool(old.get("passed")) != bool(case.get("passed")):
            changed.append(
                {
                    "id": case["id"],
                    "question": case["question"],
                    "before": "passed" if old.get("passed") else "failed",
                    "after": "passed" if case.get("passed") else "failed",
                    "answer_before": got_text(old),
                    "answer_after": got_text(case),
                }
            )
    now = {c["id"] for c in current["cases"]}
    return {
        "metrics": metrics,
        "settings": settings,
        "changed": changed,
        "new_cases": sorted(now - set(earlier)),
        "removed_cases": sorted(set(earlier) - now),
    }


def change_text(name: str, entry: dict[str, Any] | None) -> str:
    """ "+0.250 better", "-150 better" (latency), "+0.000" or "" when either run has no value."""
    if not entry or entry.get("delta") is None:
        return ""
    delta = entry["delta"]
    number = f"{delta:+.0f}" if name.endswith("_ms") else f"{delta:+.3f}"
    better = entry.get("better")
    if better is None or float(number) == 0:  # a change too small to show is neither better nor worse
        return number.replace("-", "+")
    return f"{number} {'better' if better else 'worse'}"


def format_comparison(comparison: dict[str, Any]) -> str:
    """The text lines after the table: changed settings, cases that changed outcome, new and removed."""
    lines = []
    if comparison.get("settings"):
        lines.append(
            "\nSettings changed: "
            + "; ".join(f"{k} {v['previous']} -> {v['current']}" for k, v in comparison["settings"].items())
        )
    changed = comparison["changed"]
    lines.append(f"\nCompared with the previous report: {len(changed)} case(s) changed outcome.")
    for item in changed:
        lines.append(f"- [{item['id']}] {item['before']} -> {item['after']}: {item['question']}")
    if comparison["new_cases"]:
        lines.append("New cases: " + ", ".join(comparison["new_cases"]))
    if comparison["removed_cases"]:
        lines.append("Removed cases: " + ", ".join(comparison["removed_cases"]))
    return "\n".join(lines)
