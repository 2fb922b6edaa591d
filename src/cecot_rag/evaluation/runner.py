"""Running an evaluation set: ask every case, score it, and gather metrics (ours and a baseline's)."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cecot_rag.assistant import Assistant
from cecot_rag.evaluation.dataset import EvalCase, EvalSet
from cecot_rag.evaluation.metrics import CaseResult, aggregate, score_case
from cecot_rag.ingest.loaders import SUPPORTED_SUFFIXES
from cecot_rag.settings import Settings

CaseProgress = Callable[[int, int, CaseResult], None]


class RetrievalPipeline(Protocol):
    """What a comparison pipeline offers: passages for a question and an answer text."""

    def retrieve(self, question: str, top_k: int = 5) -> list[str]: ...

    def answer(self, question: str, top_k: int = 5) -> str: ...


@dataclass
class EvalRun:
    """One evaluation: the set, the settings it ran with, metrics and every case's result."""

    set_name: str
    set_path: str
    set_format: str
    settings: dict[str, Any]
    metrics: dict[str, float | None]
    cases: list[CaseResult]
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    duration_s: float = 0.0
    thresholds: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, Any] | None = None


def new_result(case: EvalCase) -> CaseResult:
    return CaseResult(
        id=case.id,
        question=case.question,
        answerable=case.answerable,
        answer="",
        answered=False,
        expected_facts=list(case.expected_facts),
        reference_answer=case.reference_answer,
        reference_contexts=list(case.reference_contexts),
        history=list(case.history),
    )


def evaluate_case(assistant: Assistant, case: EvalCase, top_k: int, generator: str | None) -> CaseResult:
    """Ask one case and score it; a failing question is recorded as an error, not raised."""
    result = new_result(case)
    started = time.perf_counter()
    try:
        answer = assistant.ask(case.question, history=case.history, top_k=top_k, generator=generator)
    except Exception as exc:  # one broken case must not lose the rest of the run
        result.latency_ms = (time.perf_counter() - started) * 1000
        result.error = f"{type(exc).__name__}: {exc}"
        score_case(result, [], [])
        return result
    result.latency_ms = (time.perf_counter() - started) * 1000
    result.answer, result.answered = answer.text, answer.answered
    if answer.decision is not None:
        result.decision_stage = answer.decision.stage
        result.evidence_score = answer.decision.score
        result.decision_threshold = answer.decision.threshold
    result.passages = [
        {"id": p.id, "title": p.title, "page": p.page, "score": p.score, "similarity": p.similarity}
        for p in answer.passages
    ]
    citations = [
        {
            "number": c.number,
            "quote": c.quote,
            "passage_id": c.passage.id,
            "title": c.passage.title,
            "passage_text": c.passage.text,
        }
        for c in answer.citations
    ]
    score_case(result, [p.text for p in answer.passages], citations)
    return result


def run_set(
    assistant: Assistant,
    eval_set: EvalSet,
    top_k: int | None = None,
    generator: str | None = None,
    progress: CaseProgress | None = None,
    index_label: str | None = None,
) -> EvalRun:
    """Ask every case of the set and aggregate the metrics."""
    k = top_k or assistant.settings.top_k
    started = time.perf_counter()
    results = []
    for number, case in enumerate(eval_set.cases, start=1):
        result = evaluate_case(assistant, case, k, generator)
        results.append(result)
        if progress:
            progress(number, len(eval_set.cases), result)
    return EvalRun(
        set_name=eval_set.name,
        set_path=str(eval_set.path),
        set_format=eval_set.format,
        settings=describe_settings(assistant, k, generator, index_label),
        metrics=aggregate(results),
        cases=results,
        duration_s=round(time.perf_counter() - started, 2),
    )


def run_pipeline(pipeline: RetrievalPipeline, eval_set: EvalSet, top_k: int) -> tuple[dict, list[CaseResult]]:
    """The same checks on a comparison pipeline that always answers with its top passage.

    It has no conversation memory, so a follow-up is asked joined to the previous user turn.
    """
    results = []
    for case in eval_set.cases:
        result = new_result(case)
        question = _with_previous_turn(case)
        started = time.perf_counter()
        passages = pipeline.retrieve(question, top_k)
        result.answer = passages[0] if passages else ""
        result.latency_ms = (time.perf_counter() - started) * 1000
        result.answered = bool(result.answer)
        result.passages = [{"text": text[:200]} for text in passages]
        score_case(result, passages, [])
        results.append(result)
    metrics = aggregate(results)
    # Without citations or abstention these are not the pipeline's properties: leave them out.
    for name in (
        "citation_precision",
        "citation_precision_passage",
        "citation_recall",
        "abstention_accuracy",
        "false_abstention_rate",
        "first_quote_fact_recall",
    ):
        metrics[name] = None
    return metrics, results


def _with_previous_turn(case: EvalCase) -> str:
    previous = [t["content"] for t in case.history if t["role"] == "user"]
    return f"{previous[-1]} {case.question}" if previous else case.question


def describe_settings(
    assistant: Assistant, top_k: int, generator: str | None, index_label: str | None
) -> dict[str, Any]:
    settings = assistant.settings
    return {
        "top_k": top_k,
        "generator": generator or settings.generator,
        "embedding_model": settings.embedding_model,
        "scorer": assistant.scorer.name,
        "abstain_threshold": assistant.path.threshold,
        "max_answer_sentences": settings.max_answer_sentences,
        "max_chunk_tokens": settings.max_chunk_tokens,
        "index": index_label or str(settings.chroma_url or settings.index_dir),
        "documents": len(assistant.documents()),
        "passages": assistant.store.passage_count(),
    }


def write_set_corpus(eval_set: EvalSet, folder: Path) -> int:
    """Write each unique passage the set carries as one .txt document; returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    passages = eval_set.passages()
    for number, text in enumerate(passages, start=1):
        slug = "-".join(re.findall(r"[a-z0-9]+", text.lower())[:6]) or "passage"
        (folder / f"{number:03d}-{slug}.txt").write_text(text + "\n", encoding="utf-8")
    return len(passages)


@contextmanager
def temporary_assistant(settings: Settings, corpus: Path) -> Iterator[Assistant]:
    """An Assistant on a fresh embedded index of corpus in a temporary folder, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="cecot-rag-eval-"))
    assistant = Assistant(
        settings.model_copy(
            update={"index_dir": folder / "index", "documents_dir": corpus, "chroma_url": None}
        )
    )
    try:
        yield assistant
    finally:
        assistant.release_writer()
        shutil.rmtree(folder, ignore_errors=True)


def corpus_files(folder: Path) -> list[Path]:
    """The documents of a corpus folder the baseline reads (the same suffixes ingestion takes)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
