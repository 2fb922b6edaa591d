"""What the page and the REST API share: readiness, uploads, URL ingestion, feedback, limits.

Routers and the Gradio page stay thin; both call this service, which calls the Assistant.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from cecot_rag.assistant import Assistant
from cecot_rag.ingest.loaders import SUPPORTED_SUFFIXES, LoadError, is_url
from cecot_rag.ingest.pipeline import Progress, fetch_url
from cecot_rag.models import Answer, IngestReport, Passage, SourceKind
from cecot_rag.store.uploads import PARTIAL_SUFFIX, staged_path

log = logging.getLogger(__name__)

# The loaders' list, sorted into a tuple for str.endswith and for messages.
UPLOAD_SUFFIXES = tuple(sorted(SUPPORTED_SUFFIXES))
FEEDBACK_FILE = "feedback.jsonl"
# Which original name each cleaned upload name belongs to, so two names never share a document.
UPLOAD_NAMES_FILE = "upload-names.json"
_COPY_CHUNK = 1 << 16
_NAME_PUNCTUATION = frozenset("._-")


class Rejected(Exception):
    """A request the server refuses, with the HTTP status and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _name_char(char: str) -> str:
    """Letters, digits and marks of any script stay; anything else (slashes, controls,
    zero-width and bidi characters, spaces) becomes "_" or, for format characters, nothing."""
    category = unicodedata.category(char)
    if char in _NAME_PUNCTUATION or category[0] in "LNM":
        return char
    return "" if category == "Cf" else "_"


def safe_upload_name(filename: str) -> str:
    """A plain file name: no folders (either slash), no leading dots, only letters, digits and ._-."""
    base = unicodedata.normalize("NFC", re.split(r"[\\/]", filename or "")[-1])
    base = base.rstrip(". ")  # "x.md." and "x.md " name x.md on Windows; never a bare trailing dot
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub("_+", "_", "".join(map(_name_char, stem))).strip("._-")[:100] or "upload"
    suffix = "".join(c for c in suffix if c.isascii() and c.isalnum()).lower()
    return f"{stem}.{suffix}" if suffix else stem


def distinct_upload_name(name: str, original: str) -> str:
    """`name` with a short hash of the original name, for an original that cleans to a taken name."""
    digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}-{digest}.{suffix}" if dot else f"{name}-{digest}"


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


