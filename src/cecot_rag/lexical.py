"""BM25 over the committed passages, derived from the Chroma collection and updated per document.

Each passage is stemmed by the rules of its language (language.py: detected per passage, else its
document's, else English), and a question by its own and those of every language the index holds.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from cecot_rag.language import ENGLISH, detect_language, search_terms
from cecot_rag.text import terms

K1 = 1.2
B = 0.75


@dataclass
class LexicalState:
    """A built LexicalIndex as plain arrays and strings: what a snapshot stores."""

    ids: list[str]  # passages, in matrix row order
    vocabulary: list[str]  # terms, in term id (matrix column) order
    documents: dict[str, list[str]]  # document id -> its passage ids
    languages: list[str]  # per passage, in ids order: the rules its terms were made by
    sizes: np.ndarray  # postings per passage, in ids order
    cols: np.ndarray  # term ids of the postings laid end to end
    tf: np.ndarray  # term counts of the postings laid end to end
    weights: np.ndarray  # the BM25 matrix in compressed sparse column form
    rows: np.ndarray
    column_starts: np.ndarray
    idf: np.ndarray  # per term id

    def validate(self) -> None:
        """Raise ValueError when the parts do not fit together (a damaged snapshot)."""
        vocabulary, passages = len(self.vocabulary), len(self.ids)
        fits = (
            len(self.sizes) == passages
            and len(self.languages) == passages
            and len(self.cols) == len(self.tf) == int(self.sizes.sum())
            and len(self.idf) == vocabulary
            and len(self.column_starts) == vocabulary + 1
            and len(self.weights) == len(self.rows) == int(self.column_starts[-1])
            and (not len(self.cols) or (int(self.cols.min()) >= 0 and int(self.cols.max()) < vocabulary))
            and (not len(self.rows) or (int(self.rows.min()) >= 0 and int(self.rows.max()) < passages))
        )
        if not fits:
            raise ValueError("the lexical index's arrays do not fit together")


class LexicalIndex:
    """Okapi BM25. Documents are added and removed whole; the matrix is rebuilt lazily."""

    def __init__(self) -> None:
        # Per passage: (term ids, counts) as small arrays; a Counter per passage cost ~5x the
        # memory at 100k passages. Term ids come from one growing vocabulary.
        self._terms: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._term_ids: dict[str, int] = {}
        self._by_document: dict[str, list[str]] = {}
        self._language: dict[str, str] = {}  # passage id -> its language
        self._languages: Counter[str] = Counter()  # passages per language
        self._lock = threading.Lock()
        self._dirty = True
        self._ids: list[str] = []
        self._vocab: dict[str, int] = {}
        self._matrix: sparse.csc_matrix | None = None
        self._idf: np.ndarray = np.zeros(0)
        self._packed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._ids) if self._packed is not None else len(self._terms)

    def _pack(self, ids: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sizes, term ids, counts) of the passages' postings laid end to end, in ids order
        (default self._ids, the order _build leaves)."""
        postings = [self._terms[pid] for pid in (self._ids if ids is None else ids)]
        sizes = np.asarray([len(t) for t, _ in postings], dtype=np.int64)
        cols = np.concatenate([t for t, _ in postings]) if postings else np.zeros(0, dtype=np.int32)
        tf = np.concatenate([c for _, c in postings]) if postings else np.zeros(0, dtype=np.float32)
        return sizes, cols, tf

    def _unpack(self) -> None:
        if self._packed is None:
            return
        sizes, cols, tf = self._packed
        ends = np.cumsum(sizes)
        starts = ends - sizes
        self._terms = {
            pid: (cols[a:b], tf[a:b])
            for pid, a, b in zip(self._ids, starts.tolist(), ends.tolist(), strict=True)
        }
        self._packed = None

    def export(self) -> LexicalState:
        """The built index as arrays and strings (the store keeps it in its snapshot).

        The per-passage postings go out packed in three arrays and stay packed in a restored index
        until a document is added or removed: searching needs only the built matrix."""
        with self._lock:
            if self._dirty:
                self._build()
            assert self._matrix is not None  # built above
            sizes, cols, tf = self._packed if self._packed is not None else self._pack()
            return LexicalState(
                ids=list(self._ids),
                vocabulary=list(self._vocab),
                documents={doc: list(pids) for doc, pids in self._by_document.items()},
                languages=[self._language[pid] for pid in self._ids],
                sizes=sizes,
                cols=cols,
                tf=tf,
                weights=self._matrix.data,
                rows=self._matrix.indices,
                column_starts=self._matrix.indptr,
                idf=self._idf,
            )

    @classmethod
    def restore(cls, state: LexicalState) -> LexicalIndex:
        """An index equal to the exported one; ValueError if the state does not hold together."""
        state.validate()
        index = cls()
        index._ids = list(state.ids)
        # The vocabulary's order is its term ids, and the built index shares one dict for both.
        index._term_ids = {term: i for i, term in enumerate(state.vocabulary)}
        index._vocab = index._term_ids
        index._by_document = {doc: list(pids) for doc, pids in state.documents.items()}
        index._language = dict(zip(state.ids, state.languages, strict=True))
        index._languages = Counter(state.languages)
        index._packed = (state.sizes, state.cols, state.tf)
        index._matrix = sparse.csc_matrix(
            (state.weights, state.rows, state.column_starts), shape=(len(state.ids), len(state.vocabulary))
        )
        index._idf = state.idf
        index._dirty = False
        return index

    def add_document(self, document_id: str, passages: Sequence[tuple[str, str]]) -> None:
        # A heading or a short passage says little of its language: it takes its document's, the
        # language most of the document's passages are detected in.
        detected = [detect_language(text) for _, text in passages]
        found = Counter(language for language in detected if language is not None)
        document_language = found.most_common(1)[0][0] if found else ENGLISH
        languages = [language or document_language for language in detected]
        with self._lock:
            self._unpack()
            for (pid, text), language in zip(passages, languages, strict=True):
                counts = Counter(terms(text, language))
                ids = [self._term_ids.setdefault(term, len(self._term_ids)) for term in counts]
                self._terms[pid] = (
                    np.asarray(ids, dtype=np.int32),
                    np.asarray(list(counts.values()), dtype=np.float32),
                )
                self._forget_language(pid)
                self._language[pid] = language
                self._languages[language] += 1
            self._by_document.setdefault(document_id, []).extend(pid for pid, _ in passages)
            self._dirty = True

    def remove_document(self, document_id: str) -> list[str]:
        with self._lock:
            self._unpack()
            removed = self._by_document.pop(document_id, [])
            for pid in removed:
                self._terms.pop(pid, None)
                self._forget_language(pid)
            self._dirty = True
            return removed

    def _forget_language(self, passage_id: str) -> None:
        language = self._language.pop(passage_id, None)
        if language is not None:
            self._languages[language] -= 1
            if not self._languages[language]:
                del self._languages[language]

    @property
    def languages(self) -> set[str]:
        """The languages of the passages held."""
        with self._lock:
            return set(self._languages)

    def _build(self) -> None:
        ids = list(self._terms)
        sizes, cols, tf = self._pack(ids)
        row_idx = np.repeat(np.arange(len(ids), dtype=np.int64), sizes)
        lengths = np.bincount(row_idx, weights=tf, minlength=len(ids)).astype(np.float32)
        n = max(1, len(ids))
        avg = float(lengths.mean()) if len(ids) else 1.0
        vocabulary = len(self._term_ids)
        # Terms no passage holds any more get df 0, which gives the same IDF as an unknown term.
        doc_freq = np.bincount(cols, minlength=vocabulary)
        idf = np.log(1.0 + (n - doc_freq + 0.5) / (doc_freq + 0.5)).astype(np.float32)
        norm = K1 * (1 - B + B * lengths[row_idx] / max(avg, 1e-6))
        weights = tf * (K1 + 1) / (tf + norm)
        self._matrix = sparse.csc_matrix((weights, (row_idx, cols)), shape=(len(ids), vocabulary))
        self._ids, self._vocab, self._idf = ids, self._term_ids, idf
        self._dirty = False

    def idf(self, term: str) -> float:
        """Inverse document frequency of a stemmed term (unknown terms count as rare)."""
        with self._lock:
            if self._dirty:
                self._build()
            col = self._vocab.get(term)
            if col is None:
                return math.log(1.0 + (len(self._ids) + 0.5) / 0.5)
            return float(self._idf[col])

    def search(self, query: str, n: int) -> list[tuple[str, float]]:
        """Top n passages by BM25 score for the query: (id, score), best first, score > 0."""
        with self._lock:
            if self._dirty:
                self._build()
            if self._matrix is None or not self._ids:
                return []
            wanted = [t for t in search_terms(query, self._languages) if t in self._vocab]
            if not wanted:
                return []
            cols = [self._vocab[t] for t in wanted]
            factors = np.asarray([self._idf[c] for c in cols], dtype=np.float32)
            scores = np.asarray(self._matrix[:, cols] @ factors).ravel()
            ids = self._ids
        hits = np.flatnonzero(scores > 0)
        if len(hits) > n:
            hits = hits[np.argpartition(-scores[hits], n - 1)[:n]]
        order = hits[np.argsort(-scores[hits], kind="stable")]
        return [(ids[i], float(scores[i])) for i in order]
