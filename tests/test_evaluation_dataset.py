"""Reading evaluation sets (ours, RAGAS style, amnesty_qa style), and the reports made from runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cecot_rag.evaluation.comparison import compare
from cecot_rag.evaluation.dataset import (
    EvalSetError,
    gold_chunk,
    load_set,
    project_threshold_items,
    resolve_set_path,
)
from cecot_rag.evaluation.metrics import METRICS, fact_present, parse_thresholds
from cecot_rag.evaluation.report import format_table, to_html
from conftest import shared_file

ROOT = Path(__file__).resolve().parent.parent


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def test_the_bundled_set_loads_with_its_follow_ups_and_unanswerable_cases() -> None:
    bundled = load_set(resolve_set_path(None))
    assert bundled.format == "cecot" and len(bundled.cases) >= 40
    assert sum(not c.answerable for c in bundled.cases) >= 8
    assert any(c.history for c in bundled.cases)
    capacity = next(c for c in bundled.cases if c.id == "capacity")
    assert capacity.expected_facts == ["40,000|40000|40 000"]


def test_the_project_thresholds_name_known_metrics() -> None:
    thresholds = parse_thresholds(project_threshold_items())
    assert thresholds and set(thresholds) <= set(METRICS)


def test_ragas_records_become_cases_with_their_contexts(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "ragas.jsonl",
        [
            {"user_input": "Who?", "reference": "Someone.", "reference_contexts": ["Someone did it."]},
            {"user_input": "Where?", "reference": "", "reference_contexts": []},
        ],
    )
    loaded = load_set(path)
    assert loaded.format == "ragas"
    first, second = loaded.cases
    assert (first.id, first.question, first.reference_answer) == ("case-1", "Who?", "Someone.")
    assert first.reference_contexts == ["Someone did it."] and first.answerable
    assert not second.answerable
    assert loaded.passages() == ["Someone did it."]


def test_amnesty_records_take_the_chunk_closest_to_the_ground_truth_as_gold(tmp_path: Path) -> None:
    chunks = ["Filler about nothing in particular.", "The ruling restricted abortion access in many states."]
    path = tmp_path / "amnesty.json"
    path.write_text(
        json.dumps(
            [
                {
                    "input": "What did the ruling do?",
                    "relevant_chunks": chunks,
                    "ground_truth": "It restricted abortion access.",
                }
            ]
        ),
        encoding="utf-8",
    )
    loaded = load_set(path)
    assert loaded.format == "amnesty_qa"
    assert loaded.cases[0].reference_contexts == [chunks[1]]
    assert loaded.passages() == chunks
    assert gold_chunk([], "anything") is None


def test_the_shared_amnesty_qa_set_reads_unchanged() -> None:
    loaded = load_set(shared_file("benchmarks/amnesty_qa/amnesty_qa.json"))
    assert loaded.format == "amnesty_qa" and len(loaded.cases) == 20
    for case in loaded.cases:
        assert case.reference_contexts[0] in case.set_passages
    assert 20 < len(loaded.passages()) <= 60


SQUAD_CONTEXT = (
    "Complexity theory classifies problems by difficulty. The class P holds problems solved in "
    "polynomial time. Whether P equals NP is open."
)


def _squad_file(tmp_path: Path) -> Path:
    qas = [
        {
            "id": "q-p",
            "question": "Which class holds problems solved in polynomial time?",
            "answers": [
                {"text": "The class P", "answer_start": 53},
                {"text": "P", "answer_start": 63},
                {"text": "The class P", "answer_start": 53},
            ],
            "is_impossible": False,
        },
        {
            "id": "q-pipe",
            "question": "What is open?",
            "answers": [
                {"text": "P | NP", "answer_start": 999},
                {"text": "Whether P equals NP", "answer_start": 107},
            ],
            "is_impossible": False,
        },
        {
            "id": "q-impossible",
            "question": "Which class holds problems solved in exponential time?",
            "answers": [],
            "plausible_answers": [{"text": "The class P", "answer_start": 53}],
            "is_impossible": True,
        },
    ]
    data = {
        "version": "v2.0",
        "data": [
            {
                "title": "Complexity",
                "paragraphs": [
                    {"context": SQUAD_CONTEXT, "qas": qas},
                    {"context": "A second paragraph without questions of its own.", "qas": []},
                ],
            }
        ],
    }
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_squad_questions_become_cases_with_their_paragraph_as_corpus(tmp_path: Path) -> None:
    loaded = load_set(_squad_file(tmp_path))
    assert loaded.format == "squad"
    by_id = {c.id: c for c in loaded.cases}
    assert list(by_id) == ["q-p", "q-pipe", "q-impossible"]
    answerable = by_id["q-p"]
    # Every distinct gold text is an alternative of the one expected fact.
    assert answerable.expected_facts == ["The class P|P"] and answerable.answerable
    # The reference context is the sentence where the answer starts, verbatim.
    assert answerable.reference_contexts == ["The class P holds problems solved in polynomial time."]
    assert answerable.set_passages == [SQUAD_CONTEXT]
    # A "|" inside a gold text is escaped, so it stays one alternative.
    piped = by_id["q-pipe"]
    assert piped.expected_facts == ["P \\| NP|Whether P equals NP"]
    assert fact_present(piped.expected_facts[0], "Is P | NP?")
    assert not fact_present(piped.expected_facts[0], "NP")
    assert piped.reference_contexts == ["Whether P equals NP is open."]
    impossible = by_id["q-impossible"]
    assert not impossible.answerable and not impossible.expected_facts and not impossible.reference_contexts
    # The corpus: each paragraph asked about, once.
    assert loaded.passages() == [SQUAD_CONTEXT]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"question": "ok?"}\n{not json}\n', r"bad\.jsonl:2: invalid JSON"),
        ('{"prompt": "what?"}\n', "unknown case format"),
        ('{"question": "q", "answerable": "yes"}\n', "'answerable' must be true or false"),
        ('{"question": "q", "answerable": false, "expected_facts": ["x"]}\n', "unanswerable case"),
        (
            '{"id": "a", "question": "q", "expected_facts": ["x"]}\n'
            '{"id": "a", "question": "r", "expected_facts": ["y"]}\n',
            r"bad\.jsonl:2: duplicate case id 'a' \(first on line 1\)",
        ),
        (
            '{"question": "q", "expected_facts": ["x"], "history": [{"role": "bot", "content": "x"}]}\n',
            r"bad\.jsonl:1: history turn 1",
        ),
        ("\n", "holds no cases"),
    ],
)
def test_a_broken_set_is_reported_with_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvalSetError, match=message):
        load_set(path)


def test_a_missing_set_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(EvalSetError, match="not found"):
        resolve_set_path(tmp_path / "nope.jsonl")


def _report(passed: dict[str, bool], fact_recall: float) -> dict:
    metrics = dict.fromkeys(METRICS)
    metrics.update(
        {"fact_recall": fact_recall, "hit_rate": 0.9, "latency_p50_ms": 100.0, "latency_p95_ms": 300.0}
    )
    return {
        "set": {"name": "demo", "path": "demo.jsonl", "format": "cecot", "cases": len(passed)},
        "started_at": "2025-01-01T00:00:00+00:00",
        "duration_s": 1.0,
        "settings": {"index": "tmp", "top_k": 5, "generator": "extractive"},
        "thresholds": {"fact_recall": 0.8},
        "metrics": metrics,
        "failed_thresholds": ["fact_recall"] if fact_recall < 0.8 else [],
        "cases": [
            {
                "id": case_id,
                "question": f"<script>alert('{case_id}')</script>",
                "answerable": True,
                "answer": "an answer",
                "answered": True,
                "expected_facts": ["fact"],
                "citations": [],
                "passed": ok,
                "reason": "" if ok else "missing: fact",
                "hit_rank": 1,
                "latency_ms": 100.0 + i * 50,
            }
            for i, (case_id, ok) in enumerate(passed.items())
        ],
        "baseline": None,
    }


def test_compare_gives_metric_deltas_and_the_cases_that_changed_outcome() -> None:
    before = _report({"a": True, "b": False, "gone": True}, 0.5)
    after = _report({"a": False, "b": True, "new": True}, 0.75)
    comparison = compare(after, before)
    assert comparison["metrics"]["fact_recall"]["delta"] == 0.25
    assert comparison["metrics"]["mrr"]["delta"] is None
    assert [(c["id"], c["before"], c["after"]) for c in comparison["changed"]] == [
        ("a", "passed", "failed"),
        ("b", "failed", "passed"),
    ]
    assert comparison["new_cases"] == ["new"] and comparison["removed_cases"] == ["gone"]
    table = format_table(after, comparison)
    assert "+0.250" in table and "2 case(s) changed outcome" in table


def test_the_text_table_shows_thresholds_and_failing_cases() -> None:
    table = format_table(_report({"a": True, "b": False}, 0.5))
    assert re.search(r"^fact_recall +0\.500 +>= 0\.800 +FAIL", table, re.MULTILINE)
    assert re.search(r"^hit_rate +0\.900$", table, re.MULTILINE)
    assert "1/2 cases passed." in table and "missing: fact" in table
    assert "Thresholds missed: fact_recall 0.500 is below its floor 0.800" in table


def test_the_html_report_is_self_contained_and_escapes_case_text() -> None:
    page = to_html(_report({"a": True, "b": False}, 0.5))
    assert page.count("<svg") == 2 and "Metrics against thresholds" in page and "Latency per question" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "src=" not in page and "href=" not in page and "http://www.w3.org/2000/svg" in page
    assert "Thresholds missed: fact_recall 0.500 is below its floor 0.800" in page
