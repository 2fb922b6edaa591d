"""`cecot-rag eval`: run a set, print the table, write JSON/HTML, compare, and gate on thresholds.

Exit status: 0 when every --fail-under threshold holds, 1 when one is missed (or nothing could be
indexed), 2 for usage errors (unknown metric, malformed value, missing set or corpus).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from cecot_rag.errors import EXIT_FAILED, EXIT_OK, UsageError
from cecot_rag.evaluation.dataset import EvalSet, EvalSetError, load_set, resolve_set_path
from cecot_rag.evaluation.metrics import CaseResult, parse_thresholds
from cecot_rag.evaluation.report import (
    compare,
    format_table,
    latest_report_path,
    read_json,
    run_to_report,
    to_html,
    write_json,
)
from cecot_rag.evaluation.runner import (
    corpus_files,
    run_pipeline,
    run_set,
    temporary_assistant,
    write_set_corpus,
)


def run_eval(args: argparse.Namespace) -> int:
    try:
        thresholds = parse_thresholds(args.fail_under or [])
        eval_set = load_set(resolve_set_path(args.eval_set))
        previous = read_json(Path(args.compare)) if args.compare else None
    except (ValueError, EvalSetError) as exc:
        raise UsageError(str(exc)) from None
    if args.corpus and args.corpus_from_set:
        raise UsageError("--corpus and --corpus-from-set are alternatives: give one")
    if args.corpus and not Path(args.corpus).is_dir():
        raise UsageError(f"--corpus {args.corpus}: not a folder")
    if args.corpus_from_set and not eval_set.passages():
        raise UsageError(f"{eval_set.path} carries no passages of its own for --corpus-from-set")

    with _assistant_for(args, eval_set) as (assistant, corpus, label):
        if args.generator and args.generator not in assistant.generators():
            available = ", ".join(assistant.generators())
            raise UsageError(f"generator {args.generator!r} is not available; available: {available}")
        if assistant.store.is_empty():
            print("cecot-rag: failed: the index holds no passages to evaluate against", file=sys.stderr)
            return EXIT_FAILED
        print(f"Evaluating {len(eval_set.cases)} cases of {eval_set.path} ...", file=sys.stderr)
        run = run_set(assistant, eval_set, args.top_k, args.generator, _print_progress, label)
        run.thresholds = thresholds
        if args.baseline:
            run.baseline = _run_baseline(assistant, eval_set, corpus, run.settings["top_k"])
        report = run_to_report(run)
        if label is None:  # the configured index: keep the report for the Evaluation tab
            write_json(report, latest_report_path(assistant.settings.index_dir))

    comparison = compare(report, previous) if previous else None
    print(format_table(report, comparison))
    if args.json_out:
        out = Path(args.json_out)
        write_json({**report, "comparison": comparison} if comparison else report, out)
        print(f"JSON report: {out}", file=sys.stderr)
    if args.html_out:
        out = Path(args.html_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(to_html(report, comparison), encoding="utf-8")
        print(f"HTML report: {out}", file=sys.stderr)
    return EXIT_FAILED if report["failed_thresholds"] else EXIT_OK


@contextmanager
def _assistant_for(args: argparse.Namespace, eval_set: EvalSet) -> Iterator[tuple[Any, Path, str | None]]:
    """The Assistant to evaluate, the corpus folder behind it, and a label (None: the configured index)."""
    from cecot_rag import Assistant, Settings

    settings = Settings()
    if not (args.corpus or args.corpus_from_set):
        assistant = Assistant(settings)
        try:
            if assistant.store.is_empty():
                print(f"The index is empty: ingesting {settings.documents_dir} first.", file=sys.stderr)
                _report_ingest(assistant.ensure_ingested())
            yield assistant, settings.documents_dir, None
        finally:
            assistant.release_writer()
        return
    holder = (
        tempfile.TemporaryDirectory(prefix="cecot-rag-set-") if args.corpus_from_set else nullcontext(None)
    )
    with holder as folder:
        if folder is not None:
            corpus = Path(folder)
            count = write_set_corpus(eval_set, corpus)
            label = f"temporary index of the set's {count} passages"
        else:
            corpus = Path(args.corpus)
            label = f"temporary index of {corpus}"
        with temporary_assistant(settings, corpus) as assistant:
            print(f"Indexing {corpus} into a temporary index ...", file=sys.stderr)
            _report_ingest(assistant.ingest([corpus]))
            yield assistant, corpus, label


def _report_ingest(report: Any) -> None:
    if report is None:
        return
    for failure in report.failed:
        print(f"{failure.source}: {failure.reason}", file=sys.stderr)
    print(report.summary(), file=sys.stderr)


def _print_progress(number: int, total: int, result: CaseResult) -> None:
    outcome = "passed" if result.passed else "FAILED"
    print(f"  {number:3d}/{total}  {outcome:6s}  {result.latency_ms:6.0f} ms  {result.id}", file=sys.stderr)


def _run_baseline(assistant: Any, eval_set: EvalSet, corpus: Path, top_k: int) -> dict[str, Any]:
    """The naive llama-index pipeline on the same corpus and set, in a temporary folder."""
    from cecot_rag.baseline import NaiveLlamaIndexPipeline

    print("Running the naive llama-index baseline ...", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="cecot-rag-baseline-") as folder:
        pipeline = NaiveLlamaIndexPipeline(Path(folder), assistant.settings.embedding_model)
        nodes = pipeline.ingest(corpus_files(corpus))
        metrics, results = run_pipeline(pipeline, eval_set, top_k)
    return {
        "name": "naive llama-index (library defaults, same embedding model, answer = top passage)",
        "nodes": nodes,
        "metrics": {name: None if v is None else round(v, 4) for name, v in metrics.items()},
        "cases": [
            {"id": r.id, "passed": r.passed, "hit_rank": r.hit_rank, "fact_recall": r.fact_recall}
            for r in results
        ],
    }
