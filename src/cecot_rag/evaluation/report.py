"""Evaluation reports: the JSON record of a run, a text table, a comparison, and a self-contained HTML page.

Every format is rendered from the JSON record, so the CLI, the HTML file and the web page's
Evaluation tab show the same figures. Plots are inline SVG: no external assets, no plotting library.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from cecot_rag.evaluation.metrics import LOWER_IS_BETTER, METRICS, below_threshold
from cecot_rag.evaluation.runner import EvalRun

Report = dict[str, Any]

_LABELS = {
    "hit_rate": "hit rate",
    "mrr": "MRR",
    "fact_recall": "fact recall",
    "citation_precision": "citation precision",
    "citation_recall": "citation recall",
    "abstention_accuracy": "abstention accuracy",
    "false_abstention_rate": "false abstention rate",
    "answer_f1": "answer F1",
    "answer_recall": "answer recall",
    "latency_p50_ms": "latency p50 (ms)",
    "latency_p95_ms": "latency p95 (ms)",
}


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


def format_value(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if name.endswith("_ms") else f"{value:.3f}"


def metric_rows(report: Report) -> list[dict[str, str]]:
    """One row per metric: value, threshold and verdict, and the baseline's value when it ran."""
    thresholds = report.get("thresholds") or {}
    baseline = (report.get("baseline") or {}).get("metrics") or {}
    rows = []
    for name in METRICS:
        value = report["metrics"].get(name)
        limit = thresholds.get(name)
        status = ""
        if limit is not None:
            status = "FAIL" if below_threshold(name, value, limit) else "ok"
        bound = (
            "" if limit is None else ("<= " if name in LOWER_IS_BETTER else ">= ") + format_value(name, limit)
        )
        row = {
            "metric": name,
            "value": format_value(name, value),
            "threshold": bound,
            "status": status,
        }
        if report.get("baseline"):
            row["baseline"] = format_value(name, baseline.get(name))
        rows.append(row)
    return rows


def failing_cases(report: Report) -> list[dict[str, Any]]:
    return [c for c in report["cases"] if not c.get("passed")]


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


def format_table(report: Report, comparison: dict[str, Any] | None = None, width: int = 110) -> str:
    """The console report: metrics against thresholds (and baseline), then the failing cases."""
    rows = metric_rows(report)
    columns = ["metric", "value", "threshold", "status"] + (["baseline"] if report.get("baseline") else [])
    if comparison:
        columns.append("delta")
        for row in rows:
            delta = comparison["metrics"].get(row["metric"], {}).get("delta")
            row["delta"] = "" if delta is None else f"{delta:+.3f}"
    widths = {c: max(len(c), *(len(r.get(c, "")) for r in rows)) for c in columns}
    lines = [
        f"Evaluation of {report['set']['name']} ({report['set']['cases']} cases, {report['set']['format']}) "
        f"on {report['settings'].get('index', '?')}, top_k={report['settings'].get('top_k')}, "
        f"generator={report['settings'].get('generator')}",
        "  ".join(c.ljust(widths[c]) for c in columns),
        "  ".join("-" * widths[c] for c in columns),
    ]
    lines += ["  ".join(r.get(c, "").ljust(widths[c]) for c in columns) for r in rows]
    failures = failing_cases(report)
    passed = len(report["cases"]) - len(failures)
    lines.append(f"\n{passed}/{len(report['cases'])} cases passed.")
    if failures:
        lines.append("Failing cases:")
    for case in failures:
        lines.append(f"- [{case['id']}] {case['question']}")
        lines.append("    expected: " + _clip(expected_text(case), width - 14))
        lines.append("    got:      " + _clip(got_text(case), width - 14))
        lines.append(f"    why:      {case.get('reason', '')}")
    if comparison:
        lines.append(format_comparison_cases(comparison))
    if report.get("failed_thresholds"):
        lines.append("Below threshold: " + ", ".join(report["failed_thresholds"]))
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def compare(current: Report, previous: Report) -> dict[str, Any]:
    """Per-metric deltas and the cases whose outcome changed (matched by id)."""
    metrics = {}
    for name in METRICS:
        before, after = previous["metrics"].get(name), current["metrics"].get(name)
        delta = None if before is None or after is None else round(after - before, 4)
        metrics[name] = {"previous": before, "current": after, "delta": delta}
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
        "changed": changed,
        "new_cases": sorted(now - set(earlier)),
        "removed_cases": sorted(set(earlier) - now),
    }


def format_comparison_cases(comparison: dict[str, Any]) -> str:
    changed = comparison["changed"]
    lines = [f"\nCompared with the previous report: {len(changed)} case(s) changed outcome."]
    for item in changed:
        lines.append(f"- [{item['id']}] {item['before']} -> {item['after']}: {item['question']}")
    if comparison["new_cases"]:
        lines.append("New cases: " + ", ".join(comparison["new_cases"]))
    if comparison["removed_cases"]:
        lines.append("Removed cases: " + ", ".join(comparison["removed_cases"]))
    return "\n".join(lines)


# -- plots (inline SVG) -----------------------------------------------------------------------
_OURS, _BASE, _FAIL, _INK, _GRID = "#2b6cb0", "#a0aec0", "#c53030", "#1a202c", "#e2e8f0"


