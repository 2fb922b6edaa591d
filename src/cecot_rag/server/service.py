"""What the page and the REST API share: readiness, uploads, URL ingestion, feedback, ask limits.

Routers and the Gradio page stay thin; both call this service, which calls the Assistant.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from cecot_rag.assistant import Assistant
from cecot_rag.ingest.loaders import SUPPORTED_SUFFIXES, is_url
from cecot_rag.ingest.pipeline import Progress
from cecot_rag.models import Answer, IngestReport

log = logging.getLogger(__name__)

# The loaders' list, sorted into a tuple for str.endswith and for messages.
UPLOAD_SUFFIXES = tuple(sorted(SUPPORTED_SUFFIXES))
FEEDBACK_FILE = "feedback.jsonl"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_COPY_CHUNK = 1 << 16


class Rejected(Exception):
    """A request the server refuses, with the HTTP status and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def safe_upload_name(filename: str) -> str:
    """A plain file name: no folders (either slash), no leading dots, only [A-Za-z0-9._-]."""
    base = re.split(r"[\\/]", filename or "")[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = _UNSAFE_NAME.sub("_", stem).strip("._-")[:100] or "upload"
    suffix = _UNSAFE_NAME.sub("", suffix).lower()
    return f"{stem}.{suffix}" if suffix else stem


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

    # -- readiness -----------------------------------------------------------------------
    def prepare_index(self) -> None:
        """Ingest documents_dir into an empty index, then mark the service ready (run in a thread)."""
        try:
            report = self.assistant.ensure_ingested()
            if report is not None:
                log.info("startup ingestion: %s", report.summary())
                for failure in report.failed:
                    log.warning("could not ingest %s: %s", failure.source, failure.reason)
        except Exception as exc:  # reported by /healthz; the server stays up to say so
            log.exception("startup ingestion failed")
            self.startup_error = f"{type(exc).__name__}: {exc}"
            return
        self.ready.set()

    def start_preparing(self) -> threading.Thread:
        thread = threading.Thread(target=self.prepare_index, name="cecot-rag-startup-ingest", daemon=True)
        thread.start()
        return thread

    def require_ready(self) -> None:
        if self.startup_error:
            raise Rejected(503, f"the index could not be prepared: {self.startup_error}")
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

    def save_upload(self, filename: str, stream: IO[bytes]) -> Path:
        """Copy an upload under index_dir/uploads, refusing unsupported types and oversize files.

        A file of the same name replaces the earlier one (and so updates that document).
        """
        name = self.check_upload_name(filename)
        limit = self.settings.max_upload_bytes
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        target = self.uploads_dir / name
        partial = target.with_name(f".{name}.partial")
        written = 0
        try:
            with partial.open("wb") as out:
                while chunk := stream.read(_COPY_CHUNK):
                    written += len(chunk)
                    if written > limit:
                        raise Rejected(413, f"{name} is larger than the upload limit of {_megabytes(limit)}")
                    out.write(chunk)
            if written == 0:
                raise Rejected(400, f"{name} is empty")
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def ingest_upload(self, path: Path, progress: Progress | None = None) -> IngestReport:
        """Ingest a saved upload; a file that cannot be read is removed again and refused."""
        report = self.assistant.ingest([path], progress=progress)
        if report.failed:
            path.unlink(missing_ok=True)  # so a later `index rebuild` does not trip on it
            raise Rejected(422, f"could not ingest {path.name}: {report.failed[0].reason}")
        return report

    def ingest_url(self, url: str, progress: Progress | None = None) -> IngestReport:
        url = url.strip()
        if not is_url(url) or not url.lower().startswith(("http://", "https://")):
            raise Rejected(422, f"not an http(s) URL: {url[:200]!r}")
        report = self.assistant.ingest([url], progress=progress)
        if report.failed:
            raise Rejected(422, f"could not ingest {url[:200]}: {report.failed[0].reason}")
        return report

    def delete_document(self, document_id: str) -> None:
        """Delete from the index; an uploaded file goes too, so a rebuild does not bring it back."""
        source = next((d.source for d in self.assistant.documents() if d.document_id == document_id), None)
        self.assistant.delete(document_id)  # raises DocumentNotFound
        if source and not is_url(source):
            path = Path(source)
            if path.parent.resolve() == self.uploads_dir.resolve():
                path.unlink(missing_ok=True)

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


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size} bytes"
