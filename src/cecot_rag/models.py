"""The data passed between stages and returned to users: passages, citations, answers, reports."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field

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


# Scores are calibrated probabilities that a sentence answers the question; above this the answer
# is more likely right than wrong (answer/select.py quotes a further sentence only above it too).
STRONG_EVIDENCE = 0.5


class Decision(BaseModel):
    """Why an answer was given or withheld: one score against one threshold, for every question kind.

    `answered == (score >= threshold)` holds for every Answer that carries a Decision.
    """

    stage: str = Field(
        description="What decided: the scorer's name (e.g. 'reader') when sentences were scored; "
        "'retrieval' when no passage was found; 'candidates' when the passages hold no quotable sentence."
    )
    score: float = Field(
        description="Evidence score of the best sentence used, or of the best rejected one when abstaining "
        "(0 when there was none)."
    )
    threshold: float = Field(description="The score a sentence needs to be quoted as an answer.")
    scorer: str = Field(default="", description="The scorer that produced the score.")

    @property
    def answers(self) -> bool:
        return self.score >= self.threshold

    @computed_field(  # type: ignore[prop-decorator]
        description="The evidence in words: 'strong' (the best sentence is more likely an answer than "
        "not: score >= 0.5), 'enough' (it reaches the threshold), 'weak' (it does not: no answer)."
    )
    @property
    def strength(self) -> str:
        if not self.answers:
            return "weak"
        return "strong" if self.score >= STRONG_EVIDENCE else "enough"


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
    decision: Decision | None = Field(
        default=None, description="The one answer-or-abstain decision behind this answer."
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="Alias of decision.score: the evidence score compared with the threshold."
    )
    @property
    def evidence_score(self) -> float | None:
        return None if self.decision is None else self.decision.score


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
