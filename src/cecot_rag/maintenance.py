"""Index maintenance for `cecot-rag index check|rebuild`: verify an index, rebuild it from its sources.

A rebuild never deletes user data: the old store is moved aside (``chroma.broken-<time>`` in
embedded mode, renamed collections on a Chroma server) before a fresh index is built by
re-ingesting the source recorded for every document.
"""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cecot_rag.embedding import Embedder, embedder_for
from cecot_rag.ingest.loaders import is_url
from cecot_rag.ingest.pipeline import IngestPipeline
from cecot_rag.locking import WriterLock
from cecot_rag.models import IngestReport
from cecot_rag.settings import Settings
from cecot_rag.store import PassageStore, make_client


@dataclass
class CheckReport:
    """What `index check` found: counts, and every problem in words a user can act on."""

    location: str
    documents: int = 0
    passages: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        lines = [f"index: {self.location}", f"{self.documents} documents, {self.passages} passages"]
        if self.ok:
            lines.append("OK: every document's passages are present, no leftovers")
        else:
            lines.append(f"{len(self.problems)} problem(s):")
            lines.extend(f"  - {p}" for p in self.problems)
            lines.append("run `cecot-rag index rebuild` to rebuild the index from its sources")
        return "\n".join(lines)


@dataclass
class RebuildReport:
    moved_to: str | None
    sources_from: str
    ingest: IngestReport
    gone: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = []
        if self.moved_to:
            lines.append(f"the old index was moved aside to {self.moved_to} (delete it once satisfied)")
        lines.append(f"sources taken from {self.sources_from}")
        lines.append(self.ingest.summary())
        lines.extend(f"gone, not re-ingested: {source}" for source in self.gone)
        lines.extend(f"failed: {f.source}: {f.reason}" for f in self.ingest.failed)
        return "\n".join(lines)


def check_index(settings: Settings, embedder: Embedder | None = None) -> CheckReport:
    """Verify compatibility, passage counts per committed document and leftovers (raises IndexProblem)."""
    embedder = embedder or embedder_for(settings)
    store = PassageStore(settings, embedder.model_name, embedder.dimension)
    try:
        return _check_store(store)
    finally:
        store.close()


def _check_store(store: PassageStore) -> CheckReport:
    report = CheckReport(location=store.location)
    records = store.records_by_id()
    report.documents = len(records)
    found = store.passage_versions()
    pending = store.pending()
    unfinished = {(p.document_id, p.version) for p in pending}
    for record in records.values():
        present = found.get((record.document_id, record.version), 0)
        report.passages += present
        if present != record.passages:
            report.problems.append(
                f"document {record.document_id} ({record.title!r}) should have {record.passages} "
                f"passages of version {record.version}, found {present}"
            )
    for (document_id, version), count in sorted(found.items()):
        record = records.get(document_id)
        if record is not None and record.version == version:
            continue
        unfinished_here = (document_id, version) in unfinished
        why = "an ingest that did not finish" if unfinished_here else "no document record"
        report.problems.append(
            f"{count} leftover passages of document {document_id} version {version} ({why}); "
            "readers ignore them and the next ingest removes them"
        )
    if pending:
        report.problems.append(
            f"{len(pending)} unfinished ingest marker(s) ({', '.join(p.marker for p in pending)}); "
            "the next ingest cleans them up"
        )
    return report


# -- rebuild ---------------------------------------------------------------------------------


def recorded_sources(settings: Settings) -> tuple[list[str], str]:
    """The source of every document record, and where they were read from.

    Tried in order: Chroma itself (without the compatibility check, so an index built with another
    model still yields its sources), the raw sqlite file of a damaged embedded index, and finally
    documents_dir plus uploaded files when no record can be read at all.
    """
    try:
        return _sources_from_chroma(settings), "the index's document records"
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
    if not settings.chroma_url:
        sources = _sources_from_sqlite(settings.index_dir / "chroma" / "chroma.sqlite3")
        if sources is not None:
            return sources, "the damaged index file (read directly)"
    fallback = [str(settings.documents_dir)]
    if (settings.uploads_dir).is_dir():
        fallback.append(str(settings.uploads_dir))
    return fallback, "documents_dir and uploads (the document records were unreadable)"