class ChatService:
    """One Assistant behind the page and the API, plus what serving needs around it."""

    def __init__(self, assistant: Assistant, max_concurrent_asks: int | None = None) -> None:
        self.assistant = assistant
        self.settings = assistant.settings
        self.ready = threading.Event()
        self.startup_error: str | None = None
        self.max_concurrent_asks = max_concurrent_asks or self.settings.max_concurrent_asks
        # Taken and given back on the event loop only (the REST ask handler), so no thread lock.
        self._asks = asyncio.BoundedSemaphore(self.max_concurrent_asks)
        self._waiting = 0
        self._feedback_lock = threading.Lock()
        self._names_lock = threading.Lock()
        self._upload_lock = threading.Lock()  # stage-and-ingest, one upload at a time
        self._url_lock = threading.Lock()
        self._url_fetches = 0  # URL additions downloading or waiting to be written

    # -- readiness -----------------------------------------------------------------------
    def prepare_index(self) -> None:
        """Ingest documents_dir into an empty index, then mark the service ready (run in a thread)."""
        try:
            report = self.assistant.ensure_ingested(Progress(on_source=self._log_startup_file))
            if report is not None:
                log.info("startup ingestion: %s", report.summary())
                for failure in report.failed:
                    log.warning("could not ingest %s: %s", failure.source, failure.reason)
        except Exception:  # reported by /healthz; the server stays up to say so
            log.exception("startup ingestion failed")
            # Clients get this sentence; the exception, which may name server paths, is in the log.
            self.startup_error = "the index could not be prepared; the server log says why"
            return
        self.ready.set()

    def _log_startup_file(self, source: str, index: int, total: int) -> None:
        """Startup ingestion progress: the first and last file and every (total // 20)-th between,
        so about twenty lines however many files there are; names as clients see them."""
        if index in (0, total - 1) or (index + 1) % max(1, total // 20) == 0:
            log.info("ingesting %d/%d: %s", index + 1, total, self.public_source(source))

    def start_preparing(self) -> threading.Thread:
        thread = threading.Thread(target=self.prepare_index, name="cecot-rag-startup-ingest", daemon=True)
        thread.start()
        return thread

    def require_ready(self) -> None:
        if self.startup_error:
            raise Rejected(503, self.startup_error)
        if not self.ready.is_set():
            raise Rejected(503, "the index is still being prepared; try again in a few seconds")

    # -- asking --------------------------------------------------------------------------
    async def wait_for_ask_slot(self) -> bool:
        """Take an ask slot, waiting in a bounded line; False when the line is full or the wait too long.

        Waiting happens on the event loop (no thread held), so a burst of clients costs nothing
        until their turn; beyond max_waiting_asks they are refused at once. The semaphore wakes
        waiters in arrival order, and `locked()` is true while anyone waits, so no newcomer
        overtakes the line.
        """
        if not self._asks.locked():
            return await self._asks.acquire()  # a free slot: returns without suspending
        if self._waiting >= self.settings.max_waiting_asks:
            return False
        self._waiting += 1
        try:
            # wait_for, not asyncio.timeout: it runs acquire as a task of its own, so on 3.11 a grant
            # that races the timeout is either returned or given back, never cancels this request.
            return await asyncio.wait_for(self._asks.acquire(), self.settings.ask_wait_seconds)
        except TimeoutError:
            return False
        finally:
            self._waiting -= 1

    def end_ask(self) -> None:
        self._asks.release()

    # -- documents -----------------------------------------------------------------------
    @property
    def uploads_dir(self) -> Path:
        return self.settings.uploads_dir

    def check_upload_name(self, filename: str) -> str:
        name = safe_upload_name(filename)
        if not name.lower().endswith(UPLOAD_SUFFIXES):
            suffix = Path(name).suffix or "(none)"
            raise Rejected(
                415, f"unsupported file type {suffix}; upload one of: {', '.join(UPLOAD_SUFFIXES)}"
            )
        return name

    def add_upload(
        self, filename: str, stream: IO[bytes], progress: Progress | None = None
    ) -> tuple[str, IngestReport]:
        """Save an upload and ingest it; returns the stored name and the report.

        Each upload is received into its own temporary file (mode 0600), so concurrent uploads
        never share one. Then, one upload at a time, it is staged (uploads/.incoming/NAME) and
        ingested; the pipeline moves it over uploads/NAME only once its document is committed, so
        the file on disk always matches the index, and of concurrent uploads of one name the
        last one ingested wins whole. The same original name updates its document; a different
        name that cleans to the same one gets a short hash instead (see upload_name).
        """
        self.check_upload_name(filename)
        name = self.upload_name(filename)
        partial = self._receive(name, stream)
        try:
            with self._upload_lock:
                staged = staged_path(self.uploads_dir / name)
                staged.parent.mkdir(parents=True, exist_ok=True)
                partial.replace(staged)
                report = self.assistant.ingest([staged], progress=progress)
                if report.failed:
                    staged.unlink(missing_ok=True)  # so a later `index rebuild` does not trip on it
                    raise Rejected(422, f"could not ingest {name}: {report.failed[0].reason}")
        finally:
            partial.unlink(missing_ok=True)
        return name, report

    def _receive(self, name: str, stream: IO[bytes]) -> Path:
        """Copy the request's file into a fresh hidden temporary file, refusing oversize and empty ones."""
        limit = self.settings.max_upload_bytes
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        # mkstemp: a fresh name per upload, created 0600; ".NAME.*.partial" is what start-up
        # reconciliation removes if the server is killed while receiving.
        handle, partial_name = tempfile.mkstemp(
            prefix=f".{name}.", suffix=PARTIAL_SUFFIX, dir=self.uploads_dir
        )
        partial = Path(partial_name)
        written = 0
        try:
            with os.fdopen(handle, "wb") as out:
                while chunk := stream.read(_COPY_CHUNK):
                    written += len(chunk)
                    if written > limit:
                        raise Rejected(413, f"{name} is larger than the upload limit of {_megabytes(limit)}")
                    out.write(chunk)
            if written == 0:
                raise Rejected(400, f"{name} is empty")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return partial

    def upload_name(self, filename: str) -> str:
        """The stored name for an original name: stable per original, distinct between originals."""
        name = safe_upload_name(filename)
        with self._names_lock:
            owners = self._upload_names()
            owner = owners.get(name)
            if owner is None and (self.uploads_dir / name).exists():
                owner = name  # a file from before the names were kept: it owns its own name
            if owner is not None and owner != filename:
                name = distinct_upload_name(name, filename)
            if owners.get(name) != filename:
                owners[name] = filename
                self._save_upload_names(owners)
        return name

    @property
    def _upload_names_path(self) -> Path:
        return self.settings.index_dir / UPLOAD_NAMES_FILE

    def _upload_names(self) -> dict[str, str]:
        try:
            return dict(json.loads(self._upload_names_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return {}

    def _save_upload_names(self, owners: dict[str, str]) -> None:
        path = self._upload_names_path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(json.dumps(owners), encoding="utf-8")  # ASCII escapes: any name survives
        partial.replace(path)

    def ingest_url(self, url: str, progress: Progress | None = None) -> IngestReport:
        """Download and parse a URL, then ingest it; only the write holds the index's write lock.

        A slow or silent site therefore delays no upload or other URL, and at most
        max_url_fetches additions download or wait at once (503 beyond, like asks).
        """
        url = checked_url(url)
        with self._url_slot():
            try:
                document = fetch_url(self.settings, url)  # within url_timeout, outside the lock
            except LoadError as exc:
                raise Rejected(422, f"could not ingest {url[:200]}: {exc}") from None
            report = self.assistant.ingest([url], progress=progress, fetched={url: document})
        if report.failed:
            raise Rejected(422, f"could not ingest {url[:200]}: {report.failed[0].reason}")
        return report

    @contextlib.contextmanager
    def _url_slot(self) -> Iterator[None]:
        limit = self.settings.max_url_fetches
        with self._url_lock:
            if self._url_fetches >= limit:
                raise Rejected(503, f"the server is adding {limit} URLs already; retry shortly")
            self._url_fetches += 1
        try:
            yield
        finally:
            with self._url_lock:
                self._url_fetches -= 1

    def delete_document(self, document_id: str) -> None:
        """Delete from the index; an uploaded file goes too, so a rebuild does not bring it back."""
        source = next((d.source for d in self.assistant.documents() if d.document_id == document_id), None)
        self.assistant.delete(document_id)  # raises DocumentNotFound
        if source and not is_url(source):
            path = Path(source)
            if path.parent.resolve() == self.uploads_dir.resolve():
                path.unlink(missing_ok=True)
                self._forget_upload_name(path.name)

    def _forget_upload_name(self, name: str) -> None:
        with self._names_lock:
            owners = self._upload_names()
            if owners.pop(name, None) is not None:
                self._save_upload_names(owners)

    def public_source(self, source: str) -> str:
        return public_source(source, self.settings.documents_dir, self.uploads_dir)

    def public_answer(self, answer: Answer) -> Answer:
        """The answer with every passage's source as clients see it (no server folders) and its kind."""

        def public(passage: Passage) -> Passage:
            kind = source_kind(passage.source, self.uploads_dir)
            return passage.model_copy(
                update={"source": self.public_source(passage.source), "source_kind": kind}
            )

        citations = [c.model_copy(update={"passage": public(c.passage)}) for c in answer.citations]
        return answer.model_copy(
            update={"citations": citations, "passages": [public(p) for p in answer.passages]}
        )

    def public_report(self, report: IngestReport) -> IngestReport:
        failed = [f.model_copy(update={"source": self.public_source(f.source)}) for f in report.failed]
        return report.model_copy(update={"failed": failed})

    # -- feedback ------------------------------------------------------------------------
    @property
    def feedback_path(self) -> Path:
        return self.settings.index_dir / FEEDBACK_FILE

    def record_feedback(self, answer: Answer, rating: str) -> None:
        """Append one JSON line: the question, the answer, its citations, the rating and when."""
        entry = {
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "rating": rating,
            "question": answer.question,
            "answer": answer.text,
            "answered": answer.answered,
            "generator": answer.generator,
            "citations": [
                {
                    "number": c.number,
                    "document_id": c.passage.document_id,
                    "passage_id": c.passage.id,
                    "title": c.passage.title,
                    "quote": c.quote,
                }
                for c in answer.citations
            ],
        }
        self.feedback_path.parent.mkdir(parents=True, exist_ok=True)
        with self._feedback_lock, self.feedback_path.open("a", encoding="utf-8") as log_file:
            log_file.write(json.dumps(entry, ensure_ascii=False) + "\n")


def checked_url(url: str) -> str:
    """The URL stripped, or Rejected with a sentence that does not echo text it cannot encode."""
    url = url.strip() if isinstance(url, str) else ""
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: it could be neither fetched nor sent back
        raise Rejected(422, "the URL contains characters that are not valid text") from None
    if not is_url(url) or not url.lower().startswith(("http://", "https://")):
        raise Rejected(422, f"not an http(s) URL: {url[:200]!r}")
    return url


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size} bytes"
