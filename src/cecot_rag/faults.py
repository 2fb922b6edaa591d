"""Named fault points for crash tests: the process kills itself (SIGKILL) at a chosen stage.

Set CECOT_RAG_FAULT=<point> (optionally <point>:<n>, the n-th time the point is reached) and the
ingestion dies exactly there, with no chance to clean up, as under `kill -9` or a power cut. Tests
use it to kill each stage deterministically instead of racing a timer against the writer.
Unset (always, outside tests) a fault point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

FAULT_ENV = "CECOT_RAG_FAULT"
# In the order one document passes them during ingestion.
FAULT_POINTS = (
    "after-begin",  # the pending marker is written, no passage yet
    "after-passages-written",  # every passage of the new version is in Chroma, no record
    "before-commit-record",  # inside the store's commit, nothing of it done yet
    "after-commit-record",  # the record names the new version; revision, old passages, marker not yet
    "after-old-versions-deleted",  # older versions are gone; the pending marker is still there
    "after-commit",  # the document is fully committed (the next document has not begun)
)

_reached: Counter[str] = Counter()


def fault_point(name: str) -> None:
    """SIGKILL this process if CECOT_RAG_FAULT names this point (and, with :n, on its n-th visit)."""
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
