"""Issue 21, item 8: what a delete leaves in Chroma's files, and the README's way to purge it.

Real cecot-rag commands on a real embedded Chroma store. The first check records Chroma 1.5's
behaviour (a deleted passage's text stays in its log until its vector index is next saved); if a
Chroma release starts purging on delete it fails, and the README's item 20 must be updated.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_settings
from helpers_server import server_env

SECRET = "The quarantined memo names locker 7731 as the drop point."


def holding(folder: Path, text: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def cecot_rag(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cecot_rag.cli", *args],
        env=server_env(tmp),
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_a_deleted_documents_text_stays_in_chroma_until_the_index_is_rebuilt(tmp_path: Path) -> None:
    make_settings(tmp_path)  # copies the bundled documents beside the index
    memo = tmp_path / "memo.md"
    memo.write_text(f"# Quarantined memo\n\n{SECRET}\n", encoding="utf-8")
    assert cecot_rag(tmp_path, "ingest", str(tmp_path / "documents"), str(memo)).returncode == 0
    listed = json.loads(cecot_rag(tmp_path, "docs", "--json").stdout)
    memo_id = next(d["document_id"] for d in listed if d["title"] == "Quarantined memo")
    assert cecot_rag(tmp_path, "docs", "delete", memo_id).returncode == 0
    index = tmp_path / "index"
    assert [p.name for p in holding(index, SECRET)] == ["chroma.sqlite3"], "Chroma's log keeps the text"

    rebuilt = cecot_rag(tmp_path, "index", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    for moved in index.glob("chroma.broken-*"):
        shutil.rmtree(moved)
    assert holding(index, SECRET) == []
    titles = [d["title"] for d in json.loads(cecot_rag(tmp_path, "docs", "--json").stdout)]
    assert "Quarantined memo" not in titles and titles
