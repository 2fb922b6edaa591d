"""The mirror's snapshot beside the index: one .npz of plain arrays with a JSON header, no pickle.

Rebuilding the catalog and BM25 from Chroma costs ~0.4 s per 1,000 passages (scan + stemming), so
a large index keeps a snapshot of them; a new process starts from it and loads only the documents
changed since the revision it was taken at. The file is read with ``allow_pickle=False``: a pickle
runs code when loaded and breaks across versions, so an old ``catalog-cache.pkl`` is never read
(it is removed when a new snapshot is saved). Strings are stored as one UTF-8 array plus the end
offset of each string. Any file that is not a complete snapshot of this index and format is a
missed shortcut, never an error: the caller rebuilds from Chroma.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cecot_rag.lexical import LexicalIndex, LexicalState
from cecot_rag.store.catalog import Catalog
from cecot_rag.store.records import DocumentRecord

SNAPSHOT_FILE = "catalog-cache.npz"
OLD_PICKLE_FILE = "catalog-cache.pkl"  # the snapshot format before 4: never loaded
# 2: compact BM25 postings; 3: catalog rows as tuples; 4: .npz + JSON, no pickle; 5: each
# passage's language (Spanish passages stemmed as Spanish)
FORMAT = 5

Arrays = dict[str, np.ndarray]
_LEXICAL_ARRAYS = ("sizes", "cols", "tf", "weights", "rows", "column_starts", "idf")


@dataclass
class MirrorState:
    """What a snapshot holds: the committed records at a revision, their catalog and BM25."""

    revision: str
    records: dict[str, DocumentRecord]
    catalog: Catalog
    lexical: LexicalIndex


def save_snapshot(folder: Path, identity: dict[str, str], state: MirrorState) -> None:
    """Write the snapshot atomically (readers never see half a file); a failed write is ignored.

    identity names the index (location, collection, embedding model): a snapshot is only ever
    loaded by a store with the same identity."""
    header = {
        "format": FORMAT,
        **identity,
        "revision": state.revision,
        "records": {doc_id: record.metadata() for doc_id, record in state.records.items()},
    }
    arrays: Arrays = {"header": _bytes(json.dumps(header))}
    _put_catalog(arrays, state.catalog)
    _put_lexical(arrays, state.lexical.export())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=folder, suffix=".tmp", delete=False) as handle:
            np.savez(handle, allow_pickle=False, **arrays)
        os.replace(handle.name, folder / SNAPSHOT_FILE)
        (folder / OLD_PICKLE_FILE).unlink(missing_ok=True)
    except OSError:
        with contextlib.suppress(OSError, NameError):
            os.unlink(handle.name)


def load_snapshot(folder: Path, identity: dict[str, str]) -> MirrorState | None:
    """The snapshot of this index, of whatever revision; None when there is no usable one."""
    path = folder / SNAPSHOT_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(data["header"].tobytes().decode("utf-8"))
            if not isinstance(header, dict) or not _matches(header, identity):
                return None
            records = {
                str(doc_id): DocumentRecord.from_metadata(str(doc_id), meta)
                for doc_id, meta in header["records"].items()
            }
            return MirrorState(
                revision=str(header["revision"]),
                records=records,
                catalog=_get_catalog(data),
                lexical=LexicalIndex.restore(_get_lexical(data)),
            )
    except Exception:  # damaged, truncated, a pickle, another layout: only a missed shortcut
        return None


def _matches(header: dict[str, Any], identity: dict[str, str]) -> bool:
    same = all(header.get(key) == value for key, value in identity.items())
    return same and header.get("format") == FORMAT and bool(header.get("revision"))


# -- strings as arrays -------------------------------------------------------------------------
def _bytes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)


def _put_strings(arrays: Arrays, name: str, values: list[str]) -> None:
    arrays[f"{name}_utf8"] = _bytes("".join(values))
    arrays[f"{name}_ends"] = np.cumsum([len(v) for v in values], dtype=np.int64)


def _get_strings(data: Any, name: str) -> list[str]:
    text = data[f"{name}_utf8"].tobytes().decode("utf-8", "surrogatepass")
    ends = data[f"{name}_ends"].tolist()
    if (ends[-1] if ends else 0) != len(text):
        raise ValueError(f"{name}: the string offsets do not match the text")
    return [text[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def _put_codes(arrays: Arrays, name: str, values: list[str]) -> None:
    """Repeated strings (a document's id, title and source on each of its passages) once each."""
    table = list(dict.fromkeys(values))
    number = {value: i for i, value in enumerate(table)}
    _put_strings(arrays, name, table)
    arrays[f"{name}_codes"] = np.asarray([number[v] for v in values], dtype=np.int64)


def _get_codes(data: Any, name: str) -> list[str]:
    table = _get_strings(data, name)
    return list(map(table.__getitem__, data[f"{name}_codes"].tolist()))


# -- catalog and BM25 --------------------------------------------------------------------------
def _put_catalog(arrays: Arrays, catalog: Catalog) -> None:
    ids = [pid for pid, _ in catalog.items()]
    rows = [row for _, row in catalog.items()]
    _put_strings(arrays, "passage_ids", ids)
    for column, name in enumerate(("document_ids", "titles", "sources")):
        _put_codes(arrays, name, [row[column] for row in rows])
    arrays["pages"] = np.asarray([-1 if row[3] is None else row[3] for row in rows], dtype=np.int64)
    arrays["starts"] = np.asarray([row[4] for row in rows], dtype=np.int64)
    arrays["ends"] = np.asarray([row[5] for row in rows], dtype=np.int64)
    _put_strings(arrays, "texts", [row[6] for row in rows])


def _get_catalog(data: Any) -> Catalog:
    ids = _get_strings(data, "passage_ids")
    documents, titles, sources = (_get_codes(data, name) for name in ("document_ids", "titles", "sources"))
    pages = [None if page < 0 else page for page in data["pages"].tolist()]
    starts, ends = data["starts"].tolist(), data["ends"].tolist()
    texts = _get_strings(data, "texts")
    # strict zips: columns of different lengths (a damaged file) raise ValueError
    return Catalog(
        zip(ids, zip(documents, titles, sources, pages, starts, ends, texts, strict=True), strict=True)
    )


def _put_lexical(arrays: Arrays, state: LexicalState) -> None:
    _put_strings(arrays, "lexical_ids", state.ids)
    _put_strings(arrays, "lexical_vocabulary", state.vocabulary)
    _put_strings(arrays, "lexical_documents", list(state.documents))
    arrays["lexical_document_sizes"] = np.asarray([len(p) for p in state.documents.values()], dtype=np.int64)
    _put_strings(arrays, "lexical_document_passages", [pid for p in state.documents.values() for pid in p])
    _put_codes(arrays, "lexical_languages", state.languages)
    for name in _LEXICAL_ARRAYS:
        arrays[f"lexical_{name}"] = np.asarray(getattr(state, name))


def _get_lexical(data: Any) -> LexicalState:
    names = _get_strings(data, "lexical_documents")
    sizes = data["lexical_document_sizes"].tolist()
    passages = _get_strings(data, "lexical_document_passages")
    if len(sizes) != len(names) or sum(sizes) != len(passages):
        raise ValueError("the lexical index's documents do not match their passages")
    ends = np.cumsum(sizes, dtype=np.int64).tolist()
    documents = {name: passages[a:b] for name, a, b in zip(names, [0, *ends[:-1]], ends, strict=True)}
    return LexicalState(
        ids=_get_strings(data, "lexical_ids"),
        vocabulary=_get_strings(data, "lexical_vocabulary"),
        documents=documents,
        languages=_get_codes(data, "lexical_languages"),
        **{name: data[f"lexical_{name}"] for name in _LEXICAL_ARRAYS},
    )
