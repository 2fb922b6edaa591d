"""Uploaded files (page and REST): safe stored names, which original name owns each, receiving
and ingesting them, and removing an upload's file when its document is deleted."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import unicodedata
from pathlib import Path
from typing import IO

from cecot_rag.assistant import Assistant
from cecot_rag.ingest.loaders import SUPPORTED_SUFFIXES, is_url
from cecot_rag.ingest.pipeline import Progress
from cecot_rag.models import IngestReport
from cecot_rag.server.rejected import Rejected
from cecot_rag.store.uploads import PARTIAL_SUFFIX, staged_path

# The loaders' list, sorted into a tuple for str.endswith and for messages.
UPLOAD_SUFFIXES = tuple(sorted(SUPPORTED_SUFFIXES))
# Which original name each cleaned upload name belongs to, so two names never share a document.
UPLOAD_NAMES_FILE = "upload-names.json"
_COPY_CHUNK = 1 << 16
_NAME_PUNCTUATION = frozenset("._-")


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


def check_upload_name(filename: str) -> str:
    """The cleaned name, or Rejected (415) for a type the loaders cannot read."""
    name = safe_upload_name(filename)
    if not name.lower().endswith(UPLOAD_SUFFIXES):
        suffix = Path(name).suffix or "(none)"
        raise Rejected(415, f"unsupported file type {suffix}; upload one of: {', '.join(UPLOAD_SUFFIXES)}")
    return name


class UploadNames:
    """The registry of stored names: index_dir/upload-names.json maps each to its original name."""

    def __init__(self, index_dir: Path, uploads_dir: Path) -> None:
        self.path = index_dir / UPLOAD_NAMES_FILE
        self.uploads_dir = uploads_dir
        self._lock = threading.Lock()

    def name_for(self, filename: str) -> str:
        """The stored name for an original name: stable per original, distinct between originals."""
        name = safe_upload_name(filename)
        with self._lock:
            owners = self._read()
            owner = owners.get(name)
            if owner is None and (self.uploads_dir / name).exists():
                owner = name  # a file from before the names were kept: it owns its own name
            if owner is not None and owner != filename:
                name = distinct_upload_name(name, filename)
            if owners.get(name) != filename:
                owners[name] = filename
                self._save(owners)
        return name

    def forget(self, name: str) -> None:
        with self._lock:
            owners = self._read()
            if owners.pop(name, None) is not None:
                self._save(owners)

    def _read(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return {}

    def _save(self, owners: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.partial")
        partial.write_text(json.dumps(owners), encoding="utf-8")  # ASCII escapes: any name survives
        partial.replace(self.path)


class Uploads:
    """Receives an upload into uploads_dir and ingests it; removes it with its document."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.settings = assistant.settings
        self.names = UploadNames(self.settings.index_dir, self.uploads_dir)
        self._lock = threading.Lock()  # stage-and-ingest, one upload at a time

    @property
    def uploads_dir(self) -> Path:
        return self.settings.uploads_dir

    def add(
        self, filename: str, stream: IO[bytes], progress: Progress | None = None
    ) -> tuple[str, IngestReport]:
        """Save an upload and ingest it; returns the stored name and the report.

        Each upload is received into its own temporary file (mode 0600), so concurrent uploads
        never share one. Then, one upload at a time, it is staged (uploads/.incoming/NAME) and
        ingested; the pipeline moves it over uploads/NAME only once its document is committed, so
        the file on disk always matches the index, and of concurrent uploads of one name the
        last one ingested wins whole. The same original name updates its document; a different
        name that cleans to the same one gets a short hash instead (see UploadNames.name_for).
        """
        check_upload_name(filename)
        name = self.names.name_for(filename)
        partial = self._receive(name, stream)
        try:
            with self._lock:
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

    def remove(self, source: str) -> None:
        """After its document is deleted: an uploaded file goes too, so a rebuild does not bring it back."""
        if is_url(source):
            return
        path = Path(source)
        if path.parent.resolve() == self.uploads_dir.resolve():
            path.unlink(missing_ok=True)
            self.names.forget(path.name)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size} bytes"
