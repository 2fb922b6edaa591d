"""`cecot-rag eval --check-set`: a set validated without running it, against a corpus when one is given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cecot_rag.cli import main

CORPUS = "# Harbour\n\nThe old harbour was rebuilt in 1962 after the storm.\nFerries leave every hour.\n"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "harbour.md").write_text(CORPUS, encoding="utf-8")
    return folder


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


CLEAN = [
    {
        "id": "rebuilt",
        "question": "When was the harbour rebuilt?",
        "expected_facts": ["1962"],
        "reference_contexts": ["The old harbour was rebuilt in 1962 after the storm."],
    },
    {"id": "moon", "question": "How far is the moon?", "answerable": False},
]


def test_a_clean_set_exits_0_and_says_what_was_checked(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _jsonl(tmp_path / "set.jsonl", CLEAN)
    assert main(["eval", "--check-set", str(path), "--corpus", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "2 cases" in out and "no problems" in out and "skipped" not in out


def test_every_problem_is_listed_and_the_exit_status_is_1(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        *CLEAN,
        {"id": "typo", "question": "Ferries?", "expectedfacts": ["hour"]},
        {"id": "bare", "question": "Is it open?"},
        {"id": "rebuilt", "question": "Again?", "expected_facts": ["1962"]},
        {
            "id": "elsewhere",
            "question": "Who rebuilt it?",
            "expected_facts": ["the navy|navy"],
            "reference_contexts": ["The navy rebuilt the harbour."],
            "history": [{"role": "system", "content": "be brief"}],
        },
        {
            "id": "follow",
            "question": "And the ferries?",
            "expected_facts": ["every hour"],
            "history": [{"role": "user", "content": "When was the harbour rebuilt?"}],
        },
    ]
    path = _jsonl(tmp_path / "set.jsonl", records)
    assert main(["eval", "--check-set", str(path), "--corpus", str(corpus)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:3: unknown field 'expectedfacts' (did you mean 'expected_facts'?)" in out
    assert f"{path}:4: case 'bare' has nothing to check" in out
    assert f"{path}:5: duplicate case id 'rebuilt' (first on line 1)" in out
    assert f"{path}:6: history turn 1" in out
    assert "follow" not in out  # a valid follow-up whose fact is in the corpus


def test_contexts_and_facts_missing_from_the_corpus_are_problems(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        *CLEAN,
        {
            "id": "elsewhere",
            "question": "Who rebuilt it?",
            "expected_facts": ["the navy|navy", "1962"],
            "reference_contexts": ["The navy rebuilt the harbour."],
        },
    ]
    path = _jsonl(tmp_path / "set.jsonl", records)
    assert main(["eval", "--check-set", str(path), "--corpus", str(corpus)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:3: case 'elsewhere': reference context 1 appears nowhere in the corpus" in out
    assert f"{path}:3: case 'elsewhere': expected fact 'the navy|navy' appears nowhere in the corpus" in out
    assert "'1962' appears" not in out and "'rebuilt'" not in out
    # Without a corpus the same set is clean, and the output says the corpus checks were skipped.
    assert main(["eval", "--check-set", str(path)]) == 0
    assert "corpus checks skipped" in capsys.readouterr().out


def test_the_sets_own_passages_are_the_corpus_with_corpus_from_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        {"user_input": "When?", "reference": "1962", "reference_contexts": ["It was rebuilt in 1962."]},
        {"user_input": "Who?", "reference": "the navy", "reference_contexts": ["The navy did it."]},
    ]
    path = _jsonl(tmp_path / "ragas.jsonl", records)
    assert main(["eval", "--check-set", str(path), "--corpus-from-set"]) == 0
    assert "no problems" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["--check-set", "no/such/set.jsonl"],
        ["--check-set", "eval/cecot.jsonl", "--corpus", "no/such/folder"],
        ["--check-set", "eval/cecot.jsonl", "--set", "eval/cecot.jsonl"],
    ],
)
def test_check_set_usage_errors_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    assert main(["eval", *argv]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_bundled_set_is_clean_against_the_bundled_documents(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    assert main(["eval", "--check-set", "eval/cecot.jsonl", "--corpus", "documents"]) == 0, (
        capsys.readouterr().out
    )
