"""The command line: ingest, ask, docs, serve, eval, bench, index, each calling Assistant or its module."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from cecot_rag.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class _Version(argparse.Action):
    """--version, reading the installed version only when asked (it takes a moment)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> NoReturn:
        from cecot_rag import __version__

        print(f"cecot-rag {__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cecot-rag",
        description=(
            "Answers questions about CECOT and security policy in Latin America from your documents, "
            "with every answer's sentences quoted verbatim from numbered, checkable sources."
        ),
        epilog="`cecot-rag serve` opens the chat page; `cecot-rag COMMAND --help` lists a command's options.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ingest = commands.add_parser("ingest", help="ingest files, folders or URLs (default: documents_dir)")
    ingest.add_argument("sources", nargs="*", help="paths or http(s) URLs")
    ingest.add_argument("--prune", action="store_true", help="remove documents whose source is gone")
    ingest.add_argument("--json", action="store_true", help="print the IngestReport as JSON")

    ask = commands.add_parser("ask", help="answer a question with numbered sources")
    ask.add_argument("question")
    ask.add_argument("--top-k", type=_positive_int, default=None)
    ask.add_argument(
        "--generator",
        default=None,
        help="extractive, local, llamacpp, openai or llama-index (a written answer; a note says why "
        "quoted sentences were shown instead)",
    )
    ask.add_argument("--json", action="store_true", help="print the Answer as JSON")

    docs = commands.add_parser("docs", help="list documents, or `docs delete ID`")
    docs.add_argument("action", nargs="?", choices=["list", "delete"], default="list")
    docs.add_argument("document_id", nargs="?")
    docs.add_argument("--json", action="store_true")

    serve = commands.add_parser("serve", help="the chat page and REST API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_positive_int, default=7860)
    serve.add_argument("--auth", default=None, help="USER:PASSWORD protecting page and API")
    serve.add_argument(
        "--auth-file",
        type=Path,
        default=None,
        help="a file whose first line is USER:PASSWORD (kept out of ps)",
    )
    serve.add_argument(
        "--log-level",
        choices=["critical", "error", "warning", "info", "debug"],
        default="warning",
        help="server log detail (default warning; info adds one access-log line per request)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="ADDRESSES",
        help="comma-separated reverse proxies whose X-Forwarded-For names the client "
        "(default: the forwarded_allow_ips setting; none)",
    )

    evaluate = commands.add_parser("eval", help="measure answer quality on an evaluation set")
    evaluate.add_argument(
        "--set", dest="eval_set", type=Path, default=None, help="JSONL or JSON set (default eval/cecot.jsonl)"
    )
    evaluate.add_argument(
        "--corpus", type=Path, default=None, help="ingest DIR into a temporary index instead"
    )
    evaluate.add_argument("--corpus-from-set", action="store_true", help="index the set's own passages")
    evaluate.add_argument("--top-k", type=_positive_int, default=None)
    evaluate.add_argument("--json", dest="json_out", type=Path, default=None, metavar="OUT")
    evaluate.add_argument("--html", dest="html_out", type=Path, default=None, metavar="OUT")
    evaluate.add_argument("--fail-under", nargs="+", default=[], metavar="METRIC=VALUE")
    evaluate.add_argument("--compare", type=Path, default=None, metavar="PREVIOUS.json")
    evaluate.add_argument("--baseline", action="store_true", help="also run a naive llama-index pipeline")
    evaluate.add_argument("--generator", default=None)
    evaluate.add_argument(
        "--check-set", type=Path, default=None, metavar="FILE", help="validate a set without running it"
    )
    evaluate.add_argument(
        "--csv", dest="csv_out", type=Path, default=None, metavar="OUT", help="one row per case"
    )
    evaluate.add_argument("-v", "--verbose", action="store_true", help="show whole answers of failing cases")

    bench = commands.add_parser("bench", help="speed benchmark beside a naive llama-index pipeline")
    bench.add_argument("--sizes", default="1000,10000,100000", help="corpus sizes in passages")
    bench.add_argument("--repeat", type=_positive_int, default=3)
    bench.add_argument(
        "--out", type=Path, default="benchmarks/results/latest", help="folder for JSON, Markdown, PNG"
    )
    bench.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")

    index = commands.add_parser("index", help="index maintenance")
    index.add_argument("action", choices=["rebuild", "check"])
    return parser


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except UsageError as exc:
        print(f"cecot-rag: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cecot-rag: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: no traceback reaches a user
        from cecot_rag.assistant import InvalidQuestion
        from cecot_rag.locking import IndexBusy
        from cecot_rag.store import IndexProblem as IndexError_

        if isinstance(exc, IndexBusy):
            print(f"cecot-rag: error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        if isinstance(exc, InvalidQuestion):
            print(f"cecot-rag: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, IndexError_):
            print(f"cecot-rag: index problem: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"cecot-rag: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _dispatch(args: argparse.Namespace) -> int:
    handler = {
        "ingest": _ingest,
        "ask": _ask,
        "docs": _docs,
        "serve": _serve,
        "eval": _eval,
        "bench": _bench,
        "index": _index,
    }[args.command]
    return handler(args)


# The commands with a module of their own get typed options; argparse stays in this file.
def _serve(args: argparse.Namespace) -> int:
    # At once, before the server's imports (several seconds on a loaded machine) print nothing.
    print(
        "cecot-rag: starting cecot-rag (importing the server and its libraries)", file=sys.stderr, flush=True
    )
    from cecot_rag.server.startup import ServeOptions, serve

    options = ServeOptions(
        host=args.host,
        port=args.port,
        auth=args.auth,
        auth_file=args.auth_file,
        log_level=args.log_level,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )
    return serve(options)


def _eval(args: argparse.Namespace) -> int:
    from cecot_rag.evaluation.command import EvalOptions, run_eval

    return run_eval(
        EvalOptions(
            eval_set=args.eval_set,
            corpus=args.corpus,
            corpus_from_set=args.corpus_from_set,
            top_k=args.top_k,
            json_out=args.json_out,
            html_out=args.html_out,
            fail_under=tuple(args.fail_under),
            compare=args.compare,
            baseline=args.baseline,
            generator=args.generator,
            check_set=args.check_set,
            csv_out=args.csv_out,
            verbose=args.verbose,
        )
    )


def _bench(args: argparse.Namespace) -> int:
    from cecot_rag.bench import BenchOptions, parse_sizes, run_bench

    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return run_bench(BenchOptions(sizes=sizes, repeat=args.repeat, out=args.out, quick=args.quick))


def _index(args: argparse.Namespace) -> int:
    from cecot_rag.maintenance import run_index_command

    return run_index_command(args.action)


def _assistant() -> Any:
    from cecot_rag import Assistant

    return Assistant()


def _ingest(args: argparse.Namespace) -> int:
    assistant = _assistant()
    sources = args.sources or [assistant.settings.documents_dir]
    with ProgressPrinter() as progress:
        report = assistant.ingest(sources, prune=args.prune, progress=progress.callbacks())
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        for failure in report.failed:
            print(f"{failure.source}: {failure.reason}", file=sys.stderr)
        print(report.summary())
    return EXIT_FAILED if report.failed else EXIT_OK


def _ensure_index(assistant: Any) -> None:
    if assistant.store.is_empty():
        print(f"The index is empty: ingesting {assistant.settings.documents_dir} first.", file=sys.stderr)
        with ProgressPrinter() as progress:
            report = assistant.ensure_ingested(progress=progress.callbacks())
        if report is not None:
            for failure in report.failed:
                print(f"{failure.source}: {failure.reason}", file=sys.stderr)
            print(report.summary(), file=sys.stderr)


def _ask(args: argparse.Namespace) -> int:
    from cecot_rag.assistant import validate_question
    from cecot_rag.errors import GeneratorUnavailable

    assistant = _assistant()
    validate_question(args.question, assistant.settings.max_question_chars)
    if args.generator and args.generator not in assistant.generators():
        available = ", ".join(assistant.generators())
        raise UsageError(f"generator {args.generator!r} is not available here; available: {available}")
    _ensure_index(assistant)
    try:
        answer = assistant.ask(args.question, top_k=args.top_k, generator=args.generator)
    except GeneratorUnavailable as exc:  # listed, but it cannot be built (e.g. a model part missing)
        raise UsageError(str(exc)) from None
    if args.json:
        print(answer.model_dump_json(indent=2))
        return EXIT_OK
    print(answer.text)
    if answer.notice:
        print(f"\nNote: {answer.notice}")
    if answer.citations:
        print("\nSources:")
        for citation in answer.citations:
            page = f", page {citation.passage.page}" if citation.passage.page else ""
            print(f"[{citation.number}] {citation.passage.title}{page} ({citation.passage.source})")
            print(f"    \u201c{citation.quote}\u201d")
    elif answer.passages:
        print("\nClosest passages:")
        for passage in answer.passages[:3]:
            print(f"- {passage.title}: {passage.text[:160]}\u2026")
    return EXIT_OK


def _docs(args: argparse.Namespace) -> int:
    assistant = _assistant()
    if args.action == "delete":
        if not args.document_id:
            raise UsageError("docs delete needs a document id (see `cecot-rag docs`)")
        from cecot_rag.assistant import DocumentNotFound

        try:
            assistant.delete(args.document_id)
        except DocumentNotFound as exc:
            print(f"cecot-rag: error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"deleted {args.document_id}")
        return EXIT_OK
    documents = assistant.documents()
    if args.json:
        print(json.dumps([d.model_dump() for d in documents], indent=2))
        return EXIT_OK
    if not documents:
        print("The index holds no documents. Run `cecot-rag ingest` to add some.")
    for doc in documents:
        passages = f"{doc.passages:5d} passage{'s' if doc.passages != 1 else ' '}"
        print(f"{doc.document_id}  {passages}  {doc.ingested_at}  {doc.title}\n    {doc.source}")
    return EXIT_OK


class ProgressPrinter:
    """A tqdm bar on a terminal; silent when stderr is not a tty (logs, CI, pipes)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.enabled = sys.stderr.isatty()
        self.embedded = 0  # the pipeline reports increments; the bar shows their running total

    def __enter__(self) -> ProgressPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def callbacks(self) -> Any:
        from cecot_rag.ingest.pipeline import Progress

        if not self.enabled:
            return None
        return Progress(on_source=self._on_source, on_passages=self._on_passages)

    def _on_source(self, source: str, index: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, unit="doc", file=sys.stderr, desc="ingest")
        elif index:
            self.bar.update(1)
        self.bar.set_postfix_str(source[-40:])

    def _on_passages(self, count: int) -> None:
        self.embedded += count
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.embedded} passages embedded")


if __name__ == "__main__":
    sys.exit(main())
