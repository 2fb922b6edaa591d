"""Versioned writes: a document's new passages become visible all at once, or not at all.

Passages of a document version are written first and only become visible once the document
record naming that version is committed, so readers never see half a document; a pending marker
written before the passages lets the next writer clean up after a crash. Every commit and delete
gives the index a new revision, which tells readers their mirror is out of date.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Sequence

import numpy as np

from cecot_rag.faults import fault_point
from cecot_rag.models import Passage
from cecot_rag.sentence_vectors import MODEL_KEY, VECTORS_KEY
from cecot_rag.store.chroma import ChromaCollections
from cecot_rag.store.records import (
    PENDING_PREFIX,
    PLACEHOLDER,
    REVISION_ID,
    DocumentRecord,
    PendingWrite,
    passage_metadata,
)

STALE_PENDING_SECONDS = 3600.0


class VersionedWrites:
    """Begin, write, commit, delete and recover document versions; read the document records."""

    def __init__(self, chroma: ChromaCollections) -> None:
        self.chroma = chroma

    # -- document records ----------------------------------------------------------------
    def records_by_id(self) -> dict[str, DocumentRecord]:
        got = self.chroma.records.get(where={"kind": "document"}, include=["metadatas"])
        return {
            rid: DocumentRecord.from_metadata(rid, meta or {})
            for rid, meta in zip(got["ids"], got["metadatas"] or [], strict=False)
        }

    def record(self, document_id: str) -> DocumentRecord | None:
        got = self.chroma.records.get(ids=[document_id], include=["metadatas"])
        if not got["ids"]:
            return None
        return DocumentRecord.from_metadata(document_id, (got["metadatas"] or [{}])[0] or {})

    def revision(self) -> str:
        got = self.chroma.records.get(ids=[REVISION_ID], include=["metadatas"])
        if not got["ids"]:
            return ""
        return str(((got["metadatas"] or [{}])[0] or {}).get("rev", ""))

    def pending(self, document_id: str | None = None) -> list[PendingWrite]:
        """Versions begun and not (yet) committed, by this or another writer (of one document)."""
        where: dict[str, object] = {"kind": "pending"}
        if document_id is not None:
            where = {"$and": [where, {"document_id": document_id}]}
        got = self.chroma.records.get(where=where, include=["metadatas"])
        return [
            PendingWrite.from_metadata(marker, meta or {})
            for marker, meta in zip(got["ids"], got["metadatas"] or [], strict=False)
        ]

    def passage_versions(self) -> Counter[tuple[str, str]]:
        """How many passage rows Chroma holds per (document id, version), committed or not."""
        found: Counter[tuple[str, str]] = Counter()
        for _, _, metas in self.chroma.scan(None):
            for meta in metas:
                meta = meta or {}
                found[(str(meta.get("document_id", "")), str(meta.get("version", "")))] += 1
        return found

    def _bump_revision(self) -> None:
        self.chroma.records.upsert(
            ids=[REVISION_ID],
            embeddings=[PLACEHOLDER],
            metadatas=[{"kind": "revision", "rev": uuid.uuid4().hex}],
        )

    # -- writing -------------------------------------------------------------------------
    def begin(self, document_id: str, version: str) -> None:
        """Mark a version as being written, so a crash before commit can be cleaned up."""
        self.chroma.records.upsert(
            ids=[f"{PENDING_PREFIX}{document_id}:{version}"],
            embeddings=[PLACEHOLDER],
            metadatas=[
                {"kind": "pending", "document_id": document_id, "version": version, "started": time.time()}
            ],
        )

    def write_passages(
        self,
        passages: Sequence[Passage],
        version: str,
        embeddings: np.ndarray,
        sentence_vectors: Sequence[str] | None = None,
        model: str = "",
    ) -> None:
        """Write passages (uncommitted until commit()); sentence_vectors: packed, one per passage,
        made by the embedding model named model."""
        metadatas = [passage_metadata(p, version) for p in passages]
        if sentence_vectors is not None:
            for meta, packed in zip(metadatas, sentence_vectors, strict=True):
                meta[VECTORS_KEY] = packed
                meta[MODEL_KEY] = model
        size = self.chroma.batch_size
        for i in range(0, len(passages), size):
            batch = passages[i : i + size]
            self.chroma.passages.upsert(
                ids=[p.id for p in batch],
                embeddings=embeddings[i : i + len(batch)],
                documents=[p.text for p in batch],
                metadatas=metadatas[i : i + len(batch)],
            )

    def commit(self, record: DocumentRecord) -> None:
        """Make record.version the visible version, then drop older versions and the marker."""
        fault_point("before-commit-record")
        self.chroma.records.upsert(
            ids=[record.document_id], embeddings=[PLACEHOLDER], metadatas=[record.metadata()]
        )
        fault_point("after-commit-record")
        self._bump_revision()
        # Versions another writer (a replica on a shared Chroma server) is still writing are kept:
        # deleting them would let that writer commit a record whose passages are gone.
        keep = {record.version} | {p.version for p in self.pending(record.document_id)}
        self.chroma.passages.delete(
            where={"$and": [{"document_id": record.document_id}, {"version": {"$nin": sorted(keep)}}]}
        )
        fault_point("after-old-versions-deleted")
        self.chroma.records.delete(ids=[f"{PENDING_PREFIX}{record.document_id}:{record.version}"])

    def delete_document(self, document_id: str) -> bool:
        if self.record(document_id) is None:
            return False
        self.chroma.records.delete(ids=[document_id])
        self._bump_revision()
        self.chroma.passages.delete(where={"document_id": document_id})
        return True

    def recover(self) -> list[str]:
        """Finish or undo what a writer that died left behind; returns the documents touched.

        A version begun and never committed loses its passages. A version whose record was
        written (the commit point) is finished: older versions go and the revision moves on, as
        the dead writer's commit would have done.
        """
        cleaned: list[str] = []
        finished = False
        # Embedded mode holds the writer lock, so every marker is from a dead writer. On a shared
        # Chroma server another replica may be writing right now: only markers older than any
        # ingest could take are abandoned.
        cutoff = time.time() - (STALE_PENDING_SECONDS if self.chroma.settings.chroma_url else -1.0)
        for marker in self.pending():
            if marker.started > cutoff:
                continue
            committed = self.record(marker.document_id)
            if committed is None or committed.version != marker.version:
                self.chroma.passages.delete(
                    where={"$and": [{"document_id": marker.document_id}, {"version": marker.version}]}
                )
            else:
                keep = {committed.version} | {
                    p.version for p in self.pending(marker.document_id) if p.started > cutoff
                }
                self.chroma.passages.delete(
                    where={"$and": [{"document_id": marker.document_id}, {"version": {"$nin": sorted(keep)}}]}
                )
                finished = True
            self.chroma.records.delete(ids=[marker.marker])
            cleaned.append(marker.document_id)
        if finished:
            self._bump_revision()  # readers that synced before the crash learn of the new version
        return cleaned
