"""Written answers through the real `cecot-rag serve` (REST, startup lines) and `cecot-rag ask`, with
a scripted OpenAI-compatible endpoint on loopback: the test decides what the model writes and when
it stops answering, so nothing depends on the machine's speed. Then the packaged local model on the
page and through REST (llm), with its own generous deadline.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cecot_rag.answer.local_model import LABEL, LOCAL_MODEL, local_model_installed
from cecot_rag.answer.prompt import scaffolding_in, system_prompt
from cecot_rag.settings import DEFAULT_TOPIC
from helpers_llm import QUESTION, ScriptedEndpoint, scripted_endpoint
from helpers_server import RunningServer, running_server, server_env

STARTUP_SECONDS = 300
WRITTEN = "CECOT can hold 40,000 inmates [1]."
REPLY = f"{WRITTEN} END OF PASSAGE [1]>>>."


@pytest.fixture(scope="module")
def endpoint() -> Iterator[ScriptedEndpoint]:
    with scripted_endpoint(REPLY) as running:
        yield running


@pytest.fixture(scope="module")
def server(endpoint: ScriptedEndpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = {
        "generator": "openai",
        "llm_base_url": endpoint.base_url,
        "llm_model": "scripted",
        "llm_timeout": "20",
        "llm_retry_after": "600",
    }
    with running_server(tmp_path_factory.mktemp("served"), **settings) as running:
        yield running


def startup_lines(server: RunningServer) -> list[str]:
    """The server's output once it has said it is ready."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while "cecot-rag: ready after" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.5)
    return server.log().splitlines()


def test_serve_loads_and_warms_the_model_at_startup_and_says_so(
    server: RunningServer, endpoint: ScriptedEndpoint
) -> None:
    lines = startup_lines(server)
    ready = next(i for i, line in enumerate(lines) if line.startswith("cecot-rag: ready after"))
    warmed = [i for i, line in enumerate(lines) if "language model openai:scripted loaded and warmed" in line]
    assert warmed and warmed[0] < ready, lines
    assert any("loading the language model for 'openai' answers" in line for line in lines[: warmed[0]])
    warm = endpoint.requests[0]  # before any question
    assert warm["max_tokens"] == 1
    assert warm["messages"][0] == {"role": "system", "content": system_prompt(DEFAULT_TOPIC)}


def ask(client: httpx.Client, question: str = QUESTION) -> dict[str, object]:
    response = client.post("/api/v1/ask", json={"question": question})
    assert response.status_code == 200, response.text
    return response.json()


def test_rest_answers_are_written_then_say_why_they_are_quoted_after_a_deadline(
    server: RunningServer, endpoint: ScriptedEndpoint
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=300) as client:
        assert client.get("/api/v1/generators").json()["default"] == "openai"
        written = ask(client)
        assert written["generator"] == "openai:scripted"
        assert written["text"] == "CECOT can hold 40,000 inmates. [1]"
        assert (
            written["notice"] == "1 generated sentence was removed (the reason is listed with the sources)."
        )
        assert written["dropped"] == [
            {"text": "(withheld)", "reason": "repeats the framing of the language model's prompt"}
        ]
        decision = written["decision"]
        assert isinstance(decision, dict) and decision["score"] >= decision["threshold"]

        asked = len(endpoint.requests)
        endpoint.delay = 3600  # the model stops answering
        try:
            late = ask(client)
            paused = ask(client)
        finally:
            endpoint.delay = 0
    assert len(endpoint.requests) == asked + 1  # the paused model was not asked
    assert late["generator"] == paused["generator"] == "extractive (fallback from openai:scripted)"
    assert "40,000" in str(late["text"]) and late["decision"] == paused["decision"] == decision
    assert "within 20 s" in str(late["notice"]) and "showing quoted sentences" in str(late["notice"])
    assert str(paused["notice"]).startswith(
        "The language model is paused after a failure; quoted sentences shown. (It failed "
    )
    with httpx.Client(base_url=server.base_url, timeout=300) as client:
        unanswered = ask(client, "What is the capital of France?")
    assert unanswered["answered"] is False and unanswered["notice"] is None  # decided before the model


def cli(server: RunningServer, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cecot_rag.cli", *args],
        env=server_env(server.index_dir.parent, **settings),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_ask_with_a_generator_prints_the_written_answer_and_its_note(
    server: RunningServer, endpoint: ScriptedEndpoint
) -> None:
    done = cli(server, "ask", QUESTION, "--generator", "openai", llm_base_url=endpoint.base_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("CECOT can hold 40,000 inmates. [1]\n")
    assert "Note: 1 generated sentence was removed (the reason is listed with the sources)." in done.stdout
    assert "END OF" not in done.stdout and "PASSAGE" not in done.stdout
    refused = cli(server, "ask", QUESTION, "--generator", "openai")
    assert refused.returncode == 2 and refused.stdout == ""
    available = ", ".join(["extractive", *(["local"] if local_model_installed() else [])])
    assert refused.stderr == (
        f"cecot-rag: error: generator 'openai' is not available here; available: {available}\n"
    )


@pytest.mark.llm
def test_the_local_model_writes_on_the_page(tmp_path: Path) -> None:
    """The packaged model behind the real server: warmed at startup, written, verified, no prompt
    text, on the page and through REST. Its own generous deadline: this is not a speed test."""
    from playwright.sync_api import expect, sync_playwright

    from conftest import CHROMIUM, CHROMIUM_ARGS
    from test_page_browser import bot_messages

    with running_server(tmp_path, generator="local", llm_timeout="600") as server:
        lines = startup_lines(server)
        assert any(f"language model {LABEL} loaded and warmed" in line for line in lines), lines
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(server.base_url + "/")
                expect(page.locator("#generator")).to_contain_text(f"Written by {LOCAL_MODEL}")
                page.locator("#question textarea").fill(QUESTION)
                page.locator("#ask").click()
                answer = bot_messages(page).first
                expect(answer).to_contain_text("[1]", timeout=600_000)
                expect(answer).not_to_contain_text("writing…", timeout=600_000)
                # The page's own evidence words under the answer ("Evidence: strong") are not its text.
                evidence = answer.locator(".evidence")
                expect(evidence).to_have_count(1)
                shown = answer.inner_text().replace(evidence.inner_text(), "")
            finally:
                browser.close()
        with httpx.Client(base_url=server.base_url, timeout=900) as client:
            written = ask(client)
    assert scaffolding_in(shown) is None and "40,000" in shown
    assert written["generator"] == LABEL, written  # written by the model, not the quoted fallback
    assert scaffolding_in(str(written["text"])) is None and "40,000" in str(written["text"])
    for citation in written["citations"]:  # type: ignore[union-attr]
        passage = citation["passage"]
        assert citation["quote"] == passage["text"][citation["quote_start"] : citation["quote_end"]]
