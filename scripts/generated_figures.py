"""Measure a generator beside the extractive answerer on one evaluation set, in one run and on one
index: the evaluation metrics of both (the `cecot-rag eval` code path), how many answerable
questions the model wrote (not the quoted fallback), the first written text and answer times, and
whether any answer holds prompt text. Prints a Markdown table with the machine's load average.

    python scripts/generated_figures.py --set eval/cecot.jsonl --corpus documents --sample 40
    python scripts/generated_figures.py \
        --set ../shared/benchmarks/squad2/computational_complexity_theory.json \
        --corpus-from-set --sample 40

--sample N asks a fixed-seed sample of N cases (the corpus is always the whole set's or folder's).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from cecot_rag import Answer, Settings
from cecot_rag.answer.generated import GeneratedAnswerer
from cecot_rag.answer.path import Found
from cecot_rag.answer.prompt import scaffolding_in
from cecot_rag.evaluation.dataset import load_set
from cecot_rag.evaluation.runner import run_set, temporary_assistant, write_set_corpus

METRICS = ("fact_recall", "citation_precision", "abstention_accuracy", "false_abstention_rate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", dest="eval_set", type=Path, required=True)
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--corpus-from-set", action="store_true")
    parser.add_argument("--generator", default="local")
    parser.add_argument("--sample", type=int, default=0, help="cases asked (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    eval_set = load_set(args.eval_set)
    cases = eval_set.cases
    if args.sample and args.sample < len(cases):
        cases = random.Random(args.seed).sample(cases, args.sample)
    asked = dataclasses.replace(eval_set, cases=cases)
    with tempfile.TemporaryDirectory() as folder:
        corpus = args.corpus
        if args.corpus_from_set:
            corpus = Path(folder) / "corpus"
            write_set_corpus(eval_set, corpus)
        # No pause after a failure: every question is put to the model, so a deadline costs one
        # answer here, not the next 30 s of answers (the pause is a serving policy, measured apart).
        with temporary_assistant(Settings(llm_retry_after=0), corpus) as assistant, _LoadSampler() as load:
            assistant.ingest([corpus])
            load_before = os.getloadavg()
            quoted = run_set(assistant, asked, generator="extractive")
            answerer = assistant.answerer(args.generator)
            assert isinstance(answerer, GeneratedAnswerer)
            started = time.monotonic()
            answerer.warm()
            warm_s = time.monotonic() - started
            timings = _time_answers(assistant, answerer)
            written = run_set(assistant, asked, generator=args.generator)
            load_after = os.getloadavg()
    label = answerer.label
    answerable = [c for c in written.cases if c.answerable]
    leaked = [c.id for run in (quoted, written) for c in run.cases if scaffolding_in(c.answer)]
    print(
        f"{eval_set.name}: {len(cases)} of {len(eval_set.cases)} cases (seed {args.seed}), "
        f"{sum(c.answerable for c in cases)} answerable; load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after, {load.summary()} while it ran; warm-up {warm_s:.0f} s"
    )
    print(f"\n| | extractive | {args.generator} |\n|---|---|---|")
    for name in METRICS:
        print(f"| {name} | {_fmt(quoted.metrics[name])} | {_fmt(written.metrics[name])} |")
    written_answerable = sum(1 for c in answerable if c.question in timings.written)
    print(f"| answerable answers written by {label} | – | {written_answerable}/{len(answerable)} |")
    print(
        f"| answers with prompt text | {sum(1 for r in leaked if r in {c.id for c in quoted.cases})} | "
        f"{len(leaked)} |"
    )
    print(
        f"| p50 / p95 answer time | {_ms(quoted.metrics['latency_p50_ms'])} / "
        f"{_ms(quoted.metrics['latency_p95_ms'])} | {_ms(written.metrics['latency_p50_ms'])} / "
        f"{_ms(written.metrics['latency_p95_ms'])} |"
    )
    firsts = sorted(timings.first.values())
    if firsts:
        print(f"| first written text p50 / p95 | at once | {_s(_pct(firsts, 50))} / {_s(_pct(firsts, 95))} |")
    print(f"\n({len(timings.written)} answers written; prompt text in: {', '.join(leaked) or 'none'})")
    print("quoted instead of written:", dict(timings.quoted.most_common()))
    extractive = {c.id: c for c in quoted.cases}
    for case in written.cases:  # where the written answer found fewer expected facts, both answers
        if case.answerable and case.fact_recall < extractive[case.id].fact_recall:
            print(
                f"\nfewer facts ({case.fact_recall:.2f} < {extractive[case.id].fact_recall:.2f}): "
                f"{case.question}\n  expected: {case.expected_facts}\n  quoted: {extractive[case.id].answer}"
                f"\n  written: {case.answer}"
            )


class _LoadSampler:
    """The 1-minute load average every 10 s while the run lasts, in a thread."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(10):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> _LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "not sampled"
        low, high = min(self.samples), max(self.samples)
        return f"median {statistics.median(self.samples):.1f} (min {low:.1f}, max {high:.1f})"


@dataclasses.dataclass
class _Timings:
    first: dict[str, float] = dataclasses.field(default_factory=dict)  # case question -> seconds
    written: set[str] = dataclasses.field(default_factory=set)  # questions the model answered
    quoted: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)  # why


def _time_answers(assistant: object, answerer: GeneratedAnswerer) -> _Timings:
    """Record, per question, the seconds from asking to the first written text."""
    timings = _Timings()
    prepare, stream = assistant.prepare, answerer.stream  # type: ignore[attr-defined]
    asked_at: dict[str, float] = {}

    def timed_prepare(question: str, *rest: object) -> Found:
        asked_at[question] = time.monotonic()
        return prepare(question, *rest)

    def timed_stream(found: Found) -> Iterator[str | Answer]:
        first = None
        for item in stream(found):
            if isinstance(item, Answer):
                if item.generator == answerer.label and item.answered:
                    timings.first[found.question.text] = first or 0.0
                    timings.written.add(found.question.text)
                elif item.answered:
                    timings.quoted[_reason(item.notice or "")] += 1
            elif first is None:
                first = time.monotonic() - asked_at[found.question.text]
            yield item

    assistant.prepare = timed_prepare  # type: ignore[attr-defined]
    answerer.stream = timed_stream  # type: ignore[method-assign]
    return timings


def _reason(notice: str) -> str:
    """A fallback's notice in a word or two."""
    for words, reason in (
        ("paused", "paused after a failure"),
        ("within", "deadline"),
        ("did not answer", "the model abstained"),
        ("None of the", "every sentence removed"),
    ):
        if words in notice:
            return reason
    return notice[:60]


def _pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _ms(value: float | None) -> str:
    return "–" if value is None else (f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms")


def _s(value: float) -> str:
    return f"{value:.1f} s"


if __name__ == "__main__":
    main()
