"""The ingestion pipeline: find sources, skip unchanged ones, chunk, embed, write, commit, prune."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cecot_rag.embedding import Embedder
from cecot_rag.faults import fault_point
from cecot_rag.ingest.chunking import chunk_text
from cecot_rag.ingest.fetch import load_url
from cecot_rag.ingest.loaders import (
    SUPPORTED_SUFFIXES,
    LoadedDocument,
    LoadError,
    is_url,
    load_file,
    sha256,
)
from cecot_rag.models import FailedSource, IngestReport, Passage
from cecot_rag.sentence_vectors import pack, passage_sentences, passage_vector
from cecot_rag.settings import Settings
from cecot_rag.store import DocumentRecord, PassageStore, now_iso
from cecot_rag.store.uploads import staged_target

CHUNKER_VERSION = "2"  # 2: a heading opens the passage it titles
# Documents are embedded together until this many passages are queued: one large encode call
# pads and batches far better than one small call per document.
EMBED_BATCH_PASSAGES = 256


@dataclass
class Progress:
    """Callbacks a front end can give to show ingestion progress."""

    on_source: Callable[[str, int, int], None] | None = None  # (source, index, total)
    on_passages: Callable[[int], None] | None = None  # passages embedded since the last call


def canonical_source(source: str) -> str:
    """A URL as given; a path made absolute, so one file always has one name."""
    return source if is_url(source) else str(Path(source).expanduser().resolve())


def document_id_for(source: str) -> str:
    """A stable id for a source: the same path or URL always gives the same id."""
    return hashlib.sha1(canonical_source(source).encode("utf-8")).hexdigest()[:16]


def expand_sources(sources: Iterable[str | Path]) -> tuple[list[str], list[FailedSource]]:
    """Files under folders (recursively, hidden files skipped), files and URLs, in a stable order."""
    found: list[str] = []
    failed: list[FailedSource] = []
    for raw in sources:
        source = str(raw)
        if is_url(source):
            found.append(source)
            continue
        path = Path(source).expanduser()
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not any(
                    part.startswith(".") for part in child.relative_to(path).parts
                ):
                    if child.suffix.lower() in SUPPORTED_SUFFIXES:
                        found.append(str(child))
                    elif child.name.lower() not in ("readme", ".gitkeep"):
                        failed.append(
                            FailedSource(
                                source=str(child), reason=f"unsupported file type {child.suffix or '(none)'}"
                            )
                        )
        elif path.exists():
            found.append(str(path))
        else:
            failed.append(FailedSource(source=source, reason="file not found"))
    return list(dict.fromkeys(found)), failed


def fetch_url(settings: Settings, url: str) -> LoadedDocument:
    """Download and parse a URL under the settings' limits (raises LoadError)."""
    return load_url(
        url,
        timeout=settings.url_timeout,
        max_bytes=settings.max_upload_bytes,
        allow_private=settings.allow_private_urls,
    )


def _move_into_place(staged: Path | None) -> None:
    """Replace the upload's file with its staged version (nothing for other sources)."""
    target = staged_target(staged) if staged is not None else None
    if staged is not None and target is not None:
        staged.replace(target)


@dataclass
class PreparedDocument:
    """A loaded, chunked document waiting to be embedded and committed."""

    document: LoadedDocument
    document_id: str
    version: str
    passages: list[Passage]
    updated: bool
    staged: Path | None = None  # a staged upload, moved into place once its document is committed


