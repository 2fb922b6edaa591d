"""The Evaluation tab: what it shows from the latest report, and its run button on an empty index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from cecot_rag import Assistant
from cecot_rag.evaluation.metrics import METRICS
from cecot_rag.evaluation.report import latest_report_path
from cecot_rag.evaluation.ui import (
    NO_REPORT,
    build_evaluation_tab,
    failure_table,
    metric_table,
    plots_html,
    summary_markdown,
)


def _report() -> dict[str, Any]:
    metrics = dict.fromkeys(METRICS, 0.5)
    metrics.update({"latency_p50_ms": 120.0, "latency_p95_ms": 400.0})
    return {
        "set": {"name": "cecot", "path": "eval/cecot.jsonl", "format": "cecot", "cases": 2},
        "started_at": "2025-01-01T00:00:00+00:00",
        "duration_s": 3.0,
        "settings": {"top_k": 5, "generator": "extractive", "index": "index"},
        "thresholds": {"fact_recall": 0.6},
        "metrics": metrics,
        "failed_thresholds": ["fact_recall"],
        "cases": [
            {
                "id": "ok",
                "question": "Q1",
                "answerable": True,
                "answer": "A",
                "answered": True,
                "passed": True,
                "expected_facts": ["A"],
                "latency_ms": 120.0,
            },
            {
                "id": "capacity",
                "question": "How many inmates?",
                "answerable": True,
                "answer": "",
                "answered": False,
                "passed": False,
                "reason": "abstained on an answerable question",
                "expected_facts": ["40,000"],
                "latency_ms": 400.0,
            },
        ],
        "baseline": None,
    }


def test_the_tab_shows_metrics_thresholds_plots_and_failures_of_a_report() -> None:
    report = _report()
    assert "1 of 2 cases passed" in summary_markdown(report) and "fact_recall" in summary_markdown(report)
    assert plots_html(report).count("<svg") == 2
    rows = {row[0]: row for row in metric_table(report)}
    assert rows["fact_recall"] == ["fact_recall", "0.500", ">= 0.600", "FAIL"]
    assert failure_table(report) == [
        ["capacity", "How many inmates?", "facts: 40,000", "abstained", "abstained on an answerable question"]
    ]


def test_without_a_report_the_tab_says_how_to_make_one() -> None:
    assert summary_markdown(None) == NO_REPORT and metric_table(None) == [] and plots_html(None) == ""


def test_the_run_button_on_an_empty_index_writes_no_report(fresh_assistant: Assistant) -> None:
    with gr.Blocks() as page, gr.Tab("Evaluation"):
        build_evaluation_tab(fresh_assistant)
    ids = {getattr(block, "elem_id", None) for block in page.blocks.values()}
    assert {"evaluation-summary", "evaluation-plots", "evaluation-metrics", "evaluation-failures"} <= ids
    run = next(fn.fn for fn in page.fns.values() if fn.name == "run")
    outputs = run()
    assert len(outputs) == 4 and all(isinstance(o, dict) and o.get("__type__") == "update" for o in outputs)
    assert not latest_report_path(Path(fresh_assistant.settings.index_dir)).exists()
