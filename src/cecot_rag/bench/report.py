"""The benchmark's report: targets checked, the Markdown tables and the latency plot (PNG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cecot_rag.errors import MissingExtra


def growth_exponent(rows: list[dict[str, Any]], key: str = "ask_p50_ms") -> float | None:
    """Slope of log(latency) against log(passages) between the smallest and largest size."""
    if len(rows) < 2 or rows[0]["passages"] == rows[-1]["passages"]:
        return None
    first, last = rows[0], rows[-1]
    return round(float(np.log(last[key] / first[key]) / np.log(last["passages"] / first["passages"])), 3)


def targets(result: dict[str, Any]) -> dict[str, Any]:
    rows = result["latency"]
    at_10k = next((r for r in rows if r["passages"] >= 10_000), None)
    largest = rows[-1] if rows else None
    checks: dict[str, Any] = {
        "ingestion_at_most_1.2x_bare_encode": result["ingestion"]["project_over_bare"] <= 1.2,
        "ask_p50_at_most_2x_naive_retrieval": all(r["ask_over_naive_p50"] <= 2.0 for r in rows),
        "ask_p95_under_250ms_at_10k": None if at_10k is None else at_10k["ask_p95_ms"] < 250,
        "latency_sublinear": None if result["growth_exponent"] is None else result["growth_exponent"] < 1.0,
        "cold_ask_under_4s": result["cold_start"]["largest"]["seconds"] < 4.0,
        "serving_rss_under_1.5GB": result["rss"]["peak_rss_mb"] < 1536,
    }
    multilingual = result["models"][1:]
    if multilingual:  # issue 23: the multilingual model asks in at most twice MiniLM's p50
        checks["multilingual_ask_p50_at_most_2x_minilm"] = multilingual[0]["ask_en_p50_ms_over_minilm"] <= 2.0
    if largest is not None and largest["passages"] < 100_000:
        checks["note"] = f"largest size measured: {largest['passages']} passages"
    return checks


def markdown(result: dict[str, Any]) -> str:
    m, ing = result["machine"], result["ingestion"]
    lines = [
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['ram_gb']} GB RAM, Python {m['python']}; "
        f"load average at start {m['load_average_at_start']} (other jobs shared the machine when it "
        "was above the CPU count). "
        f"Run: {result['started']}, {result['duration_s']:.0f} s, repeat={result['repeat']}.",
        "",
        f"**Ingestion** ({ing['documents']} synthetic reports, {ing['megabytes']} MB of text; median):",
        "",
        "| pipeline | seconds | passages | passages/s | MB/min |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, key in [
        ("cecot-rag", "project"),
        ("naive llama-index", "naive_llama_index"),
        ("bare model encode (180-word pieces)", "bare_encode"),
    ]:
        r = ing[key]
        lines.append(
            f"| {name} | {r['seconds']} | {r['passages']} | {r['passages_per_s']} | {r['mb_per_min']} |"
        )
    b = result["bundled_ingestion"]
    lines += [
        f"| cecot-rag, bundled corpus | {b['seconds']} | {b['passages']} | {b['passages_per_s']} | |",
        "",
        f"cecot-rag / bare encode: **{ing['project_over_bare']}x**; "
        f"cecot-rag / naive: {ing['project_over_naive']}x.",
        "",
        *_models_table(result["models"], ing["documents"]),
        "**Question latency** (warm; the naive column is llama-index retrieval with no answer step):",
        "",
        "| passages | ask p50 ms | ask p95 ms | retrieve p50 ms | naive retrieve p50 ms | ask / naive | "
        "fact accuracy (ask) | naive top-passage accuracy |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["latency"]:
        lines.append(
            f"| {r['passages']} | {r['ask_p50_ms']} | {r['ask_p95_ms']} | {r['retrieve_p50_ms']} | "
            f"{r['naive_retrieve_p50_ms']} | {r['ask_over_naive_p50']}x | {r['fact_accuracy']} | "
            f"{r['naive_top_passage_accuracy']} |"
        )
    cold, rss = result["cold_start"], result["rss"]
    lines += [
        "",
        "Latency growth exponent (log-log slope of ask p50, smallest to largest size): "
        f"{result['growth_exponent']}.",
        "",
        f"**Cold start** `cecot-rag ask` (fresh process): bundled index {cold['bundled']['seconds']} s; "
        f"{cold['largest']['passages']} passages {cold['largest']['seconds']} s.",
        f"**Peak RSS** of a process that opened the {rss['passages']}-passage index and answered "
        f"{result['rss_questions']} questions: {rss['peak_rss_mb']} MB.",
        "",
        "**Targets**: "
        + ", ".join(
            f"{k}: {'pass' if v is True else 'FAIL' if v is False else v}"
            for k, v in result["targets"].items()
        ),
        "",
    ]
    return "\n".join(lines)


def _models_table(rows: list[dict[str, Any]], documents: int) -> list[str]:
    """The embedding models side by side (bench/models.py), ratios to MiniLM in brackets."""
    lines = [
        f"**Embedding models** (same run; the {documents} synthetic reports and the bundled article; "
        "CPU ms per text, median; ask on the bundled article, 6 English and 6 Spanish questions):",
        "",
        "| model | backend | load avg | query CPU ms | sentence CPU ms | ingest reports s | "
        "bundled ingest s | ask en p50/p95 ms | ask es p50/p95 ms |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:

        def cell(key: str, row: dict[str, Any] = row) -> str:
            ratio = row.get(f"{key}_over_minilm")
            return f"{row[key]} ({ratio}x)" if ratio is not None else str(row[key])

        lines.append(
            f"| {row['model']} | {row['backend']} | {row['load_average'][0]} | {cell('query_cpu_ms')} | "
            f"{cell('sentence_cpu_ms')} | {cell('ingest_seconds')} | {row['bundled_ingest_seconds']} | "
            f"{cell('ask_en_p50_ms')} / {row['ask_en_p95_ms']} | "
            f"{cell('ask_es_p50_ms')} / {row['ask_es_p95_ms']} |"
        )
    return [*lines, ""]


def plot(result: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra("cecot-rag bench", "bench") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["latency"]
    sizes = [r["passages"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label, style in [
        ("ask_p50_ms", "cecot-rag ask p50", "o-"),
        ("ask_p95_ms", "cecot-rag ask p95", "o--"),
        ("retrieve_p50_ms", "cecot-rag retrieve p50", "s-"),
        ("naive_retrieve_p50_ms", "naive llama-index retrieve p50", "^-"),
    ]:
        ax.plot(sizes, [r[key] for r in rows], style, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("passages in the index")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"Question latency, {result['machine']['cpus']} CPUs")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(result: dict[str, Any], out: Path) -> None:
    """bench.json (every figure), bench.md (the tables) and latency.png into out."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (out / "bench.md").write_text(markdown(result), encoding="utf-8")
    plot(result, out / "latency.png")
