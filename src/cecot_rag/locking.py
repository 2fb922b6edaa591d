"""One writer per embedded index: an advisory lock file that the OS releases when its holder dies.

Chroma's local store is not safe for several processes writing at once. A crashed holder leaves
the file behind but not the lock (flock is released with the process), so no manual cleanup.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
from pathlib import Path
from typing import IO

LOCK_NAME = "writer.lock"


class IndexBusy(RuntimeError):
    """Another live process holds the writer lock of this index."""


# Locks this process holds, by path, with how many WriterLock objects share each: several
# Assistants of one process on one index are one writer as far as Chroma is concerned.
_HELD: dict[Path, tuple[IO[str], int]] = {}
_HELD_LOCK = threading.Lock()


class WriterLock:
    def __init__(self, index_dir: Path) -> None:
        self.path = (index_dir / LOCK_NAME).resolve()
        self.held = False

    def acquire(self, purpose: str) -> None:
        with _HELD_LOCK:
            if self.held:
                return
            if self.path in _HELD:
                handle, users = _HELD[self.path]
                _HELD[self.path] = (handle, users + 1)
                self.held = True
                return
            _HELD[self.path] = (self._lock_file(purpose), 1)
            self.held = True

    def release(self) -> None:
        with _HELD_LOCK:
            if not self.held:
                return
            self.held = False
            handle, users = _HELD.pop(self.path)
            if users > 1:
                _HELD[self.path] = (handle, users - 1)
                return
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def _lock_file(self, purpose: str) -> IO[str]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = _describe(handle.read())
            handle.close()
            raise IndexBusy(
                f"the index at {self.path.parent} is in use by another cecot-rag process ({holder}); "
                "add documents through its page or API, or stop it first"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "purpose": purpose, "argv": sys.argv[:3]}))
        handle.flush()
        return handle


def holds_writer_lock(index_dir: Path) -> bool:
    """Whether this process holds the writer lock of the embedded index in index_dir."""
    with _HELD_LOCK:
        return (index_dir / LOCK_NAME).resolve() in _HELD


def _describe(content: str) -> str:
    try:
        info = json.loads(content)
        return f"pid {info.get('pid')}: {info.get('purpose', 'unknown')}"
    except (ValueError, AttributeError):
        return "unknown holder"
