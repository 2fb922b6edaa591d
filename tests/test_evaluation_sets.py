"""Strict evaluation sets: unknown fields, cases with nothing to check, locations, BOM, multi-turn RAGAS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cecot_rag.evaluation.dataset import EvalSetError, load_set, read_set


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _jsonl(path: Path, records: list[dict]) -> Path:
    return _write(path, "\n".join(json.dumps(r) for r in records) + "\n")


GOOD = {"id": "ok", "question": "How many?", "expected_facts": ["40,000"]}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {"id": "x", "question": "q?", "answerabel": False},
            "unknown field 'answerabel' (did you mean 'answerable'?)",
        ),
        (
            {"id": "x", "question": "q?", "expectedfacts": ["a"]},
            "unknown field 'expectedfacts' (did you mean 'expected_facts'?)",
        ),
        (
            {"user_input": "q?", "refrence": "An answer."},
            "unknown field 'refrence' (did you mean 'reference'?)",
        ),
        (
            {"input": "q?", "relevant_chunks": ["c"], "ground_trut": "t"},
            "unknown field 'ground_trut' (did you mean 'ground_truth'?)",
        ),
    ],
)
def test_a_misspelled_field_is_an_error_naming_the_nearest_known_one(
    tmp_path: Path, record: dict, message: str
) -> None:
    path = _jsonl(tmp_path / "set.jsonl", [GOOD, record])
    with pytest.raises(EvalSetError) as caught:
        load_set(path)
    assert str(caught.value) == f"{path}:2: {message}"


def test_a_case_with_nothing_to_check_is_an_error_unless_it_says_so(tmp_path: Path) -> None:
    bare = {"id": "bare", "question": "Is it open?"}
    with pytest.raises(EvalSetError, match=r"set\.jsonl:1: case 'bare' has nothing to check"):
        load_set(_jsonl(tmp_path / "set.jsonl", [bare]))
    loaded = load_set(_jsonl(tmp_path / "set.jsonl", [{**bare, "nothing_to_check": True}]))
    assert loaded.cases[0].answerable and not loaded.cases[0].expected_facts
    # Unanswerable cases check the abstention: nothing more is needed.
    assert not load_set(_jsonl(tmp_path / "set.jsonl", [{**bare, "answerable": False}])).cases[0].answerable


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n")
    assert [c.id for c in load_set(path).cases] == ["ok"]
    array = tmp_path / "bom.json"
    array.write_bytes(b"\xef\xbb\xbf" + json.dumps([GOOD]).encode())
    assert [c.id for c in load_set(array).cases] == ["ok"]


def test_errors_in_a_json_array_name_the_line_where_the_record_starts(tmp_path: Path) -> None:
    records = [GOOD, {"id": "bad", "question": "q?", "answerabel": False}]
    path = _write(tmp_path / "set.json", json.dumps(records, indent=2))
    start = json.dumps(records, indent=2).splitlines().index("  {", 2) + 1
    with pytest.raises(EvalSetError, match=rf"set\.json:{start}: unknown field 'answerabel'"):
        load_set(path)
    wrapped = _write(tmp_path / "wrapped.json", json.dumps({"cases": records}, indent=2))
    with pytest.raises(EvalSetError, match=r"wrapped\.json:\d+: unknown field"):
        load_set(wrapped)


def test_a_pretty_printed_object_in_a_jsonl_file_gets_a_hint(tmp_path: Path) -> None:
    path = _write(tmp_path / "set.jsonl", json.dumps(GOOD, indent=2))
    with pytest.raises(EvalSetError) as caught:
        load_set(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:1: ")
    assert "this looks like pretty-printed JSON: one object per line, or use .json" in message


def test_every_problem_of_a_set_is_found_not_only_the_first(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "set.jsonl",
        [
            {"id": "a", "question": "q?", "answerabel": False},
            {"id": "b", "question": "r?"},
            {"id": "a", "question": "s?", "expected_facts": ["x"]},
            {
                "id": "c",
                "question": "t?",
                "expected_facts": ["y"],
                "history": [{"role": "bot", "content": "x"}],
            },
        ],
    )
    _, found = read_set(path)
    assert found == [
        f"{path}:1: unknown field 'answerabel' (did you mean 'answerable'?)",
        f"{path}:2: case 'b' has nothing to check: give expected_facts, reference_contexts or "
        'reference_answer, set "answerable": false, or say "nothing_to_check": true',
        f"{path}:4: history turn 1: each history turn needs role user|assistant and text content",
        f"{path}:3: duplicate case id 'a' (first on line 1)",
    ]


def test_ragas_multi_turn_samples_are_read_as_history_and_last_question(tmp_path: Path) -> None:
    sample = {
        "user_input": [
            {"type": "human", "content": "Where is CECOT?"},
            {"type": "ai", "content": "In Tecoluca, El Salvador."},
            {"type": "human", "content": "How many inmates can it hold?"},
        ],
        "reference": "40,000 inmates.",
    }
    case = load_set(_jsonl(tmp_path / "multi.jsonl", [sample])).cases[0]
    assert case.question == "How many inmates can it hold?"
    assert case.history == [
        {"role": "user", "content": "Where is CECOT?"},
        {"role": "assistant", "content": "In Tecoluca, El Salvador."},
    ]
    assert case.answerable and case.reference_answer == "40,000 inmates."


def test_a_ragas_conversation_must_end_with_the_users_question(tmp_path: Path) -> None:
    sample = {"user_input": [{"type": "human", "content": "Hi"}, {"type": "ai", "content": "Hello"}]}
    with pytest.raises(EvalSetError, match=r"multi\.jsonl:1: a multi-turn 'user_input' must end"):
        load_set(_jsonl(tmp_path / "multi.jsonl", [sample]))
