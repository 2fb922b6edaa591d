"""The Evaluation tab: what it shows from the latest report, and its run button on an empty index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from cecot_rag import Assistant
from cecot_rag.evaluation.metrics import METRICS
from cecot_rag.evaluation.report import latest_report_path, read_json
from cecot_rag.evaluation.ui import (
    BUNDLED,
    LIVE,
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
    assert "1 of 2 cases passed" in summary_markdown(report)
    assert "fact_recall 0.500 is below its floor 0.600" in summary_markdown(report)
    assert plots_html(report).count("<svg") == 2
    table = metric_table(report)
    assert list(table.columns) == ["metric", "value", "threshold", "status"]
    rows = {row[0]: list(row) for row in table.itertuples(index=False)}
    assert rows["fact_recall"] == ["fact_recall", "0.500", ">= 0.600", "FAIL"]
    assert failure_table(report).values.tolist() == [
        ["capacity", "How many inmates?", "facts: 40,000", "abstained", "abstained on an answerable question"]
    ]


def test_without_thresholds_there_is_no_threshold_column_or_legend() -> None:
    report = {**_report(), "thresholds": {}, "failed_thresholds": []}
    assert list(metric_table(report).columns) == ["metric", "value"]
    assert "threshold" not in plots_html(report)


def test_a_follow_up_case_shows_its_history() -> None:
    report = _report()
    report["cases"][1]["history"] = [
        {"role": "user", "content": "Where is CECOT?"},
        {"role": "assistant", "content": "In Tecoluca."},
    ]
    question = failure_table(report).values.tolist()[0][1]
    assert question == "after: user: Where is CECOT? / assistant: In Tecoluca.\nHow many inmates?"


def test_without_a_report_the_tab_says_how_to_make_one() -> None:
    assert summary_markdown(None) == NO_REPORT and metric_table(None).empty and plots_html(None) == ""
    assert "minute" not in NO_REPORT


def _tab(assistant: Assistant) -> gr.Blocks:
    with gr.Blocks() as page, gr.Tab("Evaluation"):
        build_evaluation_tab(assistant)
    return page


def _run(page: gr.Blocks) -> Any:
    return next(fn.fn for fn in page.fns.values() if fn.name == "run")


def test_the_tab_says_which_index_it_evaluates_and_defaults_to_the_bundled_corpus(
    fresh_assistant: Assistant,
) -> None:
    page = _tab(fresh_assistant)
    blocks = {getattr(block, "elem_id", None): block for block in page.blocks.values()}
    assert {"evaluation-summary", "evaluation-plots", "evaluation-metrics", "evaluation-failures"} <= set(
        blocks
    )
    choice = blocks["evaluation-corpus"]
    assert choice.value == BUNDLED and set(choice.choices) == {(BUNDLED, BUNDLED), (LIVE, LIVE)}
    assert "uploads included" in LIVE


def test_the_run_button_on_an_empty_live_index_writes_no_report(fresh_assistant: Assistant) -> None:
    outputs = _run(_tab(fresh_assistant))(LIVE)
    assert len(outputs) == 4 and all(isinstance(o, dict) and o.get("__type__") == "update" for o in outputs)
    assert not latest_report_path(Path(fresh_assistant.settings.index_dir)).exists()


def test_the_bundled_corpus_is_evaluated_on_a_temporary_index_whatever_the_live_index_holds(
    fresh_assistant: Assistant,
) -> None:
    summary, _, metrics, _ = _run(_tab(fresh_assistant))(BUNDLED)
    report = read_json(latest_report_path(Path(fresh_assistant.settings.index_dir)))
    assert report["settings"]["index"].startswith("temporary index of")
    assert report["settings"]["documents"] == 1 and report["thresholds"]
    assert "the bundled documents" in summary
    assert fresh_assistant.store.is_empty()  # the live index was not touched
    assert list(metrics.columns) == ["metric", "value", "threshold", "status"]
