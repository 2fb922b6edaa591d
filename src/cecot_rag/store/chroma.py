"""The two Chroma collections behind the store (passages, document records) and reads of passages.

Opening checks that the collections are readable and were built by this schema and embedding
model; a problem raises IndexProblem with the command that fixes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

import numpy as np

from cecot_rag.sentence_vectors import MODEL_KEY, VECTORS_KEY, unpack
from cecot_rag.settings import Settings
from cecot_rag.store.records import REVISION_ID, SCHEMA_VERSION, IndexProblem

Rows = tuple[list[str], list[str], list[Any]]  # ids, texts, metadatas of one batch


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


class ChromaCollections:
    """The open passages and records collections of one index (embedded or on a server)."""

    def __init__(self, settings: Settings, model_name: str, dimension: int) -> None:
        self.settings = settings
        self.expected = {"schema": SCHEMA_VERSION, "embedding_model": model_name, "dimension": dimension}
        try:
            self._open()
        except BaseException as exc:
            # A damaged sqlite file surfaces as a ChromaError, a sqlite error or even a Rust panic
            # (pyo3's PanicException derives from BaseException): all mean "this index is unusable".
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            self.close()
            raise IndexProblem(self._open_failure(exc)) from exc
        try:
            self.check_compatible()
        except IndexProblem:
            self.close()  # release Chroma's cached system, so a rebuild can reopen the same path
            raise

    def _open(self) -> None:
        self.client = make_client(self.settings)
        self.batch_size = max(1, int(self.client.get_max_batch_size()))
        self.passages = self.client.get_or_create_collection(
            self.settings.collection,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=dict(self.expected),
            embedding_function=None,
        )
        self.records = self.client.get_or_create_collection(
            f"{self.settings.collection}_documents", metadata=dict(self.expected), embedding_function=None
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

    def check_compatible(self) -> None:
        """IndexProblem (one line) unless the index has this schema and was embedded by this model:
        vectors of two models are two spaces, and a search must never compare across them."""
        meta = self.passages.metadata or {}
        for key, expected in self.expected.items():
            found = meta.get(key)
            if found == expected:
                continue
            if key == "embedding_model" and found is not None:
                raise IndexProblem(
                    f"the index at {self.location} was built with embedding_model={found!r}, the "
                    f"settings name {expected!r}; run `cecot-rag index rebuild` to embed every "
                    f"document again with {expected!r} (or set embedding_model back to {found!r})"
                )
            raise IndexProblem(
                f"the index at {self.location} was built with {key}={found!r}, this version "
                f"needs {expected!r}; run `cecot-rag index rebuild` to rebuild it from its sources"
            )

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.index_dir)

    # -- reading passages ----------------------------------------------------------------
    def scan(self, document_ids: list[str] | None) -> Iterator[Rows]:
        """Every passage row (committed or not) of these documents (None: all), in batches."""
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

    def version_rows(self, document_id: str, version: str) -> Rows:
        """The passage rows of one version of a document."""
        got = self.passages.get(
            where={"$and": [{"document_id": document_id}, {"version": version}]},
            include=["documents", "metadatas"],
        )
        return got["ids"], got["documents"] or [], got["metadatas"] or []

    def query(self, query_embedding: np.ndarray, n: int) -> list[tuple[str, float]]:
        """The n passages (committed or not) nearest to the query: (id, cosine similarity)."""
        got = self.passages.query(
            query_embeddings=[query_embedding],
            n_results=min(n, max(1, self.passages.count())),
            include=["distances"],
        )
        ids = got["ids"][0]
        distances = (got["distances"] or [[]])[0]
        return [(pid, 1.0 - float(d)) for pid, d in zip(ids, distances, strict=False)]

    def embeddings(self, passage_ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not passage_ids:
            return {}
        got = self.passages.get(ids=list(passage_ids), include=["embeddings"])
        vectors = got["embeddings"] if got["embeddings"] is not None else []
        return {pid: np.asarray(vec, dtype=np.float32) for pid, vec in zip(got["ids"], vectors, strict=False)}

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
