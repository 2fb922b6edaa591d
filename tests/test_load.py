"""Load: 16 concurrent clients on the REST API and on the Gradio queue against one `cecot-rag serve`.

Bounded in count (a fixed number of questions per client) and loopback only. Every answer under
load must equal the answer given to a lone client; an overloaded server answers 503 at once.
Latency figures are printed (run with -s) for the README; nothing here asserts on speed.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from conftest import ARTICLE, free_port
from helpers_reliability import cli_env, run_cli
from helpers_security import queue_call, reply_text
from helpers_server import RunningServer, running_server

pytestmark = pytest.mark.slow

CLIENTS = 16
QUESTIONS_PER_CLIENT = 3
T = TypeVar("T")
QUESTIONS = {
    "How many inmates can CECOT hold?": "40,000",
    "In what year was Nayib Bukele elected president of El Salvador?": "2019",
    "How many people have been arrested under Bukele's state of emergency?": "75,000",
    "What was El Salvador's homicide rate in 2015?": "103",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # Deliberate limits: 4 answers at a time, 32 waiting; beyond that a quick 503. The LLM endpoint
    # is a closed port: the server must keep answering when that backend is down.
    with running_server(
        tmp_path_factory.mktemp("load"),
        max_concurrent_asks="4",
        max_waiting_asks="32",
        ask_wait_seconds="120",
        llm_base_url=f"http://127.0.0.1:{free_port()}/v1",
        llm_model="m",
        llm_timeout="2",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def lone_answers(server: RunningServer) -> dict[str, str]:
    """What each question gets when nobody else is asking."""
    answers = {}
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        for question, fact in QUESTIONS.items():
            response = client.post("/api/v1/ask", json={"question": question})
            assert response.status_code == 200, response.text
            answers[question] = response.json()["text"]
            assert fact in answers[question]
    return answers


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run_clients(client_run: Callable[[int], list[T]]) -> tuple[list[T], float]:
    """Run client_run(0..CLIENTS-1) at once; every client's results, and the wall time of all."""
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        runs = list(pool.map(client_run, range(CLIENTS)))
    elapsed = time.perf_counter() - started
    results = [result for run in runs for result in run]
    assert len(results) == CLIENTS * QUESTIONS_PER_CLIENT
    return results, elapsed


def report(label: str, latencies: list[float], elapsed: float) -> None:
    print(
        f"\n[load] {label}: {len(latencies)} answers, {CLIENTS} clients, "
        f"p50 {statistics.median(latencies):.2f} s, p95 {percentile(latencies, 0.95):.2f} s, "
        f"{len(latencies) / elapsed:.2f} answers/s"
    )


def test_sixteen_rest_clients_all_get_the_same_correct_answers_as_a_lone_client(
    server: RunningServer, lone_answers: dict[str, str]
) -> None:
    questions = list(QUESTIONS)

    def client_run(index: int) -> list[tuple[str, int, str, float]]:
        results = []
        with httpx.Client(base_url=server.base_url, timeout=300) as client:
            for turn in range(QUESTIONS_PER_CLIENT):
                question = questions[(index + turn) % len(questions)]
                started = time.perf_counter()
                response = client.post("/api/v1/ask", json={"question": question})
                text = response.json()["text"] if response.status_code == 200 else response.text
                results.append((question, response.status_code, text, time.perf_counter() - started))
        return results

    results, elapsed = run_clients(client_run)
    assert [status for _, status, _, _ in results] == [200] * len(results)
    for question, _, text, _ in results:
        assert text == lone_answers[question]
    report("REST /api/v1/ask", [latency for *_, latency in results], elapsed)


def test_sixteen_gradio_queue_clients_all_get_correct_answers(server: RunningServer) -> None:
    gradio_client = pytest.importorskip("gradio_client")
    questions = list(QUESTIONS)

    def client_run(index: int) -> list[tuple[str, str, float]]:
        client = gradio_client.Client(server.base_url + "/", verbose=False)
        results = []
        for turn in range(QUESTIONS_PER_CLIENT):
            question = questions[(index + turn) % len(questions)]
            started = time.perf_counter()
            outputs = client.predict(question, [], "extractive", api_name="/ask")
            results.append((question, reply_text(outputs[0][-1]["content"]), time.perf_counter() - started))
            client.reset_session()
        return results

    results, elapsed = run_clients(client_run)
    for question, reply, _ in results:
        assert QUESTIONS[question] in reply, reply
    report("Gradio queue /ask", [latency for *_, latency in results], elapsed)


