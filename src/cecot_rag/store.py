"""One owner of the Chroma collections: committed passages, document records and the lexical index.

Chroma is the source of truth. Passages of a document version are written first and only become
visible once the document record naming that version is committed, so readers never see half a
document; a pending marker written before the passages lets the next writer clean up after a crash.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import numpy as np

from cecot_rag.lexical import LexicalIndex
from cecot_rag.models import DocumentInfo, Passage
from cecot_rag.sentence_vectors import MODEL_KEY, VECTORS_KEY, unpack
from cecot_rag.settings import Settings

SCHEMA_VERSION = 1
REVISION_ID = "__revision__"
PENDING_PREFIX = "pending:"
STALE_PENDING_SECONDS = 3600.0
# Rebuilding the catalog and BM25 from Chroma costs ~0.4 s per 1,000 passages (scan + stemming), so
# a large index keeps a snapshot of them beside it; a new process starts from it and loads only the
# documents changed since the revision it was taken at.
CATALOG_CACHE = "catalog-cache.pkl"
CATALOG_CACHE_FORMAT = 3  # 2: compact BM25 postings; 3: catalog rows as tuples, postings packed
CATALOG_CACHE_MIN_PASSAGES = 2000
_PLACEHOLDER = [1.0]  # document records carry no meaningful vector


class IndexError_(RuntimeError):
    """The index cannot be used as it is (damaged, another schema, another embedding model)."""


@dataclass
class DocumentRecord:
    document_id: str
    title: str
    source: str
    version: str
    file_hash: str
    passages: int
    ingested_at: str
    author: str = ""
    pipeline: str = ""  # chunking and embedding settings the passages were made with

    def info(self) -> DocumentInfo:
        return DocumentInfo(
            document_id=self.document_id,
            title=self.title,
            source=self.source,
            passages=self.passages,
            ingested_at=self.ingested_at,
        )

    def metadata(self) -> dict[str, Any]:
        return {
            "kind": "document",
            "title": self.title,
            "source": self.source,
            "version": self.version,
            "file_hash": self.file_hash,
            "passages": self.passages,
            "ingested_at": self.ingested_at,
            "author": self.author,
            "pipeline": self.pipeline,
        }

    @classmethod
    def from_metadata(cls, document_id: str, meta: dict[str, Any]) -> DocumentRecord:
        return cls(
            document_id=document_id,
            title=str(meta.get("title", "")),
            source=str(meta.get("source", "")),
            version=str(meta.get("version", "")),
            file_hash=str(meta.get("file_hash", "")),
            passages=int(meta.get("passages", 0)),
            ingested_at=str(meta.get("ingested_at", "")),
            pipeline=str(meta.get("pipeline", "")),
            author=str(meta.get("author", "")),
        )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def make_client(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    path = settings.index_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class Catalog:
    """The committed passages by id, kept as plain tuples; a Passage is built when one is asked
    for. Unpickling 100k pydantic Passages took ~1 s of every cold start; tuples take a tenth."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[str, str, str, int | None, int, int, str]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, passage_id: object) -> bool:
        return passage_id in self._rows

    def add(self, p: Passage) -> None:
        self._rows[p.id] = (p.document_id, p.title, p.source, p.page, p.start_char, p.end_char, p.text)

    def pop(self, passage_id: str) -> None:
        self._rows.pop(passage_id, None)

    def get(self, passage_id: str) -> Passage | None:
        row = self._rows.get(passage_id)
        if row is None:
            return None
        document_id, title, source, page, start, end, text = row
        return Passage(
            id=passage_id,
            document_id=document_id,
            title=title,
            source=source,
            page=page,
            start_char=start,
            end_char=end,
            text=text,
        )


