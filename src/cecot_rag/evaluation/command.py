"""`cecot-rag eval`: run a set, print the table, write JSON/HTML, compare, and gate on thresholds.

Exit status: 0 when every --fail-under threshold holds, 1 when one is missed (or nothing could be
indexed, or an answer contains the language model's prompt text), 2 for usage errors (unknown
metric, malformed value, missing set or corpus, a broken set, comparing runs of different sets).
`--check-set`: 0 when the set is clean, 1 when it has problems.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cecot_rag.answer.prompt import scaffolding_in
from cecot_rag.errors import EXIT_FAILED, EXIT_OK, UsageError
from cecot_rag.evaluation.api import write_csv
from cecot_rag.evaluation.check import check_set
from cecot_rag.evaluation.comparison import check_comparable, compare
from cecot_rag.evaluation.dataset import EvalSet, EvalSetError, load_set, resolve_set_path
from cecot_rag.evaluation.metrics import CaseResult, parse_thresholds
from cecot_rag.evaluation.report import (
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


@dataclass(frozen=True)
class EvalOptions:
    """What `cecot-rag eval` was asked to do; None means the default (see `cecot-rag eval --help`)."""

    eval_set: Path | None = None
    corpus: Path | None = None
    corpus_from_set: bool = False
    top_k: int | None = None
    json_out: Path | None = None
    html_out: Path | None = None
    fail_under: tuple[str, ...] = ()  # METRIC=VALUE items
    compare: Path | None = None
    baseline: bool = False
    generator: str | None = None
    check_set: Path | None = None  # validate this set without running it
    csv_out: Path | None = None
    verbose: bool = False  # whole answers in the failing cases


def run_eval(options: EvalOptions) -> int:
    if options.corpus and options.corpus_from_set:
        raise UsageError("--corpus and --corpus-from-set are alternatives: give one")
    if options.corpus and not options.corpus.is_dir():
        raise UsageError(f"--corpus {options.corpus}: not a folder")
    if options.check_set is not None:
        return _check(options)
    try:
        thresholds = parse_thresholds(options.fail_under)
        eval_set = load_set(resolve_set_path(options.eval_set))
        previous = read_json(options.compare) if options.compare else None
        if previous is not None:  # refused before the run, not after a minute of it
            check_comparable(((c.id, c.question) for c in eval_set.cases), previous, eval_set.name)
    except (ValueError, EvalSetError) as exc:
        raise UsageError(str(exc)) from None
    if options.corpus_from_set and not eval_set.passages():
        raise UsageError(f"{eval_set.path} carries no passages of its own for --corpus-from-set")

    with _assistant_for(options, eval_set) as (assistant, corpus, label):
        if options.generator and options.generator not in assistant.generators():
            available = ", ".join(assistant.generators())
            raise UsageError(f"generator {options.generator!r} is not available; available: {available}")
        if assistant.store.is_empty():
            print("cecot-rag: failed: the index holds no passages to evaluate against", file=sys.stderr)
            return EXIT_FAILED
        print(f"Evaluating {len(eval_set.cases)} cases of {eval_set.path} ...", file=sys.stderr)
        run = run_set(assistant, eval_set, options.top_k, options.generator, _print_progress, label)
        leaked = [case.id for case in run.cases if scaffolding_in(case.answer)]
        run.thresholds = thresholds
        if options.baseline:
            run.baseline = _run_baseline(assistant, eval_set, corpus, run.settings["top_k"])
        report = run_to_report(run)
        if label is None:  # the configured index: keep the report for the Evaluation tab
            kept = latest_report_path(assistant.settings.index_dir)
            write_json(report, kept)
            print(f"Report kept for the web page's Evaluation tab: {kept}", file=sys.stderr)

    # The cases were checked against the previous report before the run: compare cannot refuse.
    comparison = compare(report, previous) if previous else None
    print(format_table(report, comparison, verbose=options.verbose))
    _write_outputs(options, report, comparison)
    if leaked:  # our own prompt shown as an answer fails the run whatever the metrics say
        print(
            f"cecot-rag: failed: {len(leaked)} answer(s) contain the language model's prompt text: "
            + ", ".join(leaked),
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_FAILED if report["failed_thresholds"] else EXIT_OK


def _write_outputs(options: EvalOptions, report: dict[str, Any], comparison: dict[str, Any] | None) -> None:
    if options.json_out:
        write_json({**report, "comparison": comparison} if comparison else report, options.json_out)
        print(f"JSON report: {options.json_out}", file=sys.stderr)
    if options.csv_out:
        write_csv(report, options.csv_out)
        print(f"CSV rows: {options.csv_out}", file=sys.stderr)
    if options.html_out:
        options.html_out.parent.mkdir(parents=True, exist_ok=True)
        options.html_out.write_text(to_html(report, comparison), encoding="utf-8")
        print(f"HTML report: {options.html_out}", file=sys.stderr)


def _check(options: EvalOptions) -> int:
    """--check-set: every problem on stdout, one per line; 0 clean, 1 problems found."""
    if options.eval_set is not None:
        raise UsageError("--check-set FILE and --set are alternatives: give one")
    try:
        path = resolve_set_path(options.check_set)
    except EvalSetError as exc:
        raise UsageError(str(exc)) from None
    try:
        result = check_set(path, options.corpus, options.corpus_from_set)
    except EvalSetError as exc:  # the file is not a set at all: that is the problem found
        for problem in exc.problems:
            print(problem)
        return EXIT_FAILED
    for line in result.problems + result.notes:
        print(line)
    print(result.summary())
    return EXIT_FAILED if result.problems else EXIT_OK


@contextmanager
def _assistant_for(options: EvalOptions, eval_set: EvalSet) -> Iterator[tuple[Any, Path, str | None]]:
    """The Assistant to evaluate, the corpus folder behind it, and a label (None: the configured index)."""
    from cecot_rag import Assistant, Settings

    settings = Settings()
    if not (options.corpus or options.corpus_from_set):
        assistant = Assistant(settings)
        try:
            if assistant.store.is_empty():
                print(f"The index is empty: ingesting {settings.documents_dir} first.", file=sys.stderr)
                _report_ingest(assistant.ensure_ingested())
            yield assistant, settings.documents_dir, None
        finally:
            assistant.release_writer()
        return
    with (
        _corpus_folder(options, eval_set) as (corpus, label),
        temporary_assistant(settings, corpus) as assistant,
    ):
        print(f"Indexing {corpus} into a temporary index ...", file=sys.stderr)
        _report_ingest(assistant.ingest([corpus]))
        yield assistant, corpus, label


@contextmanager
def _corpus_folder(options: EvalOptions, eval_set: EvalSet) -> Iterator[tuple[Path, str]]:
    """The folder to index and its label: --corpus as given, or the set's passages in a temporary one."""
    if options.corpus is not None:
        yield options.corpus, f"temporary index of {options.corpus}"
        return
    with tempfile.TemporaryDirectory(prefix="cecot-rag-set-") as folder:
        count = write_set_corpus(eval_set, Path(folder))
        yield Path(folder), f"temporary index of the set's {count} passages"


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
    from cecot_rag.bench.baseline import NaiveLlamaIndexPipeline

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
