"""The public evaluation API: `evaluate(set, assistant_or_corpus)` returning a report with one row per case.

    from cecot_rag.evaluation import evaluate
    report = evaluate("eval/cecot.jsonl", "documents")          # or an Assistant, or a list of cases
    frame = pandas.DataFrame(report.to_records())               # one row per case

The rows are flat (numbers, booleans and short texts), so they load straight into pandas and into
the CSV that `cecot-rag eval --csv` writes from the same function.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from cecot_rag.assistant import Assistant
from cecot_rag.evaluation.dataset import EvalCase, EvalSet, load_set, set_from_records
from cecot_rag.evaluation.metrics import parse_thresholds
from cecot_rag.evaluation.report import Report, expected_text, run_to_report
from cecot_rag.evaluation.runner import run_set, temporary_assistant
from cecot_rag.settings import Settings


class CaseRow(BaseModel):
    """One case of a run, flat: what was asked, what came back, its checks and why it failed."""

    id: str
    question: str
    history_turns: int
    answerable: bool
    answered: bool
    passed: bool
    reason: str
    expected: str
    answer: str
    hit_rank: int | None
    fact_recall: float | None
    first_quote_fact: bool | None
    answer_f1: float | None
    answer_recall: float | None
    citations: int
    supported_citations: int
    # The answer's decision: what decided (the scorer, or "retrieval"/"candidates" when there was
    # nothing to score), the best sentence's score and the threshold; answered == score >= threshold.
    decision_stage: str | None
    evidence_score: float | None
    decision_threshold: float | None
    latency_ms: float
    error: str | None


class EvalReport(BaseModel):
    """A run: the set, the settings it ran with, the metrics, thresholds missed, and one row per case."""

    set_name: str
    set_path: str
    set_format: str
    started_at: str
    duration_s: float
    settings: dict[str, Any]
    metrics: dict[str, float | None]
    thresholds: dict[str, float]
    failed_thresholds: list[str]
    rows: list[CaseRow]

    def to_records(self) -> list[dict[str, Any]]:
        """The rows as dicts: `pandas.DataFrame(report.to_records())`."""
        return [row.model_dump() for row in self.rows]

    @classmethod
    def from_report(cls, report: Report) -> EvalReport:
        return cls(
            set_name=report["set"]["name"],
            set_path=report["set"]["path"],
            set_format=report["set"]["format"],
            started_at=report["started_at"],
            duration_s=report["duration_s"],
            settings=report["settings"],
            metrics=report["metrics"],
            thresholds=report["thresholds"],
            failed_thresholds=report["failed_thresholds"],
            rows=[case_row(case) for case in report["cases"]],
        )


def case_row(case: Mapping[str, Any]) -> CaseRow:
    """A case of the JSON report as a flat row."""
    citations = case.get("citations") or []
    return CaseRow(
        id=case["id"],
        question=case["question"],
        history_turns=len(case.get("history") or []),
        answerable=case.get("answerable", True),
        answered=case.get("answered", False),
        passed=case.get("passed", False),
        reason=case.get("reason", ""),
        expected=expected_text(case),
        answer=case.get("answer", ""),
        hit_rank=case.get("hit_rank"),
        fact_recall=case.get("fact_recall"),
        first_quote_fact=case.get("first_quote_fact"),
        answer_f1=case.get("answer_f1"),
        answer_recall=case.get("answer_recall"),
        citations=len(citations),
        supported_citations=sum(1 for c in citations if c.get("supported")),
        decision_stage=case.get("decision_stage"),
        evidence_score=case.get("evidence_score"),
        decision_threshold=case.get("decision_threshold"),
        latency_ms=case.get("latency_ms", 0.0),
        error=case.get("error"),
    )


def write_csv(report: Report, path: Path) -> None:
    """One row per case, the columns of CaseRow."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(CaseRow.model_fields))
        writer.writeheader()
        writer.writerows(case_row(case).model_dump() for case in report["cases"])


def evaluate(
    eval_set: str | Path | EvalSet | Sequence[EvalCase | Mapping[str, Any]],
    target: Assistant | str | Path,
    *,
    top_k: int | None = None,
    generator: str | None = None,
    thresholds: Mapping[str, float] | None = None,
    settings: Settings | None = None,
) -> EvalReport:
    """Run a set on an Assistant, or on a fresh temporary index of a corpus folder.

    eval_set: a set file (any format `cecot-rag eval --set` reads), an EvalSet, or a list of cases
    (dicts in any of those formats, or EvalCase). Raises EvalSetError for a broken set and
    ValueError for an unknown metric or a corpus that is not a folder.
    """
    cases = _as_set(eval_set)
    limits = parse_thresholds(f"{name}={value}" for name, value in (thresholds or {}).items())
    if isinstance(target, Assistant):
        run = run_set(target, cases, top_k, generator)
    else:
        corpus = Path(target)
        if not corpus.is_dir():
            raise ValueError(f"corpus {corpus}: not a folder")
        with temporary_assistant(settings or Settings(), corpus) as assistant:
            assistant.ingest([corpus])
            run = run_set(assistant, cases, top_k, generator, index_label=f"temporary index of {corpus}")
    run.thresholds = limits
    return EvalReport.from_report(run_to_report(run))


def _as_set(value: str | Path | EvalSet | Sequence[EvalCase | Mapping[str, Any]]) -> EvalSet:
    if isinstance(value, EvalSet):
        return value
    if isinstance(value, str | Path):
        return load_set(value)
    return set_from_records(list(value))
