"""Sentence vectors stored with each passage at ingestion, so answering embeds only the question.

The extractive answerer scores every sentence of the retrieved passages by its similarity to the
question. Embedding those sentences while the user waits was ~90% of a question's time (issue 6).
Ingestion embeds sentences anyway (a passage's vector is the mean of its sentences'), so it stores
them in the passage's Chroma metadata, int8 with a scale per sentence: about 0.5 KB a sentence.
They travel with the passage through every Chroma mode (embedded or server). A passage without
them, or with vectors from another model, is scored as before: its sentences are embedded when
asked.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from cecot_rag.text import sentence_spans

FORMAT = "sv1"
VECTORS_KEY = "sentence_vectors"
MODEL_KEY = "sentence_model"


def passage_sentences(text: str) -> list[str]:
    """Every sentence of a passage, in the order the answerer splits it."""
    return [text[span.start : span.end] for span in sentence_spans(text)]


def passage_vector(sentence_vectors: np.ndarray) -> np.ndarray:
    """A passage's vector: the normalised mean of its sentences' vectors."""
    mean = np.asarray(sentence_vectors, dtype=np.float32).sum(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def pack(vectors: np.ndarray) -> str:
    """Unit-length rows -> compact text for a metadata field (int8, one float32 scale a row)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError("expected a 2-D array of sentence vectors")
    rows, dim = vectors.shape
    scales = np.maximum(np.abs(vectors).max(axis=1, initial=0.0), 1e-12) / 127.0
    quantised = np.clip(np.round(vectors / scales[:, None]), -127, 127).astype(np.int8)
    header = np.array([rows, dim], dtype="<u4").tobytes()
    payload = header + scales.astype("<f4").tobytes() + quantised.tobytes()
    return f"{FORMAT}:{base64.b64encode(payload).decode('ascii')}"


def unpack(value: object) -> np.ndarray | None:
    """The rows pack() wrote (unit length again), or None for anything else."""
    if not isinstance(value, str) or not value.startswith(FORMAT + ":"):
        return None
    try:
        raw = base64.b64decode(value[len(FORMAT) + 1 :], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 8:
        return None
    rows, dim = (int(x) for x in np.frombuffer(raw[:8], dtype="<u4"))
    if len(raw) != 8 + 4 * rows + rows * dim:
        return None
    scales = np.frombuffer(raw[8 : 8 + 4 * rows], dtype="<f4")
    quantised = np.frombuffer(raw[8 + 4 * rows :], dtype=np.int8).reshape(rows, dim)
    vectors = quantised.astype(np.float32) * scales[:, None]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
