"""Shared by the generated-answer tests: scripted models (an in-process llama-index LLM and an
OpenAI-compatible endpoint on loopback, both replaying fixed text), a real llama.cpp server, an
in-process `cecot-rag` server, and the checks every generated answer must pass whatever the model
wrote."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from pydantic import Field, PrivateAttr

from cecot_rag import Answer, Assistant, Passage
from cecot_rag.answer.base import Question
from cecot_rag.answer.candidates import candidates
from cecot_rag.answer.generated import GeneratedAnswerer
from cecot_rag.answer.llm import PACKAGED_GEMMA, LlamaIndexBackend, resolve_model_path
from cecot_rag.answer.path import Found
from cecot_rag.answer.prompt import scaffolding_in
from cecot_rag.answer.select import select
from cecot_rag.answer.verify import SHORT_ANSWER_TERMS, GeneratedSentence, Verifier, split_generated
from cecot_rag.text import terms
from conftest import free_port, stop_process, wait_for_http_ok

SERVER_STARTUP_SECONDS = 240
MARKER = re.compile(r"\[(\d+)\]")
QUESTION = "How many inmates can CECOT hold?"
CAPACITY = "CECOT can hold 40,000 inmates [1]."


def gemma_path() -> Path:
    return resolve_model_path(PACKAGED_GEMMA)


# -- scripted models ----------------------------------------------------------------------------------
class ScriptedLLM(CustomLLM):
    """A llama-index LLM that streams `text` in `chunk`-character deltas whatever it is asked, and
    records the prompts. text None: it fails as an unreachable server would. After hold_after(n),
    it stops after n sentences and the next one's first character (so the n can be shown) until
    the event it returns is set (at most 60 s). `closed` is set when the reader stops reading
    before the end."""

    text: str | None = ""
    chunk: int = 7
    model: str = "scripted"
    prompts: list[str] = Field(default_factory=list)
    _hold: tuple[int, threading.Event] | None = PrivateAttr(default=None)
    _closed: threading.Event = PrivateAttr(default_factory=threading.Event)

    def hold_after(self, sentences: int) -> threading.Event:
        self._hold = (sentences, threading.Event())
        return self._hold[1]

    @property
    def closed(self) -> threading.Event:
        return self._closed

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text="".join(r.delta or "" for r in self.stream_complete(prompt)))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        self.prompts.append(prompt)
        if self.text is None:
            raise ConnectionError("refused")
        text, hold, closed = self.text, self._hold, self._closed

        held = len(text)
        if hold is not None:
            ends = [m.end() for m in re.finditer(r"\. ", text)]
            held = 0 if not hold[0] else ends[hold[0] - 1] + 1 if len(ends) >= hold[0] else len(text)
        pieces = [text[i : min(i + self.chunk, held)] for i in range(0, held, self.chunk)]
        pieces += [text[i : i + self.chunk] for i in range(held, len(text), self.chunk)]

        def deltas() -> CompletionResponseGen:
            sent = ""
            try:
                for piece in pieces:
                    if hold is not None and len(sent) == held:
                        hold[1].wait(60)
                    sent += piece
                    yield CompletionResponse(text=sent, delta=piece)
            except GeneratorExit:
                closed.set()
                raise

        return deltas()


def found_for(
    question: str, passages: list[Passage], answers: Sequence[str], threshold: float = 0.5
) -> Found:
    """What the answer path finds when its scorer says that the sentences `answers` (best first)
    answer the question and no other sentence of passages does: for unit tests on hand-made
    passages (the answer path itself is tested with the real scorers)."""
    found, _ = candidates(passages)
    for candidate in found:
        candidate.scored_by = "scripted"
        rank = answers.index(candidate.text) if candidate.text in answers else None
        candidate.score = 0.1 if rank is None else 0.9 - 0.01 * rank
    return Found(Question(question, question), passages, found, select(found, "scripted", threshold, 3))


def scripted_answerer(
    assistant: Assistant, text: str | None, attach: bool = False, timeout: float = 30, chunk: int = 7
) -> tuple[GeneratedAnswerer, ScriptedLLM]:
    """A generated answerer on assistant's embedder whose model replays text (no pause after a failure)."""
    llm = ScriptedLLM(text=text, chunk=chunk)
    backend = LlamaIndexBackend(llm, "llama-index:scripted", "The scripted model", timeout, cooldown=0)
    name = "local" if attach else "llama-index"
    return GeneratedAnswerer(
        name, backend, assistant.embedder, assistant.answerer("extractive"), attach=attach
    ), llm


@dataclass
class ScriptedEndpoint:
    """An OpenAI-compatible chat endpoint on loopback that streams `reply` (server-sent events).

    delay: seconds before the first chunk (a slow model); hold: an event the stream waits on after
    its first sentence (at most 120 s), so a test can look at the page while the model is writing.
    """

    reply: str = CAPACITY
    delay: float = 0.0
    hold: threading.Event | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""

    def chunks(self) -> Iterator[str]:
        if self.delay:
            time.sleep(self.delay)
        text = self.reply
        first_end = text.find(". ") + 2 if ". " in text else len(text)
        yield text[:first_end]
        if self.hold is not None:
            self.hold.wait(120)
        for start in range(first_end, len(text), 8):
            yield text[start : start + 8]


