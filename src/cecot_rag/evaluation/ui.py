"""The web page's Evaluation tab: the latest report on the served index, and a button to run the set."""

from __future__ import annotations

import threading
from typing import Any

import gradio as gr

from cecot_rag.evaluation.dataset import load_set, project_threshold_items, resolve_set_path
from cecot_rag.evaluation.metrics import parse_thresholds
from cecot_rag.evaluation.report import (
    Report,
    expected_text,
    failing_cases,
    got_text,
    latency_svg,
    latest_report_path,
    metric_rows,
    metrics_svg,
    read_json,
    run_to_report,
    write_json,
)
from cecot_rag.evaluation.runner import run_set

NO_REPORT = (
    "No evaluation has been run on this index yet. Press **Run the bundled set** "
    "(about a minute per 20 questions on a small CPU) or run `cecot-rag eval` on the server."
)
_METRIC_COLUMNS = ["metric", "value", "threshold", "status"]
_FAILURE_COLUMNS = ["id", "question", "expected", "got", "why"]


def summary_markdown(report: Report | None) -> str:
    if report is None:
        return NO_REPORT
    failures = failing_cases(report)
    passed = len(report["cases"]) - len(failures)
    settings = report["settings"]
    lines = [
        f"**{report['set']['name']}**: {passed} of {len(report['cases'])} cases passed · "
        f"{report['started_at']} · top_k={settings.get('top_k')} · generator={settings.get('generator')}",
    ]
    if report.get("failed_thresholds"):
        lines.append(f"**Below threshold:** {', '.join(report['failed_thresholds'])}")
    return "\n\n".join(lines)


def plots_html(report: Report | None) -> str:
    if report is None:
        return ""
    style = "display:flex;flex-wrap:wrap;gap:2rem"
    return f'<div style="{style}">{metrics_svg(report)}{latency_svg(report)}</div>'


def metric_table(report: Report | None) -> list[list[str]]:
    if report is None:
        return []
    return [[row[c] for c in _METRIC_COLUMNS] for row in metric_rows(report)]


def failure_table(report: Report | None) -> list[list[str]]:
    if report is None:
        return []
    return [
        [c["id"], c["question"], expected_text(c), got_text(c), c.get("reason", "")]
        for c in failing_cases(report)
    ]


def build_evaluation_tab(assistant: Any) -> None:
    """Create the tab's components inside the caller's current Blocks/Tab context."""
    path = latest_report_path(assistant.settings.index_dir)
    running = threading.Lock()  # one evaluation at a time: it shares the CPU with every chat

    def latest() -> Report | None:
        try:
            return read_json(path)
        except ValueError:
            return None

    # Callables as values: Gradio calls them on every page load, so a report written by the
    # CLI since the server started shows without a restart.
    summary = gr.Markdown(lambda: summary_markdown(latest()), elem_id="evaluation-summary")
    plots = gr.HTML(lambda: plots_html(latest()), elem_id="evaluation-plots")
    metrics = gr.Dataframe(
        lambda: metric_table(latest()),
        headers=_METRIC_COLUMNS,
        label="Metrics",
        interactive=False,
        elem_id="evaluation-metrics",
    )
    failures = gr.Dataframe(
        lambda: failure_table(latest()),
        headers=_FAILURE_COLUMNS,
        label="Failing cases",
        interactive=False,
        wrap=True,
        elem_id="evaluation-failures",
    )
    run_button = gr.Button("Run the bundled set", variant="secondary", elem_id="evaluation-run")

    def run(progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 (Gradio's idiom)
        if not running.acquire(blocking=False):
            gr.Warning("An evaluation is already running; its report appears here when it ends.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            if assistant.store.is_empty():
                gr.Warning("The index holds no documents: add some on the Documents tab first.")
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            eval_set = load_set(resolve_set_path(None))
            total = len(eval_set.cases)
            progress(0, desc=f"0/{total} questions")

            def step(number: int, count: int, _: Any) -> None:
                progress(number / count, desc=f"{number}/{count} questions")

            run = run_set(assistant, eval_set, progress=step)
            run.thresholds = parse_thresholds(project_threshold_items())
            report = run_to_report(run)
            write_json(report, path)
        except Exception as exc:  # the page shows a message, never a traceback
            gr.Warning(f"The evaluation failed: {exc}")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        finally:
            running.release()
        return summary_markdown(report), plots_html(report), metric_table(report), failure_table(report)

    run_button.click(run, outputs=[summary, plots, metrics, failures], concurrency_limit=1)
