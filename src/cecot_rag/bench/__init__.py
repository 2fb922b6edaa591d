"""`cecot-rag bench`: how fast cecot-rag ingests and answers, beside a naive llama-index pipeline.

The lab, not the runtime: it needs the `bench` extra (llama-index's Chroma store and HuggingFace
embeddings for the naive pipeline, matplotlib for the plot). Importing this package needs none of
them, nor torch: run_bench checks the extra before measuring anything and raises MissingExtra
(a UsageError: one line, exit status 2) when it is missing. Modules: corpus (the synthetic corpus
and indexes grown from it), measure (the timings, memory and the whole run), report (JSON,
Markdown, PNG), baseline (the naive pipeline, also used by `cecot-rag eval --baseline`).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

from cecot_rag.errors import EXIT_OK, MissingExtra, UsageError

DEFAULT_SIZES = [1000, 10000, 100000]
QUICK_SIZES = [200, 1000]
# What the bench extra brings that the runtime lacks (see pyproject.toml).
EXTRA_MODULES = ("llama_index.embeddings.huggingface", "llama_index.vector_stores.chroma", "matplotlib")


@dataclass
class BenchOptions:
    """What `cecot-rag bench` was asked for. quick: QUICK_SIZES unless other sizes were given,
    and one repeat."""

    sizes: list[int]
    repeat: int
    out: Path
    quick: bool


def parse_sizes(text: str) -> list[int]:
    """The --sizes flag ("1000,10000") as sorted distinct positive whole numbers."""
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"--sizes expects comma-separated whole numbers, got {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise ValueError(f"--sizes expects positive whole numbers, got {text!r}")
    return sizes


def require_extra() -> None:
    """MissingExtra unless the bench extra imports: checked first, so a missing plotting library
    does not surface only after many minutes of measuring."""
    try:
        for module in EXTRA_MODULES:
            importlib.import_module(module)
    except ImportError:
        raise MissingExtra("cecot-rag bench", "bench") from None


def run_bench(options: BenchOptions) -> int:
    """Entry point of `cecot-rag bench`: measure, write the report into options.out, print the
    tables; the exit status. UsageError for bad options or a missing extra."""
    if not options.sizes or min(options.sizes) < 1:
        raise UsageError(f"--sizes expects positive whole numbers, got {options.sizes}")
    if options.repeat < 1:
        raise UsageError(f"--repeat expects a positive whole number, got {options.repeat}")
    require_extra()
    from cecot_rag.bench.measure import run
    from cecot_rag.bench.report import markdown

    sizes = sorted(set(options.sizes))
    repeat = options.repeat
    if options.quick:
        if sizes == DEFAULT_SIZES:
            sizes = QUICK_SIZES
        repeat = 1

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    result = run(sizes, repeat, options.out, options.quick, log)
    print(markdown(result))
    print(f"Wrote {options.out / 'bench.json'}, {options.out / 'bench.md'} and {options.out / 'latency.png'}")
    return EXIT_OK
