"""What the store keeps in Chroma: document records, passage metadata, and the index's problems.

A document record (one row of the ``<collection>_documents`` collection) names the committed
version of a document; passages carry their document id and version in their metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cecot_rag.models import DocumentInfo, Passage

SCHEMA_VERSION = 1
REVISION_ID = "__revision__"
PENDING_PREFIX = "pending:"
PLACEHOLDER = [1.0]  # document records carry no meaningful vector


class IndexProblem(RuntimeError):
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


@dataclass(frozen=True)
class PendingWrite:
    """A marker left by a writer between begin() and commit(): its id, document and version."""

    marker: str
    document_id: str
    version: str
    started: float

    @classmethod
    def from_metadata(cls, marker: str, meta: dict[str, Any]) -> PendingWrite:
        return cls(
            marker=marker,
            document_id=str(meta.get("document_id", "")),
            version=str(meta.get("version", "")),
            started=float(meta.get("started", 0.0)),
        )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def passage_metadata(passage: Passage, version: str) -> dict[str, Any]:
    return {
        "document_id": passage.document_id,
        "version": version,
        "source": passage.source,
        "page": passage.page if passage.page is not None else -1,
        "start_char": passage.start_char,
        "end_char": passage.end_char,
    }


def passage_from(pid: str, text: str, meta: dict[str, Any], title: str) -> Passage:
    """A Passage from its Chroma row; the title comes from its document record."""
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
