"""Reports: comparisons (values, changes, settings, refusals), threshold wording, legends, follow-ups, -v."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from cecot_rag.evaluation.comparison import ComparisonRefused, compare
from cecot_rag.evaluation.metrics import METRICS
from cecot_rag.evaluation.plots import metrics_svg
from cecot_rag.evaluation.report import format_table, metric_rows, to_html

LONG_ANSWER = "The harbour was rebuilt in 1962 " + "after a storm that lasted many days " * 8 + "END."


def _report(
    fact_recall: float | None = 0.5,
    p95: float = 300.0,
    thresholds: dict[str, float] | None = None,
    top_k: int = 5,
) -> dict[str, Any]:
    metrics: dict[str, float | None] = dict.fromkeys(METRICS)
    metrics.update(
        {"fact_recall": fact_recall, "hit_rate": 0.9, "latency_p50_ms": 100.0, "latency_p95_ms": p95}
    )
    cases = [
        {
            "id": "rebuilt",
            "question": "When was the harbour rebuilt?",
            "answerable": True,
            "answer": LONG_ANSWER,
            "answered": True,
            "expected_facts": ["1963"],
            "history": [],
            "citations": [],
            "passed": False,
            "reason": "missing: 1963",
            "hit_rank": 1,
            "latency_ms": 100.0,
        },
        {
            "id": "ferries-followup",
            "question": "And the ferries?",
            "answerable": True,
            "answer": "",
            "answered": False,
            "expected_facts": ["every hour"],
            "history": [
                {"role": "user", "content": "When was the harbour rebuilt?"},
                {"role": "assistant", "content": "In 1962."},
            ],
            "citations": [],
            "passed": False,
            "reason": "abstained on an answerable question",
            "hit_rank": None,
            "latency_ms": 300.0,
        },
    ]
    limits = thresholds or {}
    return {
        "set": {"name": "harbour", "path": "harbour.jsonl", "format": "cecot", "cases": len(cases)},
        "started_at": "2026-12-01T00:00:00+00:00",
        "duration_s": 1.0,
        "settings": {"index": "tmp", "top_k": top_k, "generator": "extractive"},
        "thresholds": limits,
        "metrics": metrics,
        "failed_thresholds": [],
        "cases": cases,
        "baseline": None,
    }


def test_the_html_comparison_shows_previous_current_and_change_with_better_or_worse() -> None:
    before = _report(fact_recall=0.5, p95=300.0)
    after = _report(fact_recall=0.75, p95=450.0, top_k=3)
    page = to_html(after, compare(after, before))
    row = re.search(r"<tr>(?:(?!</tr>).)*fact recall(?:(?!</tr>).)*</tr>", page, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    assert cells[:4] == ["fact recall", "0.500", "0.750", "+0.250 better"]
    latency = re.search(r"<tr>(?:(?!</tr>).)*latency p95(?:(?!</tr>).)*</tr>", page, re.S)
    assert latency is not None and "+150 worse" in latency.group(0)
    # The chart marks the previous value beside the current one.
    assert "previous fact_recall: 0.500" in page and "fact_recall: 0.750 (+0.250 better)" in page
    # The settings that differ between the runs.
    assert re.search(r"<td>top_k</td><td>5</td><td>3</td>", page)
    assert "<td>generator</td>" not in page


def test_the_text_comparison_marks_changes_and_lists_changed_settings() -> None:
    before, after = _report(fact_recall=0.5), _report(fact_recall=0.25, top_k=3)
    table = format_table(after, compare(after, before))
    assert re.search(r"^fact_recall +0\.500 +0\.250 +-0\.250 worse", table, re.M)
    assert "Settings changed: top_k 5 -> 3" in table


def test_a_change_too_small_to_show_is_neither_better_nor_worse() -> None:
    before, after = _report(fact_recall=0.5), _report(fact_recall=0.5001)
    assert re.search(
        r"^fact_recall +0\.500 +0\.500 +\+0\.000$", format_table(after, compare(after, before)), re.M
    )


def test_comparing_runs_of_different_sets_is_refused() -> None:
    before = _report()
    after = copy.deepcopy(before)
    after["set"]["name"] = "other"
    for case in after["cases"]:
        case["id"] = "other-" + case["id"]
    with pytest.raises(ComparisonRefused, match="no case in common"):
        compare(after, before)


def test_a_question_changed_under_the_same_id_is_refused() -> None:
    before = _report()
    after = copy.deepcopy(before)
    after["cases"][0]["question"] = "When was the lighthouse built?"
    with pytest.raises(ComparisonRefused, match="'rebuilt'"):
        compare(after, before)


def test_a_missed_ceiling_is_not_called_below_threshold() -> None:
    report = _report(p95=450.0, thresholds={"latency_p95_ms": 400.0, "fact_recall": 0.8})
    report["failed_thresholds"] = ["latency_p95_ms", "fact_recall"]
    table = format_table(report)
    assert "Below threshold" not in table
    assert "latency_p95_ms 450 is above its ceiling 400" in table
    assert "fact_recall 0.500 is below its floor 0.800" in table
    assert "above its ceiling 400" in to_html(report) and "Below threshold" not in to_html(report)


def test_a_gated_metric_that_is_n_a_says_why() -> None:
    report = _report(fact_recall=None, thresholds={"fact_recall": 0.5})
    report["failed_thresholds"] = ["fact_recall"]
    for case in report["cases"]:
        case["expected_facts"] = []
    table = format_table(report)
    assert "fact_recall is n/a: no answerable case has expected facts" in table


def test_threshold_columns_and_legend_appear_only_with_thresholds() -> None:
    plain = _report()
    assert set(metric_rows(plain)[0]) == {"metric", "value"}
    assert "threshold" not in format_table(plain).splitlines()[1]
    assert "threshold" not in metrics_svg(plain)
    gated = _report(thresholds={"fact_recall": 0.8})
    assert {"threshold", "status"} <= set(metric_rows(gated)[0])
    assert "red tick: threshold" in metrics_svg(gated)


def test_the_whole_answer_is_shown_with_verbose() -> None:
    report = _report()
    assert "END." not in format_table(report)
    assert LONG_ANSWER.strip() in format_table(report, verbose=True)


def test_follow_up_cases_show_their_history() -> None:
    report = _report()
    table = format_table(report)
    assert "after: user: When was the harbour rebuilt? / assistant: In 1962." in table
    page = to_html(report)
    assert "When was the harbour rebuilt?" in page.split("And the ferries?")[0].rsplit("<tr>", 1)[1]
