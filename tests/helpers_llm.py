"""Shared by the generated-answer tests: a real llama.cpp server, a scripted backend, and the checks
every generated answer must pass whatever the model wrote."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cecot_rag import Answer, Assistant
from cecot_rag.answer.llm import PACKAGED_GEMMA, ChatBackend, Messages, resolve_model_path
from cecot_rag.answer.verify import SHORT_ANSWER_TERMS, GeneratedSentence, Verifier, split_generated
from cecot_rag.text import terms
from conftest import free_port, stop_process, wait_for_http_ok

SERVER_STARTUP_SECONDS = 240
MARKER = re.compile(r"\[(\d+)\]")


def gemma_path() -> Path:
    return resolve_model_path(PACKAGED_GEMMA)


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


class ScriptedBackend(ChatBackend):
    """Replays fixed text in small deltas, as a streaming model would (None: connection refused)."""

    def __init__(self, text: str | None, label: str = "openai:scripted", chunk: int = 7) -> None:
        super().__init__(timeout=10, cooldown=0)
        self.text = text
        self.chunk = chunk
        self.label = label
        self.where = "The scripted model"
        self.prompts: list[Messages] = []

    def _deltas(self, messages: Messages, max_tokens: int, stop: threading.Event) -> Iterator[str]:
        self.prompts.append(messages)
        if self.text is None:
            raise ConnectionError("refused")
        for i in range(0, len(self.text), self.chunk):
            yield self.text[i : i + self.chunk]


def collect(stream: Iterator[str | Answer]) -> tuple[str, Answer]:
    """The joined text deltas and the final Answer of a stream."""
    items = list(stream)
    final = items[-1]
    assert isinstance(final, Answer), items
    assert all(isinstance(i, str) for i in items[:-1])
    return "".join(str(i) for i in items[:-1]), final


def assert_verified(answer: Answer, assistant: Assistant, label: str, survived: bool = False) -> None:
    """The rules of issue 5, checked independently on whatever the model produced.

    survived: the answer must consist of generated sentences that passed verification; neither
    the extractive fallback nor an abstention counts.
    """
    if survived:
        assert answer.generator == label and answer.answered, (answer.generator, answer.text, answer.dropped)
    assert answer.generator in (label, f"extractive (fallback from {label})"), answer.generator
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
