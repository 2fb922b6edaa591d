"""Uploaded files follow the index: staging in the uploads folder, and reconciliation at start.

An upload is saved under uploads/.incoming/NAME and ingested from there as if it were
uploads/NAME; only after its document is committed does it replace uploads/NAME. So a writer
killed mid-ingest leaves the old file (matching the old indexed version) or none (a new upload).
At start a writer finishes or undoes what a killed one left: a staged file whose bytes the index
already holds is moved into place, any other staged or partly saved file is removed, and an
upload no document comes from (saved in place, then killed before its commit) is removed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from pathlib import Path

from cecot_rag.store.records import DocumentRecord

STAGING_DIR = ".incoming"
PARTIAL_SUFFIX = ".partial"  # the service's file being copied from the request


def staged_path(target: Path) -> Path:
    """Where an upload bound for target is saved until its document is committed."""
    return target.parent / STAGING_DIR / target.name


def staged_target(path: Path) -> Path | None:
    """The final path of a staged upload (uploads/.incoming/NAME -> uploads/NAME), else None."""
    return path.parent.parent / path.name if path.parent.name == STAGING_DIR else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reconcile_uploads(
    uploads: Path, records: Iterable[DocumentRecord], older_than: float | None = None
) -> list[str]:
    """Make the uploads folder follow the committed documents; returns what was moved or removed.

    older_than: only files last changed before this time are touched (None: all), for a process
    that cannot be sure it is the only writer of this folder.
    """
    if not uploads.is_dir():
        return []
    hashes = {record.source: record.file_hash for record in records}
    changed: list[str] = []

    def abandoned(path: Path) -> bool:
        return path.is_file() and (older_than is None or path.stat().st_mtime < older_than)

    staging = uploads / STAGING_DIR
    for staged in sorted(staging.iterdir()) if staging.is_dir() else []:
        if not abandoned(staged):
            continue
        target = uploads / staged.name
        if hashes.get(str(target.resolve())) == _sha256(staged):
            staged.replace(target)  # committed, killed before the move: finish it
        else:
            staged.unlink()  # never committed: the index still holds the old file's version
        changed.append(str(staged))
    for path in sorted(uploads.iterdir()):
        if not abandoned(path):
            continue
        partial = path.name.startswith(".") and path.name.endswith(PARTIAL_SUFFIX)
        if partial or (not path.name.startswith(".") and str(path.resolve()) not in hashes):
            path.unlink()
            changed.append(str(path))
    return changed


def cutoff(shared_server: bool, stale_seconds: float) -> float | None:
    """older_than for reconcile_uploads: on a shared Chroma server only long-abandoned files."""
    return time.time() - stale_seconds if shared_server else None
