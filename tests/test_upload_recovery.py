"""The uploaded file follows the index after a writer is killed mid-ingest.

A new upload killed before its commit leaves no file once a writer starts again; a replacement
killed before its commit leaves the old file (the one the index holds), and one killed after its
commit record ends with the new file. Uploads are staged in uploads/.incoming/NAME and ingested
from there as uploads/NAME (cecot_rag.store.uploads); a `cecot-rag serve` killed mid-upload is
checked end to end.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cecot_rag import Assistant, Settings
from cecot_rag.faults import FAULT_ENV, FAULT_POINTS
from cecot_rag.maintenance import check_index
from cecot_rag.store.uploads import staged_path
from helpers_reliability import cli_env
from helpers_server import running_server

pytestmark = pytest.mark.slow

OLD = "# Zorblat annex\n\nThe Zorblat annex of the prison holds 412 cells built in 2031 near Tecoluca.\n"
NEW = OLD.replace("412 cells", "977 cells")
QUESTION = "How many cells does the Zorblat annex hold?"
BEFORE_COMMIT_RECORD = {"after-begin", "after-passages-written", "before-commit-record"}
# What the service does with an upload, in a process of its own that a fault point can kill:
# the writer starts (lock, then the store: recovery), then the file is staged and ingested.
UPLOADER = """
import sys
from pathlib import Path
from cecot_rag import Assistant, Settings
from cecot_rag.store.uploads import staged_path
index, name, text = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
assistant = Assistant(Settings(index_dir=index, documents_dir=index / "no-documents"))
assistant.claim_writer("serve")
assert assistant.store is not None
staged = staged_path(assistant.settings.uploads_dir / name)
staged.parent.mkdir(parents=True, exist_ok=True)
staged.write_text(text)
print(assistant.ingest([staged]).summary())
"""


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def upload(settings: Settings, text: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    extra = {FAULT_ENV: fault} if fault else {}
    return subprocess.run(
        [sys.executable, "-c", UPLOADER, str(settings.index_dir), "zorblat.md", text],
        env=cli_env(settings.index_dir, settings.documents_dir, **extra),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def restart_writer(settings: Settings) -> Assistant:
    """What `cecot-rag serve` does first: take the writer lock, then open the store."""
    assistant = Assistant(settings)
    assistant.claim_writer("serve")
    assert assistant.store is not None
    return assistant


def stop(assistant: Assistant) -> None:
    assistant.release_writer()
    assistant.store.close()


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_a_killed_replacement_leaves_the_file_of_the_committed_version(tmp_path: Path, point: str) -> None:
    settings = Settings(index_dir=tmp_path / "index", documents_dir=tmp_path / "documents")
    target = settings.uploads_dir / "zorblat.md"
    staged = staged_path(target)
    first = upload(settings, OLD)
    assert first.returncode == 0 and "1 added" in first.stdout, first.stderr
    assert target.read_text() == OLD and not staged.exists()

    killed = upload(settings, NEW, fault=point)
    assert killed.returncode == -9, killed.stderr
    committed_new = point not in BEFORE_COMMIT_RECORD
    assert target.read_text() == (NEW if point == "after-commit" else OLD)

    writer = restart_writer(settings)
    try:
        expected = NEW if committed_new else OLD
        assert target.read_text() == expected, "the file on disk does not follow the index"
        assert not staged.exists()
        [record] = writer.store.records_by_id().values()
        assert record.file_hash == sha(expected) and record.source == str(target.resolve())
        answer = writer.ask(QUESTION)
        assert ("977 cells" if committed_new else "412 cells") in answer.text
    finally:
        stop(writer)
    assert check_index(settings).ok


def test_a_killed_new_upload_leaves_no_file_once_a_writer_starts(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", documents_dir=tmp_path / "documents")
    target = settings.uploads_dir / "zorblat.md"
    assert upload(settings, NEW, fault="after-passages-written").returncode == -9
    assert staged_path(target).exists()
    writer = restart_writer(settings)
    try:
        assert writer.documents() == []
        assert sorted(p.name for p in target.parent.rglob("*") if p.is_file()) == []
    finally:
        stop(writer)


def test_serve_killed_during_an_upload_keeps_no_orphan_file_after_restart(tmp_path: Path) -> None:
    # Visit 1 of the fault point is the startup ingest of the bundled article; 2 is the upload.
    with running_server(tmp_path, fault="after-passages-written:2") as server:
        with pytest.raises(httpx.HTTPError):
            httpx.post(
                f"{server.base_url}/api/v1/documents",
                files={"file": ("zorblat.md", OLD.encode(), "text/markdown")},
                timeout=300,
            )
        assert server.process.wait(timeout=60) == -9
        uploads = server.index_dir / "uploads"
    with running_server(tmp_path) as restarted:
        titles = [d["title"] for d in httpx.get(f"{restarted.base_url}/api/v1/documents", timeout=60).json()]
        assert "Zorblat annex" not in titles and len(titles) == 1
        assert sorted(p.name for p in uploads.rglob("*") if p.is_file()) == []
        answer = httpx.post(f"{restarted.base_url}/api/v1/ask", json={"question": QUESTION}, timeout=300)
        assert "412" not in answer.json()["text"]
    # The serve start also removed the killed upload's passages (no ingest has run since).
    assert check_index(Settings(index_dir=tmp_path / "index", documents_dir=tmp_path / "documents")).ok
