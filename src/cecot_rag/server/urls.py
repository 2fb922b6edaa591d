"""Adding a web page or PDF by URL (page and REST): checked, fetched outside the write lock, capped."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from cecot_rag.assistant import Assistant
from cecot_rag.ingest.loaders import LoadError, is_url
from cecot_rag.ingest.pipeline import Progress, fetch_url
from cecot_rag.models import IngestReport
from cecot_rag.server.rejected import Rejected


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


class UrlIngest:
    """URL additions: at most max_url_fetches download or wait to be written at once."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.settings = assistant.settings
        self._lock = threading.Lock()
        self._fetches = 0  # URL additions downloading or waiting to be written

    def ingest(self, url: str, progress: Progress | None = None) -> IngestReport:
        """Download and parse a URL, then ingest it; only the write holds the index's write lock.

        A slow or silent site therefore delays no upload or other URL, and at most
        max_url_fetches additions download or wait at once (503 beyond, like asks).
        """
        url = checked_url(url)
        with self._slot():
            try:
                document = fetch_url(self.settings, url)  # within url_timeout, outside the lock
            except LoadError as exc:
                raise Rejected(422, f"could not ingest {url[:200]}: {exc}") from None
            report = self.assistant.ingest([url], progress=progress, fetched={url: document})
        if report.failed:
            raise Rejected(422, f"could not ingest {url[:200]}: {report.failed[0].reason}")
        return report

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        limit = self.settings.max_url_fetches
        with self._lock:
            if self._fetches >= limit:
                raise Rejected(503, f"the server is adding {limit} URLs already; retry shortly")
            self._fetches += 1
        try:
            yield
        finally:
            with self._lock:
                self._fetches -= 1
