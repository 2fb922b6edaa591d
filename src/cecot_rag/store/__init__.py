"""The index store: Chroma is the source of truth, mirrored in memory for questions.

``records`` (document records, passage metadata), ``chroma`` (the collections and reads of
passages), ``writes`` (versioned writes), ``mirror`` (catalog + BM25, explicit sync),
``snapshot`` (the mirror on disk) and ``facade`` (PassageStore, which joins them).
"""

from cecot_rag.store.chroma import make_client
from cecot_rag.store.facade import PassageStore
from cecot_rag.store.records import DocumentRecord, IndexProblem, PendingWrite, now_iso
from cecot_rag.store.snapshot import SNAPSHOT_FILE

__all__ = [
    "SNAPSHOT_FILE",
    "DocumentRecord",
    "IndexProblem",
    "PassageStore",
    "PendingWrite",
    "make_client",
    "now_iso",
]
