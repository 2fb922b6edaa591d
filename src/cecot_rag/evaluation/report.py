"""Evaluation reports: the JSON record of a run, a text table and a self-contained HTML page.

Every format is rendered from the JSON record, so the CLI, the HTML file and the web page's
Evaluation tab show the same figures (wording in texts.py, comparisons in comparison.py, plots in
plots.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from cecot_rag.evaluation.comparison import change_text, format_comparison
from cecot_rag.evaluation.metrics import LOWER_IS_BETTER, METRICS, below_threshold
from cecot_rag.evaluation.plots import latency_svg, metrics_svg
from cecot_rag.evaluation.runner import EvalRun
from cecot_rag.evaluation.texts import (
    LABELS,
    Report,
    clip,
    expected_text,
    format_value,
    got_text,
    history_text,
    threshold_misses,
)


def latest_report_path(index_dir: Path) -> Path:
    """Where the latest run on an index is kept for the web page's Evaluation tab."""
    return index_dir / "eval" / "latest.json"


def run_to_report(run: EvalRun) -> Report:
    """The JSON record of a run: {"metrics", "cases", "settings", ...}; stable keys for --compare."""
    cases = []
    for result in run.cases:
        case = asdict(result)
        case["supported_citations"] = result.supported_citations
        cases.append(case)
    return {
        "set": {"name": run.set_name, "path": run.set_path, "format": run.set_format, "cases": len(cases)},
        "started_at": run.started_at,
        "duration_s": run.duration_s,
        "settings": run.settings,
        "thresholds": run.thresholds,
        "metrics": {name: _round(value) for name, value in run.metrics.items()},
        "failed_thresholds": failed_thresholds(run.metrics, run.thresholds),
        "cases": cases,
        "baseline": run.baseline,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def failed_thresholds(metrics: dict[str, float | None], thresholds: dict[str, float]) -> list[str]:
    return [name for name, limit in thresholds.items() if below_threshold(name, metrics.get(name), limit)]


def write_json(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)  # readers (the Evaluation tab) never see half a file


def read_json(path: Path) -> Report:
    """A report written by --json; ValueError with a readable message when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"no report at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the report {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise ValueError(f"{path} is not an evaluation report (no 'metrics')")
    data.setdefault("cases", [])
    return data


def metric_rows(report: Report, comparison: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """One row per metric: its value; the previous value and the change when comparing; threshold and
    verdict when the run has thresholds; the baseline's value when it ran."""
    thresholds = report.get("thresholds") or {}
    baseline = (report.get("baseline") or {}).get("metrics") or {}
    rows = []
    for name in METRICS:
        value = report["metrics"].get(name)
        row = {"metric": name}
        if comparison:
            entry = comparison["metrics"].get(name) or {}
            row["previous"] = format_value(name, entry.get("previous"))
        row["value"] = format_value(name, value)
        if comparison:
            row["change"] = change_text(name, comparison["metrics"].get(name))
        if thresholds:
            limit = thresholds.get(name)
            bound = "<= " if name in LOWER_IS_BETTER else ">= "
            row["threshold"] = "" if limit is None else bound + format_value(name, limit)
            row["status"] = "" if limit is None else ("FAIL" if below_threshold(name, value, limit) else "ok")
        if report.get("baseline"):
            row["baseline"] = format_value(name, baseline.get(name))
        rows.append(row)
    return rows


def failing_cases(report: Report) -> list[dict[str, Any]]:
    return [c for c in report["cases"] if not c.get("passed")]


def format_table(
    report: Report, comparison: dict[str, Any] | None = None, width: int = 110, verbose: bool = False
) -> str:
    """The console report: metrics (against thresholds, the baseline, the previous run), then the
    failing cases; verbose shows whole answers instead of one line each."""
    rows = metric_rows(report, comparison)
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(r.get(c, "")) for r in rows)) for c in columns}
    lines = [
        f"Evaluation of {report['set']['name']} ({report['set']['cases']} cases, {report['set']['format']}) "
        f"on {report['settings'].get('index', '?')}, top_k={report['settings'].get('top_k')}, "
        f"generator={report['settings'].get('generator')}",
        "  ".join(c.ljust(widths[c]) for c in columns).rstrip(),
        "  ".join("-" * widths[c] for c in columns),
    ]
    lines += ["  ".join(r.get(c, "").ljust(widths[c]) for c in columns).rstrip() for r in rows]
    failures = failing_cases(report)
    passed = len(report["cases"]) - len(failures)
    lines.append(f"\n{passed}/{len(report['cases'])} cases passed.")
    if failures:
        lines.append("Failing cases:")

    def shown(text: str) -> str:
        return " ".join(text.split()) if verbose else clip(text, width - 14)

    for case in failures:
        lines.append(f"- [{case['id']}] {case['question']}")
        if case.get("history"):
            lines.append("    " + shown(history_text(case)))
        lines.append("    expected: " + shown(expected_text(case)))
        lines.append("    got:      " + shown(got_text(case)))
        lines.append(f"    why:      {case.get('reason', '')}")
    if comparison:
        lines.append(format_comparison(comparison))
    misses = threshold_misses(report)
    if misses:
        lines.append("Thresholds missed: " + "; ".join(misses))
    return "\n".join(lines)


# -- HTML -------------------------------------------------------------------------------------
# Autoescaped: report values are text wherever they come from (a set's questions, model answers).
_TEMPLATES = Environment(
    loader=PackageLoader("cecot_rag.evaluation", "templates"),
    autoescape=True,
    keep_trailing_newline=True,
    undefined=StrictUndefined,
)


def to_html(report: Report, comparison: dict[str, Any] | None = None) -> str:
    """A self-contained HTML page: metrics (and the comparison), plots, failing cases, then every case."""
    rows = metric_rows(report, comparison)
    return _TEMPLATES.get_template("report.html.j2").render(
        report=report,
        comparison=comparison,
        rows=rows,
        columns=list(rows[0]) if rows else [],
        labels=LABELS,
        misses=threshold_misses(report),
        failures=failing_cases(report),
        expected_text=expected_text,
        got_text=got_text,
        history_text=history_text,
        # Built here from numbers and fixed labels only, so they can go in as markup.
        metrics_svg=Markup(metrics_svg(report, comparison)),
        latency_svg=Markup(latency_svg(report)),
    )
