"""Generated answers through an OpenAI-compatible endpoint: a real llama.cpp server with the packaged
Gemma, and endpoints that are down, slow, or answer garbage (the extractive answer must still come).
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cecot_rag import Assistant, Settings
from cecot_rag.answer.generated import GeneratedAnswerer
from cecot_rag.answer.llm import OpenAICompatibleBackend
from cecot_rag.answer.local_model import local_model_installed
from conftest import free_port, make_settings
from helpers_llm import QUESTION, LlamaServer, assert_verified, collect, llama_server


# -- a real llama.cpp server ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with llama_server(tmp_path_factory.mktemp("llama")) as running:
        yield running


@pytest.fixture(scope="module")
def server_assistant(server: LlamaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    settings = make_settings(
        tmp_path_factory.mktemp("served"),
        llm_base_url=server.base_url,
        llm_model="gemma-3-270m",
        llm_timeout=600,  # its own generous deadline: these check what is shown, not how fast
        top_k=3,
    )
    assistant = Assistant(settings)
    assistant.ingest([settings.documents_dir])
    yield assistant
    assistant.release_writer()


@pytest.mark.llm
def test_answer_through_the_openai_endpoint_obeys_the_verification_rules(
    server: LlamaServer, server_assistant: Assistant
) -> None:
    before = server.chat_requests()
    answer = server_assistant.ask(QUESTION, generator="openai")
    assert server.chat_requests() == before + 1  # the model really was asked
    assert_verified(answer, server_assistant, "openai:gemma-3-270m")
    assert answer.passages and answer.text


@pytest.mark.llm
def test_what_the_model_echoes_of_its_prompt_is_never_shown(
    server: LlamaServer, server_assistant: Assistant
) -> None:
    """Issue 22: this model answered this question with the prompt's delimiter and the title."""
    asked = "How many people have been arrested under the state of emergency?"
    found = server_assistant.prepare(asked, None, None, "openai")
    assert found.answered
    before = server.chat_requests()
    streamed, answer = collect(server_assistant.answerer("openai").stream(found))
    assert server.chat_requests() == before + 1
    assert_verified(answer, server_assistant, "openai:gemma-3-270m")  # no prompt text among the checks
    shown = " ".join([streamed, answer.text, *(d.text for d in answer.dropped)])
    for ours in ("END OF", "PASSAGE", "Evidence (quoted", "<<<", ">>>", found.passages[0].title):
        assert ours not in shown


@pytest.mark.llm
def test_streamed_answer_is_the_final_answer_text(server: LlamaServer, server_assistant: Assistant) -> None:
    before = server.chat_requests()
    streamed, answer = collect(
        server_assistant.ask_stream(
            "What was the homicide rate in El Salvador in 2015?", history=None, generator="openai"
        )
    )
    assert server.chat_requests() == before + 1
    assert streamed == answer.text
    assert_verified(answer, server_assistant, "openai:gemma-3-270m")


@pytest.mark.llm
def test_follow_up_is_rewritten_by_the_model_before_retrieval(
    server: LlamaServer, server_assistant: Assistant
) -> None:
    history = [
        {"role": "user", "content": "Which prison did Nayib Bukele build?"},
        {"role": "assistant", "content": "He built CECOT, a mega-prison. [1]"},
    ]
    before = server.chat_requests()
    found = server_assistant.prepare("How many inmates can it hold?", history, None, "openai")
    assert server.chat_requests() == before + 1  # the rewrite
    assert found.question.retrieval_query and found.question.retrieval_query != found.question.text
    assert found.passages
    answer = server_assistant.answerer("openai").answer(found)
    assert server.chat_requests() == before + 1 + found.answered  # asked to write only when answered
    assert_verified(answer, server_assistant, "openai:gemma-3-270m")


def test_generators_offers_the_configured_endpoint(tmp_path: Path) -> None:
    assistant = Assistant(make_settings(tmp_path, llm_base_url="http://127.0.0.1:9/v1", generator="openai"))
    local = ["local"] if local_model_installed() else []
    assert assistant.generators() == ["openai", "extractive", *local]


# -- endpoints that fail ----------------------------------------------------------------------------
class _MisbehavingHandler(http.server.BaseHTTPRequestHandler):
    mode = "slow"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.mode == "slow":
            time.sleep(8)
        body = b"<html><body>Internal proxy page, definitely not JSON</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up waiting, as it should
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def misbehaving_endpoints() -> Iterator[dict[str, str]]:
    """Two loopback endpoints: one that sleeps past the timeout, one that answers HTML."""
    servers = []
    urls = {}
    for mode in ("slow", "garbage"):
        handler = type(f"{mode.title()}Handler", (_MisbehavingHandler,), {"mode": mode})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        urls[mode] = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield urls
    for server in servers:
        server.shutdown()
        server.server_close()


def failing_answer(assistant: Assistant, base_url: str, timeout: float = 2.0):  # type: ignore[no-untyped-def]
    backend = OpenAICompatibleBackend(Settings(llm_base_url=base_url, llm_model="m", llm_timeout=timeout))
    answerer = GeneratedAnswerer("openai", backend, assistant.embedder, assistant.answerer("extractive"))
    return collect(answerer.stream(assistant.prepare(QUESTION, None, 3)))


@pytest.mark.timeout(120)
def test_endpoint_down_gives_the_extractive_answer_with_a_notice(bundled_assistant: Assistant) -> None:
    streamed, answer = failing_answer(bundled_assistant, f"http://127.0.0.1:{free_port()}/v1")
    assert answer.generator == "extractive (fallback from openai:m)"
    assert answer.notice and "could not be reached" in answer.notice and "quoted sentences" in answer.notice
    assert answer.answered and "40,000" in answer.text and streamed == answer.text
    assert_verified(answer, bundled_assistant, "openai:m")


@pytest.mark.timeout(120)
def test_slow_endpoint_times_out_into_the_extractive_answer(
    bundled_assistant: Assistant, misbehaving_endpoints: dict[str, str]
) -> None:
    _, answer = failing_answer(bundled_assistant, misbehaving_endpoints["slow"])
    assert answer.generator == "extractive (fallback from openai:m)"
    assert answer.notice and "within 2 s" in answer.notice
    assert answer.answered and "40,000" in answer.text


@pytest.mark.timeout(120)
def test_garbage_from_the_endpoint_gives_the_extractive_answer(
    bundled_assistant: Assistant, misbehaving_endpoints: dict[str, str]
) -> None:
    _, answer = failing_answer(bundled_assistant, misbehaving_endpoints["garbage"], timeout=20)
    assert answer.generator == "extractive (fallback from openai:m)"
    assert answer.notice and misbehaving_endpoints["garbage"] in answer.notice
    assert answer.answered and "40,000" in answer.text
