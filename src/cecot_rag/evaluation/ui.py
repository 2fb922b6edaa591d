"""The web page's Evaluation tab: the latest report, and a button to run the bundled set.

The set runs on the bundled documents in a fresh temporary index by default (the figures the
README and the CI gate quote, with the project's thresholds), or on this server's own index, uploads
included (no thresholds: they were set for the bundled corpus).
"""

from __future__ import annotations

import threading
from typing import Any

import gradio as gr
import pandas as pd

from cecot_rag.evaluation.dataset import load_set, project_threshold_items, resolve_set_path
from cecot_rag.evaluation.metrics import parse_thresholds
from cecot_rag.evaluation.plots import latency_svg, metrics_svg
from cecot_rag.evaluation.report import (
    failing_cases,
    latest_report_path,
    metric_rows,
    read_json,
    run_to_report,
    write_json,
)
from cecot_rag.evaluation.runner import run_set, temporary_assistant
from cecot_rag.evaluation.texts import Report, expected_text, got_text, history_text, threshold_misses

BUNDLED = "the bundled documents (a fresh temporary index)"
LIVE = "this server's index (uploads included)"
NO_REPORT = (
    "No evaluation has been run here yet. Press **Run the bundled set** (the 125 bundled questions "
    "take about 15 seconds on 2 CPU cores, indexing included) or run `cecot-rag eval` on the server."
)
_FAILURE_COLUMNS = ["id", "question", "expected", "got", "why"]
# Shares of the table's width: the answer ("got") needs the most room, then the question.
_FAILURE_WIDTHS = ["9%", "24%", "17%", "32%", "18%"]


def summary_markdown(report: Report | None) -> str:
    if report is None:
        return NO_REPORT
    failures = failing_cases(report)
    passed = len(report["cases"]) - len(failures)
    settings = report["settings"]
    index = str(settings.get("index", "?"))
    where = index if index.startswith("temporary index") else f"{LIVE}: {index}"
    lines = [
        f"**{report['set']['name']}**: {passed} of {len(report['cases'])} cases passed · "
        f"{report['started_at']} · top_k={settings.get('top_k')} · generator={settings.get('generator')}",
        f"Evaluated on {where}.",
    ]
    misses = threshold_misses(report)
    if misses:
        lines.append(f"**Thresholds missed:** {'; '.join(misses)}")
    return "\n\n".join(lines)


def plots_html(report: Report | None) -> str:
    if report is None:
        return ""
    style = "display:flex;flex-wrap:wrap;gap:2rem"
    return f'<div style="{style}">{metrics_svg(report)}{latency_svg(report)}</div>'


def metric_table(report: Report | None) -> pd.DataFrame:
    """The metrics, with threshold and status columns only when the run had thresholds."""
    if report is None:
        return pd.DataFrame(columns=["metric", "value"])
    return pd.DataFrame(metric_rows(report))


def failure_table(report: Report | None) -> pd.DataFrame:
    """The failing cases in full; a follow-up's question is preceded by the turns it follows."""
    if report is None:
        return pd.DataFrame(columns=_FAILURE_COLUMNS)
    rows = [
        [
            c["id"],
            "\n".join(filter(None, [history_text(c), c["question"]])),
            expected_text(c),
            got_text(c),
            c.get("reason", ""),
        ]
        for c in failing_cases(report)
    ]
    return pd.DataFrame(rows, columns=_FAILURE_COLUMNS)


def build_evaluation_tab(assistant: Any) -> None:
    """Create the tab's components inside the caller's current Blocks/Tab context."""
    path = latest_report_path(assistant.settings.index_dir)
    running = threading.Lock()  # one evaluation at a time: it shares the CPU with every chat

    def latest() -> Report | None:
        try:
            return read_json(path)
        except ValueError:
            return None

    def latest_summary() -> str:
        return summary_markdown(latest())

    def latest_plots() -> str:
        return plots_html(latest())

    def latest_metrics() -> pd.DataFrame:
        return metric_table(latest())

    def latest_failures() -> pd.DataFrame:
        return failure_table(latest())

    # Callables as values: Gradio calls them on every page load, so a report written by the
    # CLI since the server started shows without a restart. Named, they name their API endpoints.
    summary = gr.Markdown(latest_summary, elem_id="evaluation-summary")
    plots = gr.HTML(latest_plots, elem_id="evaluation-plots")
    metrics = gr.Dataframe(latest_metrics, label="Metrics", interactive=False, elem_id="evaluation-metrics")
    failures = gr.Dataframe(
        latest_failures,
        label="Failing cases",
        interactive=False,
        wrap=True,
        column_widths=_FAILURE_WIDTHS,
        max_height=900,
        elem_id="evaluation-failures",
    )
    corpus = gr.Radio(
        [BUNDLED, LIVE],
        value=BUNDLED,
        label="Run the bundled set on",
        info="This server's index holds what was uploaded here too, so its figures differ from the README's.",
        elem_id="evaluation-corpus",
    )
    run_button = gr.Button("Run the bundled set", variant="secondary", elem_id="evaluation-run")

    def run(choice: str, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 (Gradio's idiom)
        if not running.acquire(blocking=False):
            gr.Warning("An evaluation is already running; its report appears here when it ends.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            report = _run_set(assistant, choice, progress)
            if report is None:
                gr.Warning("This server's index holds no documents: add some on the Documents tab first.")
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            write_json(report, path)
        except Exception as exc:  # the page shows a message, never a traceback
            gr.Warning(f"The evaluation failed: {exc}")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        finally:
            running.release()
        return summary_markdown(report), plots_html(report), metric_table(report), failure_table(report)

    run_button.click(
        run,
        inputs=[corpus],
        outputs=[summary, plots, metrics, failures],
        concurrency_limit=1,
        api_name="run_eval",
    )


def _run_set(assistant: Any, choice: str, progress: gr.Progress) -> Report | None:
    """The bundled set on the chosen index; None when the live index is empty."""
    eval_set = load_set(resolve_set_path(None))
    total = len(eval_set.cases)

    def step(number: int, count: int, _: Any) -> None:
        progress(number / count, desc=f"{number}/{count} questions")

    if choice == LIVE:
        if assistant.store.is_empty():
            return None
        progress(0, desc=f"0/{total} questions")
        return run_to_report(run_set(assistant, eval_set, progress=step))
    documents = assistant.settings.documents_dir
    progress(0, desc=f"indexing {documents}")
    with temporary_assistant(assistant.settings, documents) as temporary:
        temporary.ingest([documents])
        label = f"temporary index of the bundled documents ({documents})"
        run = run_set(temporary, eval_set, progress=step, index_label=label)
    run.thresholds = parse_thresholds(project_threshold_items())
    return run_to_report(run)