@contextmanager
def scripted_endpoint(reply: str = CAPACITY) -> Iterator[ScriptedEndpoint]:
    endpoint = ScriptedEndpoint(reply)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # /v1/models
            self._send(200, "application/json", b'{"object": "list", "data": [{"id": "scripted"}]}')

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            endpoint.requests.append(body)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                for piece in endpoint.chunks():
                    event = {
                        "id": "scripted",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": "scripted",
                        "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}}],
                    }
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
            except OSError:
                pass  # the client stopped reading, as it should at its deadline

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield endpoint
    finally:
        if endpoint.hold is not None:
            endpoint.hold.set()
        server.shutdown()
        server.server_close()


# -- real servers -------------------------------------------------------------------------------------
@dataclass
class LlamaServer:
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def chat_requests(self) -> int:
        """How many chat completions the server has answered (from its access log)."""
        log = self.log_path.read_text(encoding="utf-8", errors="replace")
        return log.count('"POST /v1/chat/completions HTTP/1.1" 200')


@contextmanager
def llama_server(tmp: Path) -> Iterator[LlamaServer]:
    """llama_cpp.server with the packaged Gemma on a free loopback port."""
    port = free_port()
    log_path = tmp / "llama-server.log"
    # llama_cpp.server under without_extra_buffers(): the AMX path it would take segfaults here.
    serve = (
        "import runpy; from cecot_rag.answer.llamacpp_llm import without_extra_buffers\n"
        "with without_extra_buffers(): runpy.run_module('llama_cpp.server', run_name='__main__')"
    )
    command = [
        sys.executable,
        "-c",
        serve,
        "--model",
        str(gemma_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--chat_format",
        "gemma",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", log_path, process)
    try:
        wait_for_http_ok(
            process,
            f"{server.base_url}/models",
            SERVER_STARTUP_SECONDS,
            "llama_cpp.server",
            lambda: log_path.read_text()[-3000:],
        )
        yield server
    finally:
        stop_process(process, grace=20)


@contextmanager
def inprocess_server(assistant: Assistant) -> Iterator[str]:
    """The whole `cecot-rag serve` app (page and REST) for assistant, served by uvicorn in this
    process on a free loopback port, so a test can change the assistant while it runs; yields the
    base URL once /healthz answers 200."""
    import uvicorn

    from cecot_rag.server.app import create_app

    port = free_port()
    config = uvicorn.Config(create_app(assistant=assistant), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_STARTUP_SECONDS
        import httpx

        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("the in-process server did not become ready")
        yield base_url
    finally:
        server.should_exit = True
        thread.join(30)


# -- checks -------------------------------------------------------------------------------------------
def collect(stream: Iterator[str | Answer]) -> tuple[str, Answer]:
    """The joined text deltas and the final Answer of a stream."""
    items = list(stream)
    final = items[-1]
    assert isinstance(final, Answer), items
    assert all(isinstance(i, str) for i in items[:-1])
    return "".join(str(i) for i in items[:-1]), final


def assert_verified(answer: Answer, assistant: Assistant, label: str, survived: bool = False) -> None:
    """The rules every generated answer obeys, checked independently on whatever the model produced.

    survived: the answer must consist of generated sentences that passed verification; neither
    the extractive fallback nor an abstention counts.
    """
    if survived:
        assert answer.generator == label and answer.answered, (answer.generator, answer.text, answer.dropped)
    assert answer.generator in (label, f"extractive (fallback from {label})"), answer.generator
    assert answer.decision is not None and answer.answered == (
        answer.decision.score >= answer.decision.threshold
    )
    assert scaffolding_in(answer.text) is None, answer.text
    for banned in ("![", "<img", "http://", "https://", "<script"):
        assert banned not in answer.text
    retrieved = {p.id for p in answer.passages}
    numbers = [c.number for c in answer.citations]
    assert numbers == list(range(1, len(numbers) + 1))
    for citation in answer.citations:
        assert citation.passage.id in retrieved
        assert citation.quote == citation.passage.text[citation.quote_start : citation.quote_end]
    used = {int(n) for n in MARKER.findall(answer.text)}
    assert used == set(numbers), (answer.text, numbers)
    for dropped in answer.dropped:
        assert dropped.reason and dropped.text
        assert dropped.text not in answer.text, "a sentence listed as removed is shown"
    if answer.generator != label:  # the extractive fallback says why
        assert answer.notice
        return
    if not answer.answered:
        assert answer.citations == [] and answer.text.startswith("The documents do not say.")
        return
    # Every surviving sentence passes the same checks again against the passages its markers name.
    by_number = [c.passage for c in answer.citations]
    verifier = Verifier(by_number, assistant.embedder)
    sentences = split_generated(answer.text)
    assert sentences
    for sentence in sentences:
        verdict = verifier.check(sentence)
        if not verdict.supported and len(set(terms(sentence.text))) < SHORT_ANSWER_TERMS:
            # A bare answer ("2019.") is a claim together with the question (Verifier.attach).
            claim = GeneratedSentence(f"{answer.question} {sentence.text}", sentence.markers)
            verdict = verifier.check(claim)
        assert verdict.supported, (sentence, verdict.reason)
