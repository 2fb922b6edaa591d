"""The embedding model on ONNX Runtime: the same vectors as sentence-transformers without torch.

Importing torch, transformers and sentence-transformers costs several seconds and hundreds of MB
in every process that answers a question; onnxruntime and tokenizers cost a fraction of a second.
The ONNX graph is exported once per machine from the local model files (torch is only needed for
that export, never a download) into a cache directory keyed by the files' content, then checked
against sentence-transformers on probe sentences: if the vectors differ, the export is refused and
torch is used instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

EXPORT_VERSION = "1"
PROBES = [
    "CECOT holds up to 40,000 inmates in Tecoluca.",
    "Human-rights groups documented deaths in custody under the state of exception.",
    "x",
]
# Cosine similarity every probe must reach against sentence-transformers for the export to be used.
MIN_PROBE_COSINE = 0.9999


class OnnxUnsupported(Exception):
    """This model cannot run on the ONNX backend (its modules, its files or the export failed)."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cecot-rag"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OnnxUnsupported(f"cannot read {path.name}: {exc}") from exc


def model_layout(model_dir: Path) -> tuple[str, int]:
    """(pooling, max_seq_length) of a Transformer + Pooling (+ Normalize) model, else OnnxUnsupported."""
    if not (model_dir / "tokenizer.json").is_file():
        raise OnnxUnsupported("no tokenizer.json (a fast tokenizer is needed)")
    modules = _read_json(model_dir / "modules.json") if (model_dir / "modules.json").is_file() else None
    if not modules:
        raise OnnxUnsupported("no modules.json")
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise OnnxUnsupported(f"modules {kinds} (only Transformer, Pooling, Normalize are supported)")
    pooling_dir = model_dir / modules[1].get("path", "1_Pooling")
    pooling = _read_json(pooling_dir / "config.json")
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    if modes == ["pooling_mode_mean_tokens"]:
        mode = "mean"
    elif modes == ["pooling_mode_cls_token"]:
        mode = "cls"
    else:
        raise OnnxUnsupported(f"pooling {modes} (only mean or CLS pooling is supported)")
    config = model_dir / "sentence_bert_config.json"
    max_len = int(_read_json(config).get("max_seq_length") or 0) if config.is_file() else 0
    if not max_len:
        raise OnnxUnsupported("no max_seq_length in sentence_bert_config.json")
    return mode, max_len


def _stat_key(model_dir: Path, files: list[Path]) -> str:
    """Where the files are, their sizes and modification times: cheap, and unique per copy."""
    parts = [str(model_dir.resolve())]
    for path in files:
        stat = path.stat()
        parts.append(f"{path.relative_to(model_dir)}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _fingerprint(model_dir: Path, cache_dir: Path) -> str:
    """Identifies the model by its files' bytes, so every copy of one model shares one export.

    Hashing ~90 MB costs about 0.3 s, so the hash is remembered in the cache keyed by the files'
    paths, sizes and times: a later start of the same install only reads the folder listing.
    """
    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    key = _stat_key(model_dir, files)
    memo_path = cache_dir / "onnx-content-hashes.json"  # beside onnx/, whose folders are exports
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    if isinstance(memo, dict) and isinstance(memo.get(key), str):
        return memo[key]
    digest = hashlib.sha256(EXPORT_VERSION.encode())
    for path in files:
        digest.update(f"\n{path.relative_to(model_dir).as_posix()}\n".encode())
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    fingerprint = digest.hexdigest()[:16]
    memo = {**(memo if isinstance(memo, dict) else {}), key: fingerprint}
    try:  # a read-only cache only costs the hash again next time
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".hashes-", dir=memo_path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(memo, out)
        os.replace(tmp, memo_path)
    except OSError:
        pass
    return fingerprint


def _export(model_dir: Path, target: Path) -> None:
    """Export the transformer to ONNX with torch (once per machine), atomically."""
    try:
        import onnx  # noqa: F401 - torch's exporter needs it; fail early with a clear reason
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as transformers_logging
    except ImportError as exc:
        raise OnnxUnsupported(f"exporting needs torch, transformers and onnx ({exc})") from exc
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    base = AutoModel.from_pretrained(str(model_dir)).eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base = base

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.base(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    ids = torch.ones(2, 8, dtype=torch.long)
    target.parent.mkdir(parents=True, exist_ok=True)  # OSError here: the caller falls back
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".onnx", dir=target.parent)
    os.close(fd)
    try:
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Encoder(),
                (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                tmp,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OnnxUnsupported(f"ONNX export failed: {type(exc).__name__}: {exc}") from exc


class OnnxEncoder:
    """Tokenize with `tokenizers`, run the transformer on onnxruntime, pool as sentence-transformers."""

    def __init__(self, model_dir: Path, threads: int = 1, cache_dir: Path | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.pooling, self.max_seq_length = model_layout(self.model_dir)
        from tokenizers import Tokenizer

        self.counter = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.counter.no_truncation()
        self.counter.no_padding()
        self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.no_padding()
        self.path = self._onnx_file(cache_dir or default_cache_dir())
        try:
            self._open(self.path, threads)
        except Exception as exc:
            log.warning("cached ONNX model %s is unreadable (%s); exporting again", self.path, exc)
            (self.path.parent / "verified.json").unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)
            self.path = self._onnx_file(cache_dir or default_cache_dir())
            self._open(self.path, threads)

    def _open(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def _onnx_file(self, cache_dir: Path) -> Path:
        folder = cache_dir / "onnx" / f"{self.model_dir.name}-{_fingerprint(self.model_dir, cache_dir)}"
        path, verified = folder / "model.onnx", folder / "verified.json"
        if path.is_file() and verified.is_file():
            return path
        with _EXPORT_LOCK:
            if path.is_file() and verified.is_file():  # another thread exported it meanwhile
                return path
            try:
                if not path.is_file():
                    log.info(
                        "exporting the embedding model to ONNX, once per machine (about half a minute; "
                        "into %s)",
                        folder,
                    )
                    _export(self.model_dir, path)
                cosine = self._check_against_torch(path)
                if cosine < MIN_PROBE_COSINE:
                    raise OnnxUnsupported(
                        f"ONNX vectors differ from sentence-transformers (cosine {cosine:.5f})"
                    )
                verified.write_text(json.dumps({"min_probe_cosine": cosine}), encoding="utf-8")
            except OSError as exc:  # a read-only or full cache folder: torch still works
                raise OnnxUnsupported(f"cannot write the ONNX export under {cache_dir}: {exc}") from exc
        return path

    def _check_against_torch(self, path: Path) -> float:
        from sentence_transformers import SentenceTransformer

        self._open(path, threads=0)
        reference = SentenceTransformer(str(self.model_dir), device="cpu").encode(
            PROBES, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return float(np.min(np.sum(self.encode(PROBES) * reference, axis=1)))

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self.counter.encode_batch(texts, add_special_tokens=False)]

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length embeddings; texts of similar length share a batch (little padding)."""
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                weights = mask[..., None].astype(np.float32)
                pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[rows] = pooled / np.maximum(norms, 1e-12)
        return out


_EXPORT_LOCK = threading.Lock()
