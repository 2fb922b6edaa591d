"""The reader: a cross-encoder trained here that scores whether a sentence answers a question.

A MiniLM-L6 cross-encoder fine-tuned from the packaged all-MiniLM-L6-v2 weights on the SQuAD 2.0
training articles only (training/, card in reader_model/card.json and the README). It reads
(question, sentence [SEP] the sentence before it) and returns a logit; the answer path turns it
into a calibrated probability (answer/scorers.py). It runs on ONNX Runtime with the `tokenizers`
library: answering never imports torch.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

SEPARATOR = " [SEP] "
MODEL_DIR = Path(__file__).resolve().parent / "reader_model"
MAX_TOKENS = 112  # as trained (training/train_reader.py)


def pair_text(sentence: str, previous: str) -> str:
    """The candidate side of a reader pair: the sentence first (never cut), then the one before it
    as context (cut first when the pair is too long)."""
    return f"{sentence}{SEPARATOR}{previous}" if previous else sentence


class ReaderMissing(RuntimeError):
    """The packaged reader files are absent (a broken install)."""


class OnnxReader:
    """Scores (question, candidate) pairs with an ONNX cross-encoder."""

    def __init__(self, model: Path, tokenizer: Path, threads: int = 1, max_tokens: int = MAX_TOKENS) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if not model.is_file() or not tokenizer.is_file():
            raise ReaderMissing(f"the reader model is missing ({model.name}); reinstall cecot-rag")
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.enable_truncation(max_length=max_tokens, strategy="only_second")
        self.tokenizer.enable_padding()
        self._inputs = {i.name for i in self.session.get_inputs()}
        self._lock = threading.Lock()  # the tokenizer's padding/truncation state is shared

    def logits(self, question: str, candidates: Sequence[str]) -> np.ndarray:
        """One logit per candidate: higher means the candidate answers the question."""
        if not candidates:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            encoded = self.tokenizer.encode_batch([(question, c) for c in candidates])
        feed = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        (out,) = self.session.run(["logits"], {k: v for k, v in feed.items() if k in self._inputs})
        return out[:, 0].astype(np.float32)


@cache
def packaged_reader(threads: int = 1) -> OnnxReader:
    """The reader shipped in the package (loaded once per process and thread count)."""
    return OnnxReader(MODEL_DIR / "reader.onnx", MODEL_DIR / "tokenizer.json", threads=threads)


@cache
def packaged_card() -> dict:
    """The shipped reader's card: data, command, held-out figures, calibration and threshold."""
    path = MODEL_DIR / "card.json"
    if not path.is_file():
        raise ReaderMissing("the reader's card is missing (reader_model/card.json); reinstall cecot-rag")
    return json.loads(path.read_text(encoding="utf-8"))


def calibration_for(card: dict, embedding_model: str) -> tuple[dict[str, float], float]:
    """The reader's calibration and threshold for candidates ranked with `embedding_model`: the
    calibration uses first-stage similarities, whose scale is the embedding model's, so each model
    the card was fitted for has its own; any other gets the packaged MiniLM's."""
    fitted = card.get("by_embedding_model", {}).get(embedding_model, card)
    return fitted["calibration"], fitted["threshold"]
