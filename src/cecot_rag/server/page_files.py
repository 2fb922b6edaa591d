"""The page's temporary files: uploads Gradio received for this server, and conversation exports.

Gradio's upload folder (GRADIO_TEMP_DIR) is shared with other Gradio apps and their visitors, so
the page reads or removes only paths this server's /gradio_api/upload received, never anything
else in it. A received file no event claims expires after `upload_expiry_minutes`; an export
exists only until Gradio has copied it into its cache to serve it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

from cecot_rag.models import Answer
from cecot_rag.server.rejected import Rejected
from cecot_rag.server.render import conversation_markdown

EXPORT_PREFIX = "cecot-rag-export-"
EXPORT_NAME = "cecot-rag-conversation.md"
NOT_RECEIVED = "only files uploaded through this page can be added"


class PageFiles:
    """Gradio's upload folder, the set of paths its upload route received here, and live exports."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        # Gradio's own sets, bound by the page: what its upload route received (it adds on the event
        # loop), and the copies of exports it served. Not the other components' sets: Gradio also
        # adds there any path an event names, another app's file included.
        self.received: set[str] = set()
        self.served_exports: set[str] = set()
        self._exports: set[Path] = set()

    def _received(self, path: Path) -> str | None:
        """The entry of `received` naming this path, if any."""
        return next((name for name in list(self.received) if Path(name).resolve() == path), None)

    def claim(self, temporary: str) -> Path:
        """The received file an upload event names; Rejected (nothing touched) for any other path."""
        path = Path(temporary).resolve()
        if not path.is_relative_to(self.folder) or self._received(path) is None or not path.is_file():
            raise Rejected(403, NOT_RECEIVED)
        return path

    def discard(self, path: Path) -> None:
        """Remove a claimed file and its folder once empty (Gradio makes one per file content)."""
        name = self._received(path)
        if name is None:
            return  # never received here: not ours to remove
        self.received.discard(name)
        self._remove(path)

    def _remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        if path.parent != self.folder and path.parent.is_relative_to(self.folder):
            with contextlib.suppress(OSError):  # not empty: another file of the same bytes
                path.parent.rmdir()

    def expire(self, older_than: float) -> int:
        """Remove received files no event claimed, last changed before `older_than` (a Unix time)."""
        removed = 0
        for name in list(self.received):
            path = Path(name)
            try:
                changed = path.lstat().st_mtime
            except FileNotFoundError:
                self.received.discard(name)  # claimed and removed already
                continue
            if changed < older_than:
                self.discard(path.resolve())
                removed += 1
        return removed

    @contextlib.contextmanager
    def export(self, answers: Sequence[Answer]) -> Iterator[str]:
        """The conversation as a Markdown file, removed when the block ends.

        Gradio copies a file it is given into its cache before serving it, so a handler ends
        the block once Gradio has taken the update (a generator: at its next step).
        """
        folder = Path(tempfile.mkdtemp(prefix=EXPORT_PREFIX))
        self._exports.add(folder)
        try:
            path = folder / EXPORT_NAME
            path.write_text(conversation_markdown(answers), encoding="utf-8")
            yield str(path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            self._exports.discard(folder)

    def remove_all(self) -> None:
        """At shutdown: every export still held or served, and every upload no event claimed."""
        for folder in list(self._exports):
            shutil.rmtree(folder, ignore_errors=True)
        self._exports.clear()
        for files in (self.received, self.served_exports):
            for name in list(files):
                path = Path(name).resolve()
                if path.is_file() and path.is_relative_to(self.folder):
                    self._remove(path)
                files.discard(name)

    @contextlib.asynccontextmanager
    async def kept_tidy(self, expiry_minutes: float) -> AsyncIterator[None]:
        """While the server runs, expire unclaimed uploads; at shutdown remove the page's files."""

        async def expire_forever() -> None:
            while True:  # checked at least twice per expiry period, at most once a minute
                await asyncio.sleep(min(60.0, expiry_minutes * 30))
                self.expire(time.time() - expiry_minutes * 60)

        task = asyncio.create_task(expire_forever())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.remove_all()
