"""GGUF models run in this process by llama-cpp-python, as a llama-index LLM.

Every file is loaded once per process (a cache keyed by path), because loading costs seconds and,
for the packaged local model, 1.9 GB; generation on one model is serialised by its lock.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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

CONTEXT_TOKENS = 4096
IDLE_SAMPLE_SECONDS = 0.1

_models: dict[tuple[str, int], tuple[Any, threading.Lock]] = {}
_models_lock = threading.Lock()


def load_llama(
    path: Path, n_ctx: int, chat_format: str | None = None, n_threads: int = 1
) -> tuple[Any, threading.Lock]:
    """The llama_cpp.Llama for path, loaded on first use and shared by the whole process, with the
    lock that every generation on it must hold (llama.cpp contexts are not thread-safe). The first
    load decides its threads."""
    key = (str(path.resolve()), n_ctx)
    with _models_lock:
        if key not in _models:
            if not _models:
                atexit.register(close_models)
            _models[key] = (_new_llama(path, n_ctx, chat_format, n_threads), threading.Lock())
        return _models[key]


def close_models() -> None:
    """Free every loaded model while llama_cpp is still whole. Left to the interpreter's shutdown,
    Llama.__del__ runs after llama_cpp's module globals are gone and prints a traceback
    ("'NoneType' object is not callable") at the end of the test session. A model still generating
    (in a daemon thread that outlived its deadline) is left as it is: waiting for it would hold up
    the exit, and freeing it under the generation would crash."""
    with _models_lock:
        for key, (llama, lock) in list(_models.items()):
            if lock.acquire(blocking=False):
                try:
                    llama.close()
                finally:
                    lock.release()
                del _models[key]


@contextmanager
def without_extra_buffers() -> Iterator[None]:
    """Every llama_cpp.Llama built inside loads without llama.cpp's "extra buffer types".

    Those repack weights for AMX on CPUs that report it; on this kind of machine (a VM reporting
    AMX) the AMX matrix multiply segfaults in the first llama_decode (llama-cpp-python 0.3.36,
    any model). Llama() has no argument for it, so its default model parameters are swapped
    while the block runs (the in-process loader holds _models_lock; the test server wraps its
    whole run in it).
    """
    import llama_cpp.llama as llama_module

    original = llama_module.llama_cpp.llama_model_default_params

    def defaults() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    llama_module.llama_cpp.llama_model_default_params = defaults
    try:
        yield
    finally:
        llama_module.llama_cpp.llama_model_default_params = original


def _new_llama(path: Path, n_ctx: int, chat_format: str | None, n_threads: int) -> Any:
    import llama_cpp

    with without_extra_buffers():
        return llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_batch=512,
            # llama-cpp-python generates on half the cores by default; one answer at a time uses all
            # it is given, for the prompt (n_threads_batch) as for each token.
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=False,
            chat_format=chat_format,
        )


class LlamaCppLLM(CustomLLM):
    """A GGUF run in this process by llama-cpp-python, as a llama-index LLM (one generation at a time).

    Chat goes through the file's own chat template (or chat_format); Gemma's format drops system
    turns, so for it the system prompt is folded into the first user turn. llama.cpp keeps the last
    prompt's computation, so a prompt that starts like the previous one is computed only from where
    they differ.
    """

    model_path: str
    chat_format: str | None = None
    n_ctx: int = CONTEXT_TOKENS
    n_threads: int = 0  # 0: the cores idle when each generation starts (generation_threads)
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
        return load_llama(
            Path(self.model_path), self.n_ctx, self.chat_format, self.n_threads or available_cores()
        )

    def load(self) -> None:
        """Load the GGUF now rather than on the first question."""
        self._model()

    def _chunks(self, create: str, request: dict[str, Any], **kwargs: Any) -> Iterator[str]:
        model, lock = self._model()
        options = {"max_tokens": kwargs.get("max_tokens", self.max_tokens), "temperature": self.temperature}
        # llama.cpp contexts are not thread-safe: a late generation finishes its token before the next.
        with lock:
            import llama_cpp

            threads = self.n_threads or generation_threads(idle_cores(), available_cores())
            llama_cpp.llama_set_n_threads(model._ctx.ctx, threads, threads)
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


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity), not every core of the machine."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def idle_cores(interval: float = IDLE_SAMPLE_SECONDS, stat: Path = Path("/proc/stat")) -> float | None:
    """How many of the machine's cores were idle over the last interval seconds; None where the
    kernel does not say (not Linux)."""

    def sample() -> tuple[int, int, int]:
        fields = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4], os.cpu_count() or 1  # total, idle + iowait, cores

    try:
        before = sample()
        time.sleep(interval)
        after = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = after[0] - before[0]
    return after[2] * (after[1] - before[1]) / total if total > 0 else None


def generation_threads(idle: float | None, cores: int) -> int:
    """Threads for one generation: the idle cores, rounded, at least 1 and at most cores (all of
    them when unknown). A thread beyond the idle cores makes llama.cpp's threads wait for each
    other: at a load of 7 on 2 cores, 60 tokens of Gemma 270M took 18.6 s on 2 threads, 2.9 s on 1."""
    if idle is None:
        return cores
    return max(1, min(cores, round(idle)))


def merge_system(messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The system prompt folded into the first user turn."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    return rest
