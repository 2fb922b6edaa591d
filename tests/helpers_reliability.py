"""Reliability test helpers: a synthetic corpus, CLI subprocesses, index snapshots, Chroma servers."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cecot_rag import Settings
from cecot_rag.embedding import Embedder
from cecot_rag.store import PassageStore
from conftest import wait_for_http_ok

BIN = Path(sys.executable).parent
CLI = str(BIN / "cecot-rag")
CHROMA = str(BIN / "chroma")

_TOPICS = [
    ("Tecoluca", "the prison site in San Vicente"),
    ("habeas corpus", "petitions filed by relatives"),
    ("state of exception", "suspended constitutional guarantees"),
    ("Honduras", "a neighbouring government copying the model"),
    ("homicide rate", "official statistics published each month"),
    ("mass trials", "hearings with hundreds of defendants"),
]


def write_corpus(folder: Path, documents: int = 30, sentences: int = 45) -> list[Path]:
    """Small Markdown reports with distinct sentences, so every passage text is unique."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in range(documents):
        lines = [f"# Field report {d:02d}", ""]
        for s in range(sentences):
            topic, detail = _TOPICS[(d + s) % len(_TOPICS)]
            lines.append(
                f"Report {d} note {s} discusses {topic}, namely {detail}, as recorded by observer "
                f"number {d * 100 + s} during visit {s % 7} of the monitoring mission."
            )
        path = folder / f"report-{d:02d}.md"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def cli_env(index_dir: Path, documents_dir: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CECOT_RAG_")}
    env.update(
        CECOT_RAG_INDEX_DIR=str(index_dir),
        CECOT_RAG_DOCUMENTS_DIR=str(documents_dir or index_dir.parent / "documents"),
        HF_HUB_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
        RUST_BACKTRACE="0",
    )
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)


def sqlite_count(index_dir: Path, sql: str) -> int:
    """Count rows in the embedded index's sqlite file read-only (safe beside a live writer)."""
    path = index_dir / "chroma" / "chroma.sqlite3"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return 0


def pending_markers(index_dir: Path) -> int:
    return sqlite_count(index_dir, "SELECT count(*) FROM embeddings WHERE embedding_id LIKE 'pending:%'")


def passage_rows(index_dir: Path) -> int:
    return sqlite_count(index_dir, "SELECT count(*) FROM embeddings WHERE embedding_id LIKE '%:%:%'")


@dataclass
class Snapshot:
    """Everything in an index that must equal a clean ingest."""

    records: dict[str, tuple[str, int]]  # document id -> (version, passage count)
    passages: dict[str, str]  # passage id -> text
    passage_versions: dict[str, str]  # passage id -> version in its metadata
    pending: list[str]


def snapshot(settings: Settings) -> Snapshot:
    embedder = Embedder(settings.embedding_model)
    store = PassageStore(settings, embedder.model_name, embedder.dimension)
    try:
        records = {r.document_id: (r.version, r.passages) for r in store.records_by_id().values()}
        got = store.passages.get(include=["documents", "metadatas"])
        passages = dict(zip(got["ids"], got["documents"] or [], strict=True))
        versions = {
            pid: str((meta or {}).get("version"))
            for pid, meta in zip(got["ids"], got["metadatas"] or [], strict=True)
        }
        pending = [marker.marker for marker in store.pending()]
    finally:
        store.close()
    return Snapshot(records, passages, versions, pending)


def assert_consistent(shot: Snapshot) -> None:
    """Every passage belongs to the committed version of its document; counts match; no markers."""
    assert shot.pending == []
    for pid, version in shot.passage_versions.items():
        document_id = pid.split(":")[0]
        assert document_id in shot.records, f"orphan passage {pid}"
        assert shot.records[document_id][0] == version, f"passage {pid} of an uncommitted version"
    assert len(shot.passages) == sum(count for _, count in shot.records.values())
    texts = list(shot.passages.values())
    assert len(texts) == len(set(texts)), "a passage text is stored twice"


class ChromaServer:
    """A real `chroma run` on a free loopback port with its data in a temporary folder."""

    def __init__(self, path: Path, port: int) -> None:
        self.path = path
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ChromaServer:
        assert shutil.which(CHROMA) or Path(CHROMA).exists(), "the chroma CLI is missing from the venv"
        self.process = subprocess.Popen(
            [CHROMA, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_http_ok(self.process, f"{self.url}/api/v2/heartbeat", timeout, "chroma run")
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