def _sources_from_chroma(settings: Settings) -> list[str]:
    if not settings.chroma_url and not (settings.index_dir / "chroma" / "chroma.sqlite3").exists():
        return []
    client = make_client(settings)
    try:
        names = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
        name = f"{settings.collection}_documents"
        if name not in names:
            return []
        records = client.get_collection(name, embedding_function=None)
        got = records.get(where={"kind": "document"}, include=["metadatas"])
        return sorted({str((m or {}).get("source", "")) for m in got["metadatas"] or []} - {""})
    finally:
        client.close()


def _sources_from_sqlite(path: Path) -> list[str] | None:
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT DISTINCT string_value FROM embedding_metadata WHERE key = 'source'"
            ).fetchall()
    except sqlite3.Error:
        return None
    return sorted({str(row[0]) for row in rows if row[0]})


def move_aside(settings: Settings, stamp: str) -> str | None:
    """Keep the old store under another name; returns where it went (None when there was none)."""
    if settings.chroma_url:
        return _rename_server_collections(settings, stamp)
    current = settings.index_dir / "chroma"
    if not current.exists():
        return None
    target = settings.index_dir / f"chroma.broken-{stamp}"
    current.rename(target)
    # Chroma caches one system per path; forget it so the fresh index really opens a new store.
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    return str(target)


def _rename_server_collections(settings: Settings, stamp: str) -> str | None:
    client = make_client(settings)
    try:
        names = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
        moved = []
        for name in (settings.collection, f"{settings.collection}_documents"):
            if name in names:
                new_name = f"{name}_broken_{stamp}"
                client.get_collection(name, embedding_function=None).modify(name=new_name)
                moved.append(new_name)
        return f"{settings.chroma_url} collections {', '.join(moved)}" if moved else None
    finally:
        client.close()


def rebuild_index(settings: Settings, echo: Any = None) -> RebuildReport:
    """Move the old store aside and re-ingest every recorded source into a fresh index, embedded
    by the configured model (the way to change embedding_model)."""
    say = echo or (lambda _msg: None)
    lock = WriterLock(settings.index_dir)
    if not settings.chroma_url:
        lock.acquire("index rebuild")
    try:
        sources, origin = recorded_sources(settings)
        say(f"{len(sources)} source(s) found in {origin}")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        moved_to = move_aside(settings, stamp)
        present = [s for s in sources if is_url(s) or Path(s).exists()]
        gone = [s for s in sources if s not in present]
        # The pipeline on a store that leaves the uploads folder alone: its files are sources of
        # this rebuild, not leftovers of an index that has no documents yet.
        embedder = embedder_for(settings)
        store = PassageStore(settings, embedder.model_name, embedder.dimension, reconcile=False)
        try:
            report = IngestPipeline(settings, store, embedder).run(present) if present else IngestReport()
        finally:
            store.close()
        return RebuildReport(moved_to=moved_to, sources_from=origin, ingest=report, gone=gone)
    finally:
        lock.release()


def run_index_command(action: str) -> int:
    """`cecot-rag index check` (exit 1 when problems are found) and `cecot-rag index rebuild`."""
    settings = Settings()
    if action == "check":
        lock = WriterLock(settings.index_dir)
        if not settings.chroma_url:
            lock.acquire("index check")  # a second process must not open an index being written
        try:
            report = check_index(settings)
        finally:
            lock.release()
        print(report.render())
        return 0 if report.ok else 1
    result = rebuild_index(settings, echo=lambda msg: print(msg, file=sys.stderr))
    print(result.render())
    return 1 if result.ingest.failed or result.gone else 0
