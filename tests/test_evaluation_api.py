"""The public evaluation API and `eval --csv`: per-case rows that load into pandas (real model, Chroma)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from cecot_rag import Assistant
from cecot_rag.cli import main
from cecot_rag.evaluation import EvalReport, EvalSetError, evaluate
from conftest import make_settings

CORPUS = """# The Blue Lagoon prison

The Blue Lagoon prison can hold 1,200 inmates in its four wings.
It was opened in 1998 by the regional government after a long public debate.
Visitors may come on Sundays between ten and noon, and lawyers on any weekday.
"""

CASES = [
    {
        "id": "capacity",
        "question": "How many inmates can the Blue Lagoon prison hold?",
        "expected_facts": ["1,200|1200"],
        "reference_contexts": ["The Blue Lagoon prison can hold 1,200 inmates in its four wings."],
    },
    {
        "id": "opened-followup",
        "question": "When was it opened?",
        "expected_facts": ["1998"],
        "history": [
            {"role": "user", "content": "How many inmates can the Blue Lagoon prison hold?"},
            {"role": "assistant", "content": "1,200 inmates."},
        ],
    },
    {"id": "off-topic", "question": "How does photosynthesis work in plants?", "answerable": False},
]

ROW_COLUMNS = {
    "id",
    "question",
    "history_turns",
    "answerable",
    "answered",
    "passed",
    "reason",
    "answer",
    "hit_rank",
    "fact_recall",
    "answer_f1",
    "citations",
    "supported_citations",
    "evidence_score",
    "latency_ms",
    "error",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("api-corpus")
    (folder / "blue-lagoon.md").write_text(CORPUS, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def assistant(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    a = Assistant(make_settings(tmp_path_factory.mktemp("api-index"), documents_dir=corpus))
    a.ingest([corpus])
    yield a
    a.release_writer()


def test_evaluate_cases_on_an_assistant_gives_rows_that_load_into_pandas(assistant: Assistant) -> None:
    report = evaluate(CASES, assistant)
    assert isinstance(report, EvalReport)
    frame = pd.DataFrame(report.model_dump()["rows"])
    assert list(frame["id"]) == ["capacity", "opened-followup", "off-topic"]
    assert set(frame.columns) >= ROW_COLUMNS
    assert frame.set_index("id").loc["opened-followup", "history_turns"] == 2
    assert report.to_records() == report.model_dump()["rows"]
    assert report.metrics["abstention_accuracy"] == (0.0 if frame.iloc[2]["answered"] else 1.0)
    # Each row carries the evidence score the answerer compared with abstain_threshold.
    for row in report.rows:
        history = next(c.get("history", []) for c in CASES if c["id"] == row.id)
        assert row.evidence_score == assistant.ask(row.question, history=history).evidence_score


def test_evaluate_a_set_file_on_a_corpus_folder(tmp_path: Path, corpus: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in CASES), encoding="utf-8")
    report = evaluate(path, corpus, thresholds={"abstention_accuracy": 0.0})
    assert report.set_name == "set" and len(report.rows) == 3
    assert report.settings["documents"] == 1 and report.failed_thresholds == []
    assert report.rows[0].hit_rank == 1


def test_evaluate_refuses_a_broken_case(assistant: Assistant) -> None:
    with pytest.raises(EvalSetError, match="case 1: unknown field 'answerabel'"):
        evaluate([{"question": "q?", "answerabel": False}], assistant)


def test_eval_csv_writes_one_row_per_case(tmp_path: Path, corpus: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in CASES), encoding="utf-8")
    out = tmp_path / "rows.csv"
    assert main(["eval", "--set", str(path), "--corpus", str(corpus), "--csv", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame["id"]) == ["capacity", "opened-followup", "off-topic"]
    assert set(frame.columns) >= ROW_COLUMNS