class PassageStore:
    """Reads and writes passages and document records; keeps a catalog of committed passages."""

    def __init__(self, settings: Settings, model_name: str, dimension: int) -> None:
        self.settings = settings
        self._expected = {"schema": SCHEMA_VERSION, "embedding_model": model_name, "dimension": dimension}
        try:
            self._open()
        except BaseException as exc:
            # A damaged sqlite file surfaces as a ChromaError, a sqlite error or even a Rust panic
            # (pyo3's PanicException derives from BaseException): all mean "this index is unusable".
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            self.close()
            raise IndexError_(self._open_failure(exc)) from exc
        try:
            self.check_compatible()
        except IndexError_:
            self.close()  # release Chroma's cached system, so a rebuild can reopen the same path
            raise
        self._lock = threading.RLock()
        self._revision: str | None = None
        self._committed: dict[str, DocumentRecord] = {}
        self._catalog = Catalog()
        self.lexical = LexicalIndex()

    def _open(self) -> None:
        self.client = make_client(self.settings)
        self.batch_size = max(1, int(self.client.get_max_batch_size()))
        self.passages = self.client.get_or_create_collection(
            self.settings.collection,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=dict(self._expected),
            embedding_function=None,
        )
        self.records = self.client.get_or_create_collection(
            f"{self.settings.collection}_documents", metadata=dict(self._expected), embedding_function=None
        )
        # Touch both collections now, so damage shows here and not in the middle of a question.
        self.passages.count()
        self.records.get(ids=[REVISION_ID], include=["metadatas"])

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def _open_failure(self, exc: BaseException) -> str:
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        if self.settings.chroma_url:
            return f"cannot use the Chroma server at {self.settings.chroma_url} ({detail})"
        return (
            f"the index at {self.settings.index_dir} is damaged and cannot be opened ({detail}); "
            "run `cecot-rag index rebuild` to rebuild it from its sources"
        )

    # -- compatibility -------------------------------------------------------------------
    def check_compatible(self) -> None:
        meta = self.passages.metadata or {}
        for key, expected in self._expected.items():
            found = meta.get(key)
            if found != expected:
                raise IndexError_(
                    f"the index at {self.location} was built with {key}={found!r}, this version "
                    f"needs {expected!r}; run `cecot-rag index rebuild` to rebuild it from its sources"
                )

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.index_dir)

    # -- document records ----------------------------------------------------------------
    def records_by_id(self) -> dict[str, DocumentRecord]:
        got = self.records.get(where={"kind": "document"}, include=["metadatas"])
        return {
            rid: DocumentRecord.from_metadata(rid, meta or {})
            for rid, meta in zip(got["ids"], got["metadatas"] or [], strict=False)
        }

    def record(self, document_id: str) -> DocumentRecord | None:
        got = self.records.get(ids=[document_id], include=["metadatas"])
        if not got["ids"]:
            return None
        return DocumentRecord.from_metadata(document_id, (got["metadatas"] or [{}])[0] or {})

    def revision(self) -> str:
        got = self.records.get(ids=[REVISION_ID], include=["metadatas"])
        if not got["ids"]:
            return ""
        return str(((got["metadatas"] or [{}])[0] or {}).get("rev", ""))

    def _bump_revision(self) -> None:
        self.records.upsert(
            ids=[REVISION_ID],
            embeddings=[_PLACEHOLDER],
            metadatas=[{"kind": "revision", "rev": uuid.uuid4().hex}],
        )

    # -- writing -------------------------------------------------------------------------
    def begin(self, document_id: str, version: str) -> None:
        """Mark a version as being written, so a crash before commit can be cleaned up."""
        self.records.upsert(
            ids=[f"{PENDING_PREFIX}{document_id}:{version}"],
            embeddings=[_PLACEHOLDER],
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
        metadatas = [_passage_metadata(p, version) for p in passages]
        if sentence_vectors is not None:
            for meta, packed in zip(metadatas, sentence_vectors, strict=True):
                meta[VECTORS_KEY] = packed
                meta[MODEL_KEY] = model
        for i in range(0, len(passages), self.batch_size):
            batch = passages[i : i + self.batch_size]
            self.passages.upsert(
                ids=[p.id for p in batch],
                embeddings=embeddings[i : i + len(batch)],
                documents=[p.text for p in batch],
                metadatas=metadatas[i : i + len(batch)],
            )

    def sentence_vectors(self, passage_ids: Sequence[str], model: str) -> dict[str, np.ndarray]:
        """Stored sentence vectors of these passages made by this model (others are left out)."""
        if not passage_ids:
            return {}
        got = self.passages.get(ids=list(passage_ids), include=["metadatas"])
        found: dict[str, np.ndarray] = {}
        for pid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
            if meta and meta.get(MODEL_KEY) == model:
                vectors = unpack(meta.get(VECTORS_KEY))
                if vectors is not None:
                    found[pid] = vectors
        return found

    def commit(self, record: DocumentRecord) -> None:
        """Make record.version the visible version, then drop older versions and the marker."""
        self.records.upsert(
            ids=[record.document_id], embeddings=[_PLACEHOLDER], metadatas=[record.metadata()]
        )
        self._bump_revision()
        # Versions another writer (a replica on a shared Chroma server) is still writing are kept:
        # deleting them would let that writer commit a record whose passages are gone.
        writing = self.records.get(
            where={"$and": [{"kind": "pending"}, {"document_id": record.document_id}]}, include=["metadatas"]
        )
        keep = {record.version} | {str((m or {}).get("version", "")) for m in writing["metadatas"] or []}
        self.passages.delete(
            where={"$and": [{"document_id": record.document_id}, {"version": {"$nin": sorted(keep)}}]}
        )
        self.records.delete(ids=[f"{PENDING_PREFIX}{record.document_id}:{record.version}"])

    def delete_document(self, document_id: str) -> bool:
        if self.record(document_id) is None:
            return False
        self.records.delete(ids=[document_id])
        self._bump_revision()
        self.passages.delete(where={"document_id": document_id})
        return True

    def recover(self) -> list[str]:
        """Remove passages left by a writer that died before committing; returns their documents."""
        got = self.records.get(where={"kind": "pending"}, include=["metadatas"])
        cleaned: list[str] = []
        # Embedded mode holds the writer lock, so every marker is from a dead writer. On a shared
        # Chroma server another replica may be writing right now: only markers older than any
        # ingest could take are abandoned.
        cutoff = time.time() - (STALE_PENDING_SECONDS if self.settings.chroma_url else -1.0)
        for marker, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
            if float((meta or {}).get("started", 0.0)) > cutoff:
                continue
            document_id = str((meta or {}).get("document_id", ""))
            version = str((meta or {}).get("version", ""))
            committed = self.record(document_id)
            if committed is None or committed.version != version:
                self.passages.delete(where={"$and": [{"document_id": document_id}, {"version": version}]})
            self.records.delete(ids=[marker])
            cleaned.append(document_id)
        return cleaned

    # -- reading -------------------------------------------------------------------------
    def sync(self) -> None:
        """Bring the catalog and lexical index in step with Chroma (cheap when nothing changed)."""
        revision = self.revision()
        with self._lock:
            if revision == self._revision:
                return
            # A snapshot from an older revision is a starting point: only the documents that
            # changed since are loaded below (a new document at 100k passages: ~1 s, not 36 s).
            if self._revision is None and self._load_cache() and self._revision == revision:
                return
            records = self.records_by_id()
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
                    self._catalog.pop(pid)
            if fresh:
                self._load_passages(fresh, full=len(fresh) > 50)
            self._committed = records
            self._revision = revision
            if len(self._catalog) >= CATALOG_CACHE_MIN_PASSAGES:
                self._save_cache()

    def _cache_key(self) -> tuple[object, ...]:
        return (CATALOG_CACHE_FORMAT, self.location, self.settings.collection, self._revision)

    def _load_cache(self) -> bool:
        """Adopt the snapshot beside the index, of whatever revision (sync brings it up to date)."""
        path = self.settings.index_dir / CATALOG_CACHE
        if not path.is_file():
            return False
        try:
            with path.open("rb") as handle:
                key, committed, catalog, lexical = pickle.load(handle)
        except Exception:  # a damaged or outdated snapshot is only a missed shortcut
            return False
        if not isinstance(key, tuple) or len(key) != 4 or not key[3]:
            return False
        if key[:3] != (CATALOG_CACHE_FORMAT, self.location, self.settings.collection):
            return False
        self.lexical.adopt(lexical)  # in place: the answerer holds self.lexical.idf
        self._committed, self._catalog, self._revision = committed, catalog, str(key[3])
        return True

    def _save_cache(self) -> None:
        folder = self.settings.index_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("wb", dir=folder, suffix=".tmp", delete=False) as handle:
                pickle.dump(
                    (self._cache_key(), self._committed, self._catalog, self.lexical),
                    handle,
                    protocol=pickle.HIGHEST_PROTOCOL,
                )
            os.replace(handle.name, folder / CATALOG_CACHE)  # readers never see half a snapshot
        except OSError:
            with contextlib.suppress(OSError, NameError):
                os.unlink(handle.name)

    def _load_passages(self, fresh: list[DocumentRecord], full: bool) -> None:
        wanted = {rec.document_id: rec for rec in fresh}
        loaded: dict[str, list[Passage]] = {doc_id: [] for doc_id in wanted}
        for ids, texts, metas in self._scan(None if full else list(wanted)):
            for pid, text, meta in zip(ids, texts, metas, strict=False):
                meta = meta or {}
                record = wanted.get(str(meta.get("document_id", "")))
                if record is None or record.version != meta.get("version"):
                    continue
                loaded[record.document_id].append(_passage_from(pid, text or "", meta, record.title))
        for doc_id, passages in loaded.items():
            for passage in passages:
                self._catalog.add(passage)
            self.lexical.add_document(doc_id, [(p.id, p.text) for p in passages])

    def _scan(self, document_ids: list[str] | None) -> Iterable[tuple[list[str], list[str], list[Any]]]:
        where = None if document_ids is None else {"document_id": {"$in": document_ids}}
        offset = 0
        while True:
            got = self.passages.get(
                where=where, include=["documents", "metadatas"], limit=self.batch_size, offset=offset
            )
            if not got["ids"]:
                return
            yield got["ids"], got["documents"] or [], got["metadatas"] or []
            offset += len(got["ids"])

    def is_empty(self) -> bool:
        self.sync()
        return not self._committed

    def documents(self) -> list[DocumentInfo]:
        self.sync()
        return sorted((r.info() for r in self._committed.values()), key=lambda d: d.title.lower())

    def passage_count(self) -> int:
        self.sync()
        return len(self._catalog)

    def catalog_passage(self, passage_id: str) -> Passage | None:
        return self._catalog.get(passage_id)

    def dense_search(self, query_embedding: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Committed passages nearest to the query: (id, cosine similarity), best first."""
        if not self._catalog:
            return []
        got = self.passages.query(
            query_embeddings=[query_embedding],
            n_results=min(n, max(1, self.passages.count())),
            include=["distances"],
        )
        ids = got["ids"][0]
        distances = (got["distances"] or [[]])[0]
        return [(pid, 1.0 - float(d)) for pid, d in zip(ids, distances, strict=False) if pid in self._catalog]

    def embeddings(self, passage_ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not passage_ids:
            return {}
        got = self.passages.get(ids=list(passage_ids), include=["embeddings"])
        vectors = got["embeddings"] if got["embeddings"] is not None else []
        return {pid: np.asarray(vec, dtype=np.float32) for pid, vec in zip(got["ids"], vectors, strict=False)}

    def all_passage_ids(self) -> list[str]:
        """Every passage id in Chroma, committed or not (for consistency checks)."""
        return [pid for ids, _, _ in self._scan(None) for pid in ids]


def _passage_metadata(passage: Passage, version: str) -> dict[str, Any]:
    return {
        "document_id": passage.document_id,
        "version": version,
        "source": passage.source,
        "page": passage.page if passage.page is not None else -1,
        "start_char": passage.start_char,
        "end_char": passage.end_char,
    }


def _passage_from(pid: str, text: str, meta: dict[str, Any], title: str) -> Passage:
    page = int(meta.get("page", -1))
    return Passage(
        id=pid,
        document_id=str(meta.get("document_id", "")),
        title=title,
        source=str(meta.get("source", "")),
        page=page if page >= 0 else None,
        start_char=int(meta.get("start_char", 0)),
        end_char=int(meta.get("end_char", 0)),
        text=text,
    )
