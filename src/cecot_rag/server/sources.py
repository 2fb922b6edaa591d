"""How clients see a document's source: the one rule, for REST, the page, exports and logs.

A URL is shown as it is; a file as its path inside the uploads or documents folder (never the
server's folders), else its name. Every passage also carries where its document came from
(`source_kind`), so a reader can tell a user's upload from a bundled document.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cecot_rag.ingest.loaders import is_url
from cecot_rag.models import Answer, DocumentInfo, IngestReport, Passage, SourceKind
from cecot_rag.settings import Settings


def source_kind(source: str, uploads_dir: Path) -> SourceKind:
    """Where a document came from: a user's upload, a URL, or a file the operator ingested."""
    if is_url(source):
        return "url"
    return "upload" if Path(source).resolve().is_relative_to(uploads_dir.resolve()) else "document"


def public_source(source: str, documents_dir: Path, uploads_dir: Path) -> str:
    """A document's source as clients see it: URLs as they are, files without server folders."""
    if is_url(source):
        return source
    path = Path(source).resolve()
    for root in (uploads_dir.resolve(), documents_dir.resolve()):
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return path.name


class PublicSources:
    """Answers, reports and document lists with every source as clients see it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def source(self, source: str) -> str:
        return public_source(source, self.settings.documents_dir, self.settings.uploads_dir)

    def passage(self, passage: Passage) -> Passage:
        kind = source_kind(passage.source, self.settings.uploads_dir)
        return passage.model_copy(update={"source": self.source(passage.source), "source_kind": kind})

    def answer(self, answer: Answer) -> Answer:
        """The answer with every passage's source as clients see it (no server folders) and its kind."""
        citations = [c.model_copy(update={"passage": self.passage(c.passage)}) for c in answer.citations]
        passages = [self.passage(p) for p in answer.passages]
        return answer.model_copy(update={"citations": citations, "passages": passages})

    def report(self, report: IngestReport) -> IngestReport:
        failed = [f.model_copy(update={"source": self.source(f.source)}) for f in report.failed]
        return report.model_copy(update={"failed": failed})

    def documents(self, documents: Sequence[DocumentInfo]) -> list[DocumentInfo]:
        return [d.model_copy(update={"source": self.source(d.source)}) for d in documents]