def metrics_svg(report: Report) -> str:
    """Horizontal bars of the 0..1 metrics, the baseline's beside ours, thresholds as red ticks."""
    names = [n for n in METRICS if not n.endswith("_ms") and report["metrics"].get(n) is not None]
    baseline = (report.get("baseline") or {}).get("metrics") or {}
    thresholds = report.get("thresholds") or {}
    label_w, bar_w, row_h, top = 170, 360, 30 if baseline else 22, 28
    height = top + row_h * len(names) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 70}" height="{height}" '
        f'role="img" aria-label="Metrics against thresholds" font-family="sans-serif" font-size="12">',
        f'<text x="0" y="14" fill="{_INK}" font-weight="bold">Metrics against thresholds</text>',
        f'<text x="{label_w + bar_w + 66}" y="14" text-anchor="end" fill="#4a5568">'
        f"blue: cecot-rag{', grey: baseline' if baseline else ''}, red tick: threshold</text>",
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + tick * bar_w
        parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 20}" stroke="{_GRID}"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" fill="#4a5568">{tick:g}</text>'
        )
    for i, name in enumerate(names):
        y = top + i * row_h
        value = report["metrics"][name]
        failed = name in thresholds and below_threshold(name, value, thresholds[name])
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end" fill="{_INK}">{_LABELS[name]}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{max(value, 0) * bar_w:.1f}" height="12" '
            f'fill="{_FAIL if failed else _OURS}"><title>{name}: {value:.3f}</title></rect>'
        )
        parts.append(
            f'<text x="{label_w + value * bar_w + 4:.1f}" y="{y + 13}" fill="{_INK}">{value:.3f}</text>'
        )
        base = baseline.get(name)
        if base is not None:
            parts.append(
                f'<rect x="{label_w}" y="{y + 16}" width="{base * bar_w:.1f}" height="8" fill="{_BASE}">'
                f"<title>baseline {name}: {base:.3f}</title></rect>"
            )
        if name in thresholds:
            x = label_w + thresholds[name] * bar_w
            parts.append(
                f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + row_h - 4}" stroke="{_FAIL}" '
                f'stroke-width="2"><title>threshold {thresholds[name]}</title></line>'
            )
    parts.append("</svg>")
    return "".join(parts)


def latency_svg(report: Report, bins: int = 12) -> str:
    """A histogram of per-question latency with the p50 and p95 marked."""
    latencies = [c["latency_ms"] for c in report["cases"] if not c.get("error")]
    width, height, left, bottom = 540, 200, 40, 170
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="Latency distribution" font-family="sans-serif" font-size="12">',
        f'<text x="0" y="14" fill="{_INK}" font-weight="bold">Latency per question (ms)</text>',
    ]
    if latencies:
        low, high = min(latencies), max(latencies)
        span = (high - low) or 1.0
        counts = [0] * bins
        for value in latencies:
            counts[min(int((value - low) / span * bins), bins - 1)] += 1
        plot_w, plot_h = width - left - 20, bottom - 30
        bar = plot_w / bins
        tallest = max(counts)
        for i, count in enumerate(counts):
            h = plot_h * count / tallest
            parts.append(
                f'<rect x="{left + i * bar + 1:.1f}" y="{bottom - h:.1f}" width="{bar - 2:.1f}" '
                f'height="{h:.1f}" fill="{_OURS}"><title>{count} question(s)</title></rect>'
            )
        parts.append(f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="{_INK}"/>')
        parts.append(f'<text x="{left}" y="{bottom + 16}" fill="#4a5568">{low:.0f}</text>')
        parts.append(
            f'<text x="{left + plot_w}" y="{bottom + 16}" text-anchor="end" fill="#4a5568">{high:.0f}</text>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{bottom - plot_h + 4}" text-anchor="end" '
            f'fill="#4a5568">{tallest}</text>'
        )
        for name, colour in (("latency_p50_ms", _INK), ("latency_p95_ms", _FAIL)):
            value = report["metrics"].get(name)
            if value is not None:
                x = left + (value - low) / span * plot_w
                parts.append(
                    f'<line x1="{x:.1f}" y1="{bottom - plot_h - 4}" x2="{x:.1f}" y2="{bottom}" '
                    f'stroke="{colour}" stroke-dasharray="4 3"/>'
                    f'<text x="{x + 3:.1f}" y="{bottom - plot_h + 6}" fill="{colour}">'
                    f"{name[8:11]} {value:.0f}</text>"
                )
    else:
        parts.append(f'<text x="{left}" y="{bottom / 2}" fill="#4a5568">no timed questions</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- HTML -------------------------------------------------------------------------------------
# Autoescaped: report values are text wherever they come from (a set's questions, model answers).
_TEMPLATES = Environment(
    loader=PackageLoader("cecot_rag.evaluation", "templates"),
    autoescape=True,
    keep_trailing_newline=True,
    undefined=StrictUndefined,
)


def to_html(report: Report, comparison: dict[str, Any] | None = None) -> str:
    """A self-contained HTML page: metrics, plots, failing cases, then every case."""
    rows = metric_rows(report)
    return _TEMPLATES.get_template("report.html.j2").render(
        report=report,
        comparison=comparison,
        rows=rows,
        columns=list(rows[0]) if rows else [],
        failures=failing_cases(report),
        expected_text=expected_text,
        got_text=got_text,
        # Built here from numbers and fixed labels only, so they can go in as markup.
        metrics_svg=Markup(metrics_svg(report)),
        latency_svg=Markup(latency_svg(report)),
    )