class IngestPipeline:
    def __init__(self, settings: Settings, store: PassageStore, embedder: Embedder) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder

    def run(
        self,
        sources: Iterable[str | Path],
        prune: bool = False,
        progress: Progress | None = None,
        fetched: Mapping[str, LoadedDocument] | None = None,
    ) -> IngestReport:
        """fetched: URLs already downloaded with fetch_url (a server does that before it takes the
        write lock, so a slow site holds up no other writer); other URLs are downloaded here."""
        report = IngestReport()
        self.store.recover()
        found, failed = expand_sources(sources)
        report.failed.extend(failed)
        records = self.store.records_by_id()
        queue: list[PreparedDocument] = []
        for index, source in enumerate(found):
            if progress and progress.on_source:
                progress.on_source(source, index, len(found))
            prepared = self._prepare(source, records, report, fetched or {})
            if prepared is not None:
                queue.append(prepared)
            if sum(len(p.passages) for p in queue) >= EMBED_BATCH_PASSAGES:
                self._write(queue, records, report, progress)
                queue = []
        self._write(queue, records, report, progress)
        if prune:
            for record in records.values():
                if not is_url(record.source) and not Path(record.source).exists():
                    self.store.delete_document(record.document_id)
                    report.removed.append(record.document_id)
        self.store.sync()  # this process's readers (counts, listings) see what was just written
        return report

    def _prepare(
        self,
        source: str,
        records: dict[str, DocumentRecord],
        report: IngestReport,
        fetched: Mapping[str, LoadedDocument],
    ) -> PreparedDocument | None:
        """Load and chunk one source; None when it is unchanged or failed (noted in the report).

        A staged upload (uploads/.incoming/NAME) is read from where it is and indexed as the
        file it will replace (uploads/NAME), which keeps the old bytes until the commit.
        """
        target = None if is_url(source) else staged_target(Path(source))
        staged = Path(source) if target is not None else None
        name = str(target) if target is not None else source
        document_id = document_id_for(name)
        previous = records.get(document_id)
        try:
            if is_url(source):
                document = fetched.get(source) or fetch_url(self.settings, source)
            else:
                path = Path(source)
                # Cheap check first: identical bytes, chunked and embedded the way this
                # pipeline would, need no parsing and no embedding.
                if (
                    previous is not None
                    and previous.pipeline == self.pipeline_key
                    and path.is_file()
                    and sha256(path.read_bytes()) == previous.file_hash
                ):
                    report.unchanged.append(document_id)
                    _move_into_place(staged)
                    return None
                document = load_file(path, self.settings.max_upload_bytes)
        except LoadError as exc:
            report.failed.append(FailedSource(source=source, reason=str(exc)))
            return None
        except OSError as exc:
            report.failed.append(FailedSource(source=source, reason=f"cannot read ({exc.strerror or exc})"))
            return None
        document.source = canonical_source(name)
        version = self._version(document)
        if previous is not None and previous.version == version:
            report.unchanged.append(document_id)
            _move_into_place(staged)
            return None
        passages = self.passages_for(document, document_id, version)
        return PreparedDocument(
            document, document_id, version, passages, updated=previous is not None, staged=staged
        )

    def _write(
        self,
        queue: list[PreparedDocument],
        records: dict[str, DocumentRecord],
        report: IngestReport,
        progress: Progress | None,
    ) -> None:
        """Embed the queued documents in one pass (small per-document batches cost ~2x the CPU),
        then write and commit each document on its own, so a crash loses at most uncommitted ones."""
        if not queue:
            return
        texts = [p.text for item in queue for p in item.passages]
        embeddings, packed = self._embed(texts, progress.on_passages if progress else None)
        offset = 0
        for item in queue:
            count = len(item.passages)
            self.store.begin(item.document_id, item.version)
            fault_point("after-begin")
            self.store.write_passages(
                item.passages,
                item.version,
                embeddings[offset : offset + count],
                packed[offset : offset + count] if packed is not None else None,
                self.embedder.model_name,
            )
            offset += count
            fault_point("after-passages-written")
            record = DocumentRecord(
                document_id=item.document_id,
                title=item.document.title,
                source=item.document.source,
                version=item.version,
                file_hash=item.document.content_hash,
                passages=count,
                ingested_at=now_iso(),
                author=item.document.metadata.get("author", ""),
                pipeline=self.pipeline_key,
            )
            self.store.commit(record)
            _move_into_place(item.staged)  # the file on disk follows the committed version
            fault_point("after-commit")
            records[item.document_id] = record
            (report.updated if item.updated else report.added).append(item.document_id)
            report.passages += count

    def _embed(
        self, texts: list[str], progress: Callable[[int], None] | None
    ) -> tuple[np.ndarray, list[str] | None]:
        """Passage vectors, and each passage's sentence vectors packed for its metadata.

        With sentence_vectors on (the default) the model embeds sentences, not passages: a
        passage's vector is the normalised mean of its sentences' vectors. That is one pass over
        the text, whose by-product lets a question embed nothing but itself (the answerer scores
        the stored sentence vectors), and it keeps the model on sentence-length inputs (MiniLM was
        trained on at most 128 word pieces; passages run to 200). Off: each passage is embedded
        whole, and answers embed its sentences when asked.
        """
        if not self.settings.sentence_vectors:
            return self.embedder.embed(texts, progress=progress), None
        sentences = [passage_sentences(text) or [text] for text in texts]
        sizes = [len(group) for group in sentences]
        finishes = np.cumsum(sizes)  # sentences embedded when passage i is complete
        reported = {"sentences": 0, "passages": 0}

        def on_sentences(n: int) -> None:  # progress is counted in passages, as on the other path
            reported["sentences"] += n
            complete = int(np.searchsorted(finishes, reported["sentences"], side="right"))
            if progress is not None and complete > reported["passages"]:
                progress(complete - reported["passages"])
                reported["passages"] = complete

        vectors = self.embedder.embed([s for group in sentences for s in group], progress=on_sentences)
        passage_vectors = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        packed: list[str] = []
        offset = 0
        for i, size in enumerate(sizes):
            rows = vectors[offset : offset + size]
            passage_vectors[i] = passage_vector(rows)
            packed.append(pack(rows))
            offset += size
        return passage_vectors, packed

    @property
    def pipeline_key(self) -> str:
        """What, besides the text, decides a document's passages and vectors."""
        return "|".join(
            [
                CHUNKER_VERSION,
                self.embedder.model_name,
                "sentences" if self.settings.sentence_vectors else "passages",
                str(self.settings.max_chunk_tokens),
            ]
        )

    def _version(self, document: LoadedDocument) -> str:
        key = "\x00".join([self.pipeline_key, document.title, document.text])
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]

    def passages_for(self, document: LoadedDocument, document_id: str, version: str) -> list[Passage]:
        limit = min(self.settings.max_chunk_tokens, self.embedder.max_tokens)
        regions = [(span.start, span.end) for span in document.pages] or None
        chunks = chunk_text(document.text, self.embedder.count_tokens, limit, regions)
        return [
            Passage(
                id=f"{document_id}:{version}:{i:05d}",
                document_id=document_id,
                title=document.title,
                source=document.source,
                page=document.page_at(chunk.start),
                start_char=chunk.start,
                end_char=chunk.end,
                text=chunk.text,
            )
            for i, chunk in enumerate(chunks)
        ]
