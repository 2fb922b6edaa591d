"""The command line as a user runs it: a fresh process per command, real model, real Chroma."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import DOCUMENTS

from cecot_rag import Assistant
from cecot_rag.cli import ProgressPrinter
from helpers_reliability import write_corpus


def run_cli(*args: str, index: Path, documents: Path = DOCUMENTS) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CECOT_RAG_")}
    env.update(CECOT_RAG_INDEX_DIR=str(index), CECOT_RAG_DOCUMENTS_DIR=str(documents))
    return subprocess.run(
        [sys.executable, "-m", "cecot_rag.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli") / "index"


def test_ask_on_an_empty_index_ingests_first_then_answers_with_sources(index_dir: Path) -> None:
    result = run_cli("ask", "How many inmates can CECOT hold?", index=index_dir)
    assert result.returncode == 0, result.stderr
    assert "The index is empty: ingesting" in result.stderr
    assert "1 added" in result.stderr
    answer, sources = result.stdout.split("\nSources:\n")
    assert "40,000 inmates" in answer and "[1]" in answer
    assert sources.startswith("[1] How has the establishment of CECOT shaped security policy")
    assert "40,000" in sources
    assert "Traceback" not in result.stderr


def test_ask_json_is_an_answer_object(index_dir: Path) -> None:
    result = run_cli("ask", "What did the mayor of Lima call the crackdown?", "--json", index=index_dir)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["answered"] is True
    assert "miracle" in answer["text"]
    citation = answer["citations"][0]
    assert citation["passage"]["text"][citation["quote_start"] : citation["quote_end"]] == citation["quote"]


def test_docs_lists_and_deletes(tmp_path: Path) -> None:
    index = tmp_path / "index"
    assert run_cli("ingest", "--json", index=index).returncode == 0
    listed = json.loads(run_cli("docs", "--json", index=index).stdout)
    assert [d["passages"] > 0 for d in listed] == [True]
    doc_id = listed[0]["document_id"]
    assert run_cli("docs", "delete", doc_id, index=index).stdout.strip() == f"deleted {doc_id}"
    assert json.loads(run_cli("docs", "--json", index=index).stdout) == []
    missing = run_cli("docs", "delete", doc_id, index=index)
    assert missing.returncode == 1 and f"no document with id '{doc_id}'" in missing.stderr


def test_ingest_reports_each_bad_file_and_exits_1(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    shutil.copytree(DOCUMENTS, folder)
    (folder / "empty.md").write_text("", encoding="utf-8")
    (folder / "blob.txt").write_bytes(b"\x00\xff" * 64)
    result = run_cli("ingest", str(folder), index=tmp_path / "index")
    assert result.returncode == 1
    assert f"{folder / 'empty.md'}: empty file" in result.stderr
    assert f"{folder / 'blob.txt'}: binary content, not text" in result.stderr
    assert result.stdout.strip() == "1 added, 0 updated, 0 unchanged, 0 removed, 2 failed; 8 passages written"
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [("bogus",), ("ask",), ("ask", "q", "--top-k", "zero"), ("docs", "delete"), ("ask", "")],
)
def test_usage_errors_print_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run_cli(*args, index=tmp_path / "index")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "error" in lines[0]


def test_version_is_the_installed_package_version(tmp_path: Path) -> None:
    result = run_cli("--version", index=tmp_path / "index")
    assert result.stdout.strip() == f"cecot-rag {importlib.metadata.version('cecot-rag')}"


def test_progress_bar_shows_the_running_total_of_embedded_passages(
    fresh_assistant: Assistant, tmp_path: Path
) -> None:
    write_corpus(tmp_path / "reports", documents=4)  # 180 sentences: more than one embedding batch
    printer = ProgressPrinter()
    printer.enabled = True  # the bar a terminal gets; stderr under pytest is not one
    increments: list[int] = []
    with printer:
        callbacks = printer.callbacks()

        def counted(count: int) -> None:
            increments.append(count)
            callbacks.on_passages(count)

        report = fresh_assistant.ingest(
            [tmp_path / "reports"], progress=dataclasses.replace(callbacks, on_passages=counted)
        )
    assert len(increments) > 1
    assert printer.bar.postfix == f"{report.passages} passages embedded"
