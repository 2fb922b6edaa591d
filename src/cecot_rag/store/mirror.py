"""The in-memory mirror of the committed passages: document records, catalog and BM25.

Chroma is the source of truth; the mirror follows it only when sync() is called (once per
question, and by the readers and writers that need fresh data). Everything else reads the mirror
as it is, so a question reads Chroma's revision once, not at every step.
"""

from __future__ import annotations

import threading

from cecot_rag.lexical import LexicalIndex
from cecot_rag.models import DocumentInfo, Passage
from cecot_rag.store.catalog import Catalog
from cecot_rag.store.chroma import ChromaCollections
from cecot_rag.store.records import DocumentRecord, passage_from
from cecot_rag.store.snapshot import MirrorState, load_snapshot, save_snapshot
from cecot_rag.store.writes import VersionedWrites

SNAPSHOT_MIN_PASSAGES = 2000  # a smaller index is rebuilt from Chroma at each start instead
FULL_SCAN_DOCUMENTS = 50  # more changed documents than this: one scan of everything, not a filter


class Mirror:
    """Committed records, catalog and BM25 of one index, as of the revision last synced."""

    def __init__(self, chroma: ChromaCollections, writes: VersionedWrites) -> None:
        self.chroma = chroma
        self.writes = writes
        self.lexical = LexicalIndex()
        self.catalog = Catalog()
        self._committed: dict[str, DocumentRecord] = {}
        self._revision: str | None = None
        self._lock = threading.RLock()

    @property
    def identity(self) -> dict[str, str]:
        return {
            "location": self.chroma.location,
            "collection": self.chroma.settings.collection,
            "model": str(self.chroma.expected["embedding_model"]),
        }

    def sync(self) -> None:
        """Bring the mirror in step with Chroma: one read when nothing changed, else the changes."""
        revision = self.writes.revision()
        with self._lock:
            if revision == self._revision:
                return
            # A snapshot from an older revision is a starting point: only the documents that
            # changed since are loaded below (a new document at 100k passages: ~1 s, not 36 s).
            if self._revision is None and self._load_snapshot() and self._revision == revision:
                return
            records = self.writes.records_by_id()
            stale = [
                doc_id
                for doc_id, old in self._committed.items()
                if doc_id not in records or records[doc_id].version != old.version
            ]
            fresh = [
                rec
                for doc_id, rec in records.items()
                if doc_id not in self._committed or self._committed[doc_id].version != rec.version
            ]
            for doc_id in stale:
                for pid in self.lexical.remove_document(doc_id):
                    self.catalog.pop(pid)
            if fresh:
                self._load_passages(fresh, full=len(fresh) > FULL_SCAN_DOCUMENTS)
            self._committed = records
            self._revision = revision
            if len(self.catalog) >= SNAPSHOT_MIN_PASSAGES:
                state = MirrorState(revision, records, self.catalog, self.lexical)
                save_snapshot(self.chroma.settings.index_dir, self.identity, state)

    def _load_snapshot(self) -> bool:
        """Start from the snapshot beside the index, of whatever revision (sync brings it up to date)."""
        state = load_snapshot(self.chroma.settings.index_dir, self.identity)
        if state is None:
            return False
        # Replaced whole: anything that needs BM25 asks self.lexical at the time (see idf()).
        self.lexical = state.lexical
        self._committed, self.catalog, self._revision = state.records, state.catalog, state.revision
        return True

    def _load_passages(self, fresh: list[DocumentRecord], full: bool) -> None:
        wanted = {rec.document_id: rec for rec in fresh}
        loaded: dict[str, list[Passage]] = {doc_id: [] for doc_id in wanted}
        for ids, texts, metas in self.chroma.scan(None if full else list(wanted)):
            for pid, text, meta in zip(ids, texts, metas, strict=False):
                meta = meta or {}
                record = wanted.get(str(meta.get("document_id", "")))
                if record is None or record.version != meta.get("version"):
                    continue
                loaded[record.document_id].append(passage_from(pid, text or "", meta, record.title))
        for doc_id, passages in loaded.items():
            for passage in passages:
                self.catalog.add(passage)
            self.lexical.add_document(doc_id, [(p.id, p.text) for p in passages])

    # -- reading the mirror as it is -----------------------------------------------------
    def is_empty(self) -> bool:
        return not self._committed

    def documents(self) -> list[DocumentInfo]:
        return sorted((r.info() for r in self._committed.values()), key=lambda d: d.title.lower())

    def passage_count(self) -> int:
        return len(self.catalog)

    def passage(self, passage_id: str) -> Passage | None:
        return self.catalog.get(passage_id)

    def __contains__(self, passage_id: object) -> bool:
        return passage_id in self.catalog

    def idf(self, term: str) -> float:
        return self.lexical.idf(term)