def test_page_endpoints_have_fixed_names_and_answer(server: RunningServer) -> None:
    gradio_client = pytest.importorskip("gradio_client")
    client = gradio_client.Client(server.base_url + "/", verbose=False)
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    expected = {"/ask", "/clear", "/export", "/feedback", "/upload", "/add_url", "/delete_document"}
    assert expected | {"/list_documents", "/run_eval"} <= named
    listing, _ = client.predict(api_name="/list_documents")
    assert ARTICLE.name in listing and listing.count("<tr>") == 2  # the header row and one document


class Tarpit:
    """A loopback 'LLM endpoint' that accepts connections and never answers until released.

    Questions sent to it hold their ask slot for as long as the test wants, so the server's
    capacity is full however fast extractive answers are.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # the listener is closed on release
            while True:
                connection, _ = self.listener.accept()
                self.held.append(connection)

    def wait_for(self, count: int, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while len(self.held) < count:
            assert time.monotonic() < deadline, f"only {len(self.held)} of {count} questions reached the LLM"
            time.sleep(0.05)

    def release(self) -> None:
        """Refuse from now on and drop the held connections: the held questions fall back at once."""
        self.listener.close()
        for connection in self.held:
            connection.close()


@pytest.fixture(scope="module")
def held_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Tarpit]]:
    """A server like `server` (4 answering, 32 waiting) whose LLM endpoint is a tarpit."""
    tarpit = Tarpit()
    try:
        with running_server(
            tmp_path_factory.mktemp("held"),
            max_concurrent_asks="4",
            max_waiting_asks="32",
            ask_wait_seconds="300",
            llm_base_url=tarpit.url,
            llm_model="m",
            llm_timeout="300",
        ) as running:
            yield running, tarpit
    finally:
        tarpit.release()


def test_overloaded_server_refuses_the_excess_with_503_instead_of_hanging(
    held_server: tuple[RunningServer, Tarpit],
) -> None:
    server, tarpit = held_server
    slots, line, burst = 4, 32, 80
    question = "How many inmates can CECOT hold?"
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        lone = client.post("/api/v1/ask", json={"question": question}).json()["text"]
    refusals = threading.Semaphore(0)

    def one(generator: str | None) -> tuple[int, str, float]:
        started = time.perf_counter()
        with httpx.Client(base_url=server.base_url, timeout=600) as client:
            response = client.post("/api/v1/ask", json={"question": question, "generator": generator})
        body = response.json()
        text = body["text"] if response.status_code == 200 else str(body.get("detail", body))
        if response.status_code == 503:
            refusals.release()
        return response.status_code, text, time.perf_counter() - started

    with ThreadPoolExecutor(slots + burst) as pool:
        # Every answering slot is taken by a question waiting on the tarpit: the capacity is
        # full, so the burst's outcome no longer depends on how fast answers free their slots.
        holders = [pool.submit(one, "openai") for _ in range(slots)]
        tarpit.wait_for(slots)
        burst_results = [pool.submit(one, None) for _ in range(burst)]
        for _ in range(burst - line):  # the excess is refused at once (a hang fails here)
            assert refusals.acquire(timeout=120), "the excess was queued instead of refused"
        tarpit.release()
        results = [future.result() for future in burst_results]
        held = [future.result() for future in holders]
    statuses = [status for status, _, _ in results]
    assert statuses.count(503) == burst - line
    assert statuses.count(200) == line, "requests waiting in line were refused"
    for status, body, _ in results:
        assert body == lone if status == 200 else "retry shortly" in body
    assert [status for status, _, _ in held] == [200] * slots  # the held questions fell back
    assert all("40,000" in text for _, text, _ in held)
    refused = [latency for status, _, latency in results if status == 503]
    answered = [latency for status, _, latency in results if status == 200]
    print(
        f"\n[load] burst of {burst} with {slots} slots held: {len(answered)} answered after waiting "
        f"(median {statistics.median(answered):.2f} s), {len(refused)} refused with 503 "
        f"(median {statistics.median(refused):.2f} s)"
    )
    # The server is still healthy afterwards.
    assert httpx.get(f"{server.base_url}/healthz", timeout=60).status_code == 200


def test_cli_ingest_is_refused_while_serve_holds_the_same_index(
    server: RunningServer, tmp_path: Path
) -> None:
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nA note that must not be written behind the server's back.\n")
    refused = run_cli("ingest", str(note), env=cli_env(server.index_dir, server.documents_dir))
    assert refused.returncode == 1
    assert "in use by another cecot-rag process" in refused.stderr
    assert "cecot-rag serve" in refused.stderr
    assert "Traceback" not in refused.stderr
    documents = httpx.get(f"{server.base_url}/api/v1/documents", timeout=60).json()
    assert [d["title"] for d in documents if d["title"] == "Note"] == []


def test_server_keeps_answering_while_the_llm_endpoint_is_down(
    server: RunningServer, lone_answers: dict[str, str]
) -> None:
    question = "How many inmates can CECOT hold?"
    with httpx.Client(base_url=server.base_url, timeout=300) as client:
        with ThreadPoolExecutor(4) as pool:
            failing = [
                pool.submit(client.post, "/api/v1/ask", json={"question": question, "generator": "openai"})
                for _ in range(3)
            ]
            healthy = [pool.submit(client.post, "/api/v1/ask", json={"question": question}) for _ in range(3)]
        for future in failing:
            response = future.result()
            assert response.status_code == 200, response.text
            body = response.json()
            assert "could not be reached" in body["notice"] and "40,000" in body["text"]
        for future in healthy:
            assert future.result().json()["text"] == lone_answers[question]
        assert client.get("/healthz").status_code == 200


@pytest.fixture(scope="module")
def two_slot_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Tarpit]]:
    """Two questions answered at a time and none waiting, page and REST together; the LLM a tarpit."""
    tarpit = Tarpit()
    try:
        with running_server(
            tmp_path_factory.mktemp("two-slots"),
            max_concurrent_asks="2",
            max_waiting_asks="0",
            llm_base_url=tarpit.url,
            llm_model="m",
            llm_timeout="300",
        ) as running:
            yield running, tarpit
    finally:
        tarpit.release()


def page_ask(server: RunningServer, question: str, generator: str) -> str:
    """A question through the page's queue (the `ask` event); the last chat message as text."""
    message = queue_call(server.base_url, "ask", [question, [], None, generator])
    assert message["msg"] == "process_completed" and message["success"], message
    return reply_text(message["output"]["data"][0][-1]["content"])


def test_the_page_and_rest_share_one_ask_budget_and_say_busy_alike(
    two_slot_server: tuple[RunningServer, Tarpit],
) -> None:
    server, tarpit = two_slot_server
    question = "How many inmates can CECOT hold?"
    busy = "the server is answering 2 questions; retry shortly"
    with httpx.Client(base_url=server.base_url, timeout=600) as client, ThreadPoolExecutor(2) as pool:
        try:
            # One slot held by a REST question, the other by a page question (both wait on the LLM).
            written = {"question": question, "generator": "openai"}
            held_rest = pool.submit(client.post, "/api/v1/ask", json=written)
            tarpit.wait_for(1)
            held_page = pool.submit(page_ask, server, question, "openai")
            tarpit.wait_for(2)
            # Two budgets of two would each have a slot left; the one budget has none, for either side.
            refused = client.post("/api/v1/ask", json={"question": question})
            assert refused.status_code == 503 and refused.json()["detail"] == busy
            assert page_ask(server, question, "extractive") == busy
        finally:
            tarpit.release()  # the held questions fall back at once, also when an assertion failed
        assert held_rest.result(timeout=300).status_code == 200
        assert "40,000" in held_page.result(timeout=300)
    assert "40,000" in page_ask(server, question, "extractive")
