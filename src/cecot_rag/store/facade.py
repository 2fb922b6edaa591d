"""PassageStore: the one object the rest of the project uses to read and write an index.

It joins three parts: the Chroma collections (``chroma``), versioned writes to them (``writes``)
and the in-memory mirror of the committed passages (``mirror``: records, catalog, BM25).
Reads of the mirror never bring it up to date on their own: sync() does, once per question
(``Assistant.prepare``), after ingestion, and in documents() and is_empty().
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from cecot_rag.lexical import LexicalIndex
from cecot_rag.locking import holds_writer_lock
from cecot_rag.models import DocumentInfo, Passage
from cecot_rag.settings import Settings
from cecot_rag.store.chroma import ChromaCollections
from cecot_rag.store.mirror import Mirror
from cecot_rag.store.records import DocumentRecord, PendingWrite, passage_from
from cecot_rag.store.uploads import cutoff, reconcile_uploads
from cecot_rag.store.writes import STALE_PENDING_SECONDS, VersionedWrites


class PassageStore:
    """Reads and writes passages and document records; mirrors the committed passages in memory."""

    def __init__(self, settings: Settings, model_name: str, dimension: int, reconcile: bool = True) -> None:
        """reconcile: make the uploaded files follow the committed documents (below). A rebuild
        turns it off: its fresh index has no documents yet, and every upload would go."""
        self.settings = settings
        self.chroma = ChromaCollections(settings, model_name, dimension)  # raises IndexProblem
        self.writes = VersionedWrites(self.chroma)
        self.mirror = Mirror(self.chroma, self.writes)
        # Recovery at start: a writer (this process holds the embedded index's lock, or any
        # replica on a Chroma server, where only long-abandoned writes are touched) cleans up
        # after one that was killed, before anything is read, and the uploaded files follow.
        if settings.chroma_url or holds_writer_lock(settings.index_dir):
            self.writes.recover()
            if reconcile:
                older_than = cutoff(bool(settings.chroma_url), STALE_PENDING_SECONDS)
                reconcile_uploads(settings.uploads_dir, self.writes.records_by_id().values(), older_than)

    # -- the index -----------------------------------------------------------------------
    @property
    def location(self) -> str:
        return self.chroma.location

    @property
    def passages(self) -> Any:
        """The Chroma collection of passages, committed or not (for tools that look beneath)."""
        return self.chroma.passages

    def check_compatible(self) -> None:
        self.chroma.check_compatible()

    def close(self) -> None:
        self.chroma.close()

    # -- versioned writes and document records (Chroma) ----------------------------------
    def begin(self, document_id: str, version: str) -> None:
        self.writes.begin(document_id, version)

    def write_passages(
        self,
        passages: Sequence[Passage],
        version: str,
        embeddings: np.ndarray,
        sentence_vectors: Sequence[str] | None = None,
        model: str = "",
    ) -> None:
        self.writes.write_passages(passages, version, embeddings, sentence_vectors, model)

    def commit(self, record: DocumentRecord) -> None:
        self.writes.commit(record)

    def delete_document(self, document_id: str) -> bool:
        return self.writes.delete_document(document_id)

    def recover(self) -> list[str]:
        return self.writes.recover()

    def records_by_id(self) -> dict[str, DocumentRecord]:
        return self.writes.records_by_id()

    def record(self, document_id: str) -> DocumentRecord | None:
        return self.writes.record(document_id)

    def revision(self) -> str:
        return self.writes.revision()

    def pending(self) -> list[PendingWrite]:
        """Versions begun and not committed (a writer at work, or one that died)."""
        return self.writes.pending()

    def passage_versions(self) -> Counter[tuple[str, str]]:
        """Passage rows in Chroma per (document id, version), committed or not."""
        return self.writes.passage_versions()

    def all_passage_ids(self) -> list[str]:
        """Every passage id in Chroma, committed or not (for consistency checks)."""
        return [pid for ids, _, _ in self.chroma.scan(None) for pid in ids]

    # -- passages read from Chroma -------------------------------------------------------
    def document_passages(self, document_id: str) -> list[Passage]:
        """The committed passages of one document in document order ([] for an unknown id).

        Read from Chroma, not the mirror, so it needs no sync()."""
        record = self.writes.record(document_id)
        if record is None:
            return []
        ids, texts, metas = self.chroma.version_rows(document_id, record.version)
        passages = [
            passage_from(pid, text or "", meta or {}, record.title)
            for pid, text, meta in zip(ids, texts, metas, strict=False)
        ]
        return sorted(passages, key=lambda p: (p.start_char, p.end_char, p.id))

    def dense_search(self, query_embedding: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Committed passages (as of the last sync) nearest to the query: (id, cosine), best first."""
        committed = self.mirror.passage_count()
        if committed == 0:
            return []
        # Rows no reader may see (a write in progress, or left by a writer that died) are in the
        # same collection: ask for that many more, so they can never crowd committed ones out.
        uncommitted = max(0, self.chroma.passages.count() - committed)
        found = self.chroma.query(query_embedding, n + uncommitted)
        return [(pid, score) for pid, score in found if pid in self.mirror][:n]

    def embeddings(self, passage_ids: Sequence[str]) -> dict[str, np.ndarray]:
        return self.chroma.embeddings(passage_ids)

    def sentence_vectors(self, passage_ids: Sequence[str], model: str) -> dict[str, np.ndarray]:
        """Stored sentence vectors of these passages made by this model (others are left out)."""
        return self.chroma.sentence_vectors(passage_ids, model)

    # -- the mirror ----------------------------------------------------------------------
    def sync(self) -> None:
        """Bring the mirror in step with Chroma (one read of the revision when nothing changed)."""
        self.mirror.sync()

    def is_empty(self) -> bool:
        """Whether no document is committed. Syncs first: callers ask it to decide whether to
        ingest, which must not go by an outdated mirror."""
        self.mirror.sync()
        return self.mirror.is_empty()

    def documents(self) -> list[DocumentInfo]:
        """The committed documents by title. Syncs first: listings must show other writers' changes."""
        self.mirror.sync()
        return self.mirror.documents()

    def passage_count(self) -> int:
        """Committed passages as of the last sync() (does not sync)."""
        return self.mirror.passage_count()

    def catalog_passage(self, passage_id: str) -> Passage | None:
        """A committed passage as of the last sync() (does not sync); None if unknown."""
        return self.mirror.passage(passage_id)

    @property
    def lexical(self) -> LexicalIndex:
        """The current BM25 index (sync() may replace it: hold the store, not the index)."""
        return self.mirror.lexical

    def idf(self, term: str) -> float:
        """IDF of a stemmed term in the current BM25 index (does not sync)."""
        return self.mirror.idf(term)
