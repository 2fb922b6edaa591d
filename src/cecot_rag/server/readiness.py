"""Readiness: the startup ingestion of an empty index, and whether the server can answer yet."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from cecot_rag.assistant import Assistant
from cecot_rag.ingest.pipeline import Progress, expand_sources
from cecot_rag.server.rejected import Rejected

log = logging.getLogger(__name__)


class Readiness:
    """Set once the index is ready; `error` says why it never will be (the log has the details)."""

    def __init__(self, assistant: Assistant, public_source: Callable[[str], str]) -> None:
        self.assistant = assistant
        self.public_source = public_source
        self.ready = threading.Event()
        self.error: str | None = None

    def prepare_index(self) -> None:
        """Ingest documents_dir into an empty index, then mark the server ready (run in a thread)."""
        try:
            self._say_if_empty()
            report = self.assistant.ensure_ingested(Progress(on_source=self._log_startup_file))
            if report is not None:
                log.info("startup ingestion: %s", report.summary())
                for failure in report.failed:
                    log.warning("could not ingest %s: %s", failure.source, failure.reason)
        except Exception:  # reported by /healthz; the server stays up to say so
            log.exception("startup ingestion failed")
            # Clients get this sentence; the exception, which may name server paths, is in the log.
            self.error = "the index could not be prepared; the server log says why"
            return
        self.ready.set()

    def _say_if_empty(self) -> None:
        """Why the first start takes longer: an empty index first ingests documents_dir."""
        if self.assistant.store.is_empty():
            folder = self.assistant.settings.documents_dir
            count = len(expand_sources([folder])[0])
            files = f"{count} file{'s' if count != 1 else ''}"
            log.info("the index is empty: ingesting the %s in %s first", files, folder)

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
        if self.error:
            raise Rejected(503, self.error)
        if not self.ready.is_set():
            raise Rejected(503, "the index is still being prepared; try again in a few seconds")
