"""The command line as a new user meets it: `--help` describes the tool, `docs` counts in English."""

from __future__ import annotations

from pathlib import Path

import pytest

from cecot_rag.cli import main


def test_help_describes_the_tool_and_serve_has_a_log_level(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "Thin" not in text and "calls Assistant" not in text
    assert "Answers questions about CECOT" in text and "cecot-rag serve" in text
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "--log-level" in capsys.readouterr().out


def test_docs_says_one_passage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "note.md").write_text("The Zorblat annex has 412 cells.\n", encoding="utf-8")
    monkeypatch.setenv("CECOT_RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("CECOT_RAG_DOCUMENTS_DIR", str(documents))
    assert main(["ingest"]) == 0
    capsys.readouterr()
    assert main(["docs"]) == 0
    listing = capsys.readouterr().out
    assert " 1 passage " in listing and "passages" not in listing
