"""The data passed between stages and returned to users: passages, citations, answers, reports."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# Where a document came from: a user's upload, a file the operator ingested, or a URL.
SourceKind = Literal["upload", "document", "url"]


class Passage(BaseModel):
    """A chunk of one document, with offsets into that document's extracted text."""

    id: str
    document_id: str
    title: str
    source: str
    page: int | None = None
    start_char: int
    end_char: int
    text: str
    score: float = 0.0
    similarity: float | None = Field(
        default=None, description="Cosine similarity of the passage to the question."
    )
    source_kind: SourceKind | None = Field(
        default=None,
        description="Where the document came from: upload (a user uploaded it through the page or "
        "the API), document (a file the operator ingested, such as the bundled ones) or url. Set by "
        "the server; None from the Python API.",
    )


class Citation(BaseModel):
    """The n of an [n] marker: the passage and the verbatim sentence(s) it supports."""

    number: int
    passage: Passage
    quote: str
    quote_start: int
    quote_end: int


class DroppedSentence(BaseModel):
    """A generated sentence removed because its citations did not support it."""

    text: str
    reason: str


class Answer(BaseModel):
    question: str
    text: str
    answered: bool
    citations: list[Citation] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    generator: str = "extractive"
    dropped: list[DroppedSentence] = Field(default_factory=list)
    notice: str | None = Field(
        default=None, description="Something the user should know, e.g. the LLM was unreachable."
    )
    evidence_score: float | None = Field(
        default=None,
        description="The evidence score the answerer compared with abstain_threshold to answer or "
        "abstain (None when the answerer does not score evidence).",
    )


class FailedSource(BaseModel):
    source: str
    reason: str


class IngestReport(BaseModel):
    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    failed: list[FailedSource] = Field(default_factory=list)
    passages: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed, "
            f"{len(self.failed)} failed; {self.passages} passages written"
        )


class DocumentInfo(BaseModel):
    document_id: str
    title: str
    source: str
    passages: int
    ingested_at: str
