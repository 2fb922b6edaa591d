"""The report's plots as inline SVG (no external assets, no plotting library): the 0..1 metrics as bars
(with the baseline, thresholds and the previous run when there are any) and the latency histogram.
"""

from __future__ import annotations

from typing import Any

from cecot_rag.evaluation.comparison import change_text
from cecot_rag.evaluation.metrics import METRICS, below_threshold
from cecot_rag.evaluation.texts import LABELS, Report

_OURS, _BASE, _FAIL, _INK, _GRID = "#2b6cb0", "#a0aec0", "#c53030", "#1a202c", "#e2e8f0"


def metrics_svg(report: Report, comparison: dict[str, Any] | None = None) -> str:
    """Horizontal bars of the 0..1 metrics: the baseline's beside ours, thresholds as red ticks and the
    previous run's value as a black tick, each in the legend only when the report has it."""
    names = [n for n in METRICS if not n.endswith("_ms") and report["metrics"].get(n) is not None]
    baseline = (report.get("baseline") or {}).get("metrics") or {}
    thresholds = report.get("thresholds") or {}
    previous = (comparison or {}).get("metrics") or {}
    label_w, bar_w, row_h, top = 170, 360, 30 if baseline else 22, 28
    height = top + row_h * len(names) + 24
    title = "Metrics against thresholds" if thresholds else "Metrics"
    legend = ["blue: cecot-rag"]
    legend += ["grey: baseline"] if baseline else []
    legend += ["red tick: threshold"] if thresholds else []
    legend += ["black tick: previous run"] if comparison else []
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 170}" height="{height}" '
        f'role="img" aria-label="{title}" font-family="sans-serif" font-size="12">',
        f'<text x="0" y="14" fill="{_INK}" font-weight="bold">{title}</text>',
        f'<text x="{label_w + bar_w + 166}" y="14" text-anchor="end" fill="#4a5568">'
        f"{', '.join(legend)}</text>",
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
        change = change_text(name, previous.get(name))
        shown = f"{value:.3f} ({change})" if change else f"{value:.3f}"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end" fill="{_INK}">{LABELS[name]}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{max(value, 0) * bar_w:.1f}" height="12" '
            f'fill="{_FAIL if failed else _OURS}"><title>{name}: {shown}</title></rect>'
        )
        parts.append(f'<text x="{label_w + value * bar_w + 4:.1f}" y="{y + 13}" fill="{_INK}">{shown}</text>')
        base = baseline.get(name)
        if base is not None:
            parts.append(
                f'<rect x="{label_w}" y="{y + 16}" width="{base * bar_w:.1f}" height="8" fill="{_BASE}">'
                f"<title>baseline {name}: {base:.3f}</title></rect>"
            )
        before = (previous.get(name) or {}).get("previous")
        if before is not None:
            x = label_w + before * bar_w
            parts.append(
                f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 18}" stroke="{_INK}" stroke-width="2">'
                f"<title>previous {name}: {before:.3f}</title></line>"
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
