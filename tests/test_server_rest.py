"""The REST API and server behaviour, against a real `cecot-rag serve` process over real HTTP.

Also the pure parts behind the page (escaping, upload names) and the service's ask limit.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cecot_rag import Answer, Assistant
from cecot_rag.answer.local_model import local_model_installed
from cecot_rag.server.app import BasicAuthMiddleware, parse_credentials
from cecot_rag.server.asks import AskBudget
from cecot_rag.server.feedback import FeedbackLog
from cecot_rag.server.page_documents import ingest_progress
from cecot_rag.server.render import answer_markdown, escape_markdown, sources_html
from cecot_rag.server.uploads import safe_upload_name
from helpers_quotes import assert_answer_quotes
from helpers_reliability import write_corpus
from helpers_server import RunningServer, running_server, serve_command, server_env

USER, PASSWORD = "reader", "s3cret:with-colon"
UPLOAD_LIMIT = 50_000
ZORBLAT = (
    "---\ntitle: Zorblat commission notes\n---\n"
    "The Zorblat Commission counted 412 cells in the Tegucigalpa annex during its March 2031 visit.\n"
    "Its second report described the annex kitchens and the water supply in detail.\n"
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("rest")
    with running_server(tmp, auth=f"{USER}:{PASSWORD}", max_upload_bytes=str(UPLOAD_LIMIT)) as running:
        yield running


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, auth=(USER, PASSWORD), timeout=120) as client:
        yield client


def ask(api: httpx.Client, question: str, **extra: object) -> httpx.Response:
    return api.post("/api/v1/ask", json={"question": question, **extra})


# -- the running server ------------------------------------------------------------------


def test_healthz_is_open_and_reports_the_ingested_bundled_documents(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}  # the count only for those who may list documents
    authenticated = httpx.get(f"{server.base_url}/healthz", auth=(USER, PASSWORD))
    assert authenticated.json() == {"status": "ok", "documents": 1}


@pytest.mark.parametrize("path", ["/api/v1/documents", "/", "/openapi.json"])
def test_page_api_and_docs_need_the_configured_credentials(server: RunningServer, path: str) -> None:
    anonymous = httpx.get(server.base_url + path)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic")
    wrong = httpx.get(server.base_url + path, auth=(USER, "wrong"))
    assert wrong.status_code == 401
    assert httpx.get(server.base_url + path, auth=(USER, PASSWORD)).status_code == 200


def test_ask_returns_an_answer_whose_citation_quotes_its_passage(api: httpx.Client) -> None:
    response = ask(api, "How many inmates can CECOT hold?")
    assert response.status_code == 200
    answer = Answer.model_validate(response.json())
    assert answer.answered and "40,000" in answer.text and "[1]" in answer.text
    citation = answer.citations[0]
    assert citation.number == 1
    assert citation.passage.text[citation.quote_start : citation.quote_end] == citation.quote
    assert "40,000" in citation.quote
    assert_answer_quotes(answer.question, answer.text, response.json()["citations"])
    assert answer.passages, "the retrieved passages come with the answer"


def test_follow_up_question_is_answered_in_the_context_of_the_previous_one(api: httpx.Client) -> None:
    first = ask(api, "What is Ecuador planning?").json()
    assert "Ecuador" in first["text"]
    history = [
        {"role": "user", "content": first["question"]},
        {"role": "assistant", "content": first["text"]},
    ]
    follow_up = ask(api, "And in Honduras?", history=history).json()
    assert follow_up["answered"]
    assert "Honduras" in follow_up["text"] and "Castro" in follow_up["text"]


def test_top_k_limits_the_retrieved_passages(api: httpx.Client) -> None:
    answer = ask(api, "Which countries want CECOT-style prisons?", top_k=2).json()
    assert len(answer["passages"]) == 2


def test_unanswerable_question_abstains_and_still_lists_the_closest_passages(api: httpx.Client) -> None:
    answer = ask(api, "What is the recipe for a chocolate soufflé with raspberries?").json()
    assert answer["answered"] is False
    assert answer["citations"] == []
    assert answer["passages"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"question": ""}, "empty"),
        ({"question": "   "}, "empty"),
        ({"question": "x" * 2001}, "limit is 2000"),
        ({"question": "why\x07?"}, "control characters"),
        ({"question": "What is CECOT?", "generator": "gpt-99"}, "unknown generator"),
    ],
)
def test_bad_questions_get_400_with_a_clear_message(api: httpx.Client, body: dict, message: str) -> None:
    response = api.post("/api/v1/ask", json=body)
    assert response.status_code == 400
    assert message in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [{}, {"question": 5}, {"question": "What is CECOT?", "top_k": 0}, {"question": "a", "history": [1]}],
)
def test_malformed_ask_bodies_get_422_json(api: httpx.Client, body: dict) -> None:
    response = api.post("/api/v1/ask", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_upload_with_unsupported_type_is_refused_with_415(api: httpx.Client, server: RunningServer) -> None:
    response = api.post(
        "/api/v1/documents", files={"file": ("tool.exe", b"MZ\x90\x00", "application/x-msdos")}
    )
    assert response.status_code == 415
    assert "unsupported file type .exe" in response.json()["detail"]
    assert not (server.index_dir / "uploads" / "tool.exe").exists()


def test_upload_over_the_size_limit_is_refused_with_413(api: httpx.Client, server: RunningServer) -> None:
    big = b"The prison report repeats itself. " * (UPLOAD_LIMIT // 20)
    response = api.post("/api/v1/documents", files={"file": ("big.txt", big, "text/plain")})
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert not (server.index_dir / "uploads" / "big.txt").exists()


def test_upload_that_cannot_be_parsed_is_refused_and_not_kept(
    api: httpx.Client, server: RunningServer
) -> None:
    response = api.post(
        "/api/v1/documents", files={"file": ("broken.pdf", b"not a pdf at all", "application/pdf")}
    )
    assert response.status_code == 422
    assert "broken.pdf" in response.json()["detail"]
    assert not (server.index_dir / "uploads" / "broken.pdf").exists()


def test_private_url_is_refused_with_the_reason(api: httpx.Client) -> None:
    response = api.post("/api/v1/documents", json={"url": "http://127.0.0.1:9/secret.html"})
    assert response.status_code == 422
    assert "is not a public address" in response.json()["detail"]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"url": "ftp://example.org/file.txt"}}, 422),
        ({"json": {"link": "https://example.org"}}, 422),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422),
        ({"content": b"url=https://example.org", "headers": {"content-type": "text/plain"}}, 415),
        ({"files": {"other": ("a.md", b"# A", "text/markdown")}}, 400),
    ],
)
def test_malformed_document_requests_get_a_4xx_json_message(
    api: httpx.Client, kwargs: dict, status: int
) -> None:
    response = api.post("/api/v1/documents", **kwargs)
    assert response.status_code == status
    assert isinstance(response.json()["detail"], str)


def test_deleting_an_unknown_document_is_404(api: httpx.Client) -> None:
    response = api.delete("/api/v1/documents/0000000000000000")
    assert response.status_code == 404
    assert "no document with id" in response.json()["detail"]


def test_uploaded_document_is_answerable_at_once_and_gone_after_delete(
    api: httpx.Client, server: RunningServer
) -> None:
    response = api.post(
        "/api/v1/documents",
        files={"file": ("../../notes/zorblat report.md", ZORBLAT.encode(), "text/markdown")},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert len(report["added"]) == 1 and report["failed"] == [] and report["passages"] >= 1
    document_id = report["added"][0]
    saved = server.index_dir / "uploads" / "zorblat_report.md"
    assert saved.read_text(encoding="utf-8") == ZORBLAT, "saved under uploads/ with a sanitised name"
    listed = {d["document_id"]: d for d in api.get("/api/v1/documents").json()}
    assert listed[document_id]["title"] == "Zorblat commission notes"

    answer = ask(api, "How many cells did the Zorblat Commission count?").json()
    assert answer["answered"] and "412 cells" in answer["text"]
    assert answer["citations"][0]["passage"]["document_id"] == document_id

    deleted = api.delete(f"/api/v1/documents/{document_id}")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": document_id}
    assert document_id not in {d["document_id"] for d in api.get("/api/v1/documents").json()}
    assert not saved.exists(), "the uploaded file goes too, so a rebuild does not bring it back"
    after = ask(api, "How many cells did the Zorblat Commission count?").json()
    assert all(c["passage"]["document_id"] != document_id for c in after["citations"])


def test_generators_lists_the_default_first(api: httpx.Client) -> None:
    # The packaged local model is offered wherever the llm extra installed it (CI installs it).
    expected = ["extractive", *(["local"] if local_model_installed() else [])]
    assert api.get("/api/v1/generators").json() == {"generators": expected, "default": "extractive"}


def test_openapi_schema_declares_models_and_error_responses(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()
    ask_responses = schema["paths"]["/api/v1/ask"]["post"]["responses"]
    assert {"200", "400", "401", "422", "503"} <= set(ask_responses)
    assert ask_responses["400"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorMessage")
    add = schema["paths"]["/api/v1/documents"]["post"]
    assert {"multipart/form-data", "application/json"} <= set(add["requestBody"]["content"])
    assert {"413", "415", "422"} <= set(add["responses"])
    assert "404" in schema["paths"]["/api/v1/documents/{document_id}"]["delete"]["responses"]
    assert "AskRequest" in schema["components"]["schemas"]


def test_second_server_on_the_same_index_exits_with_a_clear_message(
    server: RunningServer, tmp_path: Path
) -> None:
    result = subprocess.run(
        serve_command("--port", "1"),
        env=server_env(server.index_dir.parent),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 1
    assert "in use by another cecot-rag process" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_auth_setting_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        serve_command("--auth", "no-colon-here"),
        env=server_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 2
    assert "USER:PASSWORD" in result.stderr


# -- pure parts ----------------------------------------------------------------------------


def test_credentials_keep_colons_in_the_password() -> None:
    assert parse_credentials("ana:pa:ss") == ("ana", "pa:ss")
    for bad in ["ana", ":pw", "ana:"]:
        with pytest.raises(ValueError, match="USER:PASSWORD"):
            parse_credentials(bad)


def test_basic_auth_accepts_only_the_exact_credentials() -> None:
    middleware = BasicAuthMiddleware(app=None, credentials=("ana", "pw"))  # type: ignore[arg-type]

    def header(value: str) -> bytes:
        return b"Basic " + base64.b64encode(value.encode())

    assert middleware._authorised(header("ana:pw"))
    assert not middleware._authorised(header("ana:pw2"))
    assert not middleware._authorised(b"Bearer abc")
    assert not middleware._authorised(b"Basic %%%not-base64")


@given(st.text())
def test_escaped_markdown_never_contains_unescaped_markup(text: str) -> None:
    escaped = escape_markdown(text)
    unescaped = escaped.replace("\\\\", "").replace("\\<", "").replace("\\[", "").replace("\\!", "")
    assert "<" not in unescaped and "[" not in unescaped and "!" not in unescaped


def test_answer_markdown_links_only_known_citation_markers(bundled_assistant: Assistant) -> None:
    answer = bundled_assistant.ask("How many inmates can CECOT hold?")
    rendered = answer_markdown(answer.text + " Not a source [7]. ![x](http://a/b.png)", answer.citations)
    assert rendered.count("](#source-") == 1 and "[\\[1\\]](#source-1)" in rendered
    assert "\\[7\\]" in rendered and "(#source-7)" not in rendered
    assert "\\!\\[x\\]\\(http\\:" in rendered, "an image in an answer stays literal text"


def test_sources_panel_escapes_passage_html_and_marks_the_quote(bundled_assistant: Assistant) -> None:
    answer = bundled_assistant.ask("How many inmates can CECOT hold?")
    citation = answer.citations[0]
    hostile = citation.passage.model_copy(update={"title": "<script>alert(1)</script>"})
    panel = sources_html(
        answer.model_copy(update={"citations": [citation.model_copy(update={"passage": hostile})]})
    )
    assert "<script>" not in panel and "&lt;script&gt;" in panel
    assert f"<mark>{citation.quote}</mark>" in panel.replace("&#x27;", "'")
    assert 'id="source-1"' in panel


@given(st.text(max_size=300))
def test_upload_names_never_leave_the_uploads_folder(name: str) -> None:
    safe = safe_upload_name(name)
    assert safe and "/" not in safe and "\\" not in safe and not safe.startswith(".")
    assert Path(safe).name == safe


def test_ask_slots_wait_in_a_bounded_line_refuse_beyond_it_and_time_out(bundled_assistant: Assistant) -> None:
    patient = bundled_assistant.settings.model_copy(update={"max_waiting_asks": 1, "ask_wait_seconds": 600})
    asks = AskBudget(patient, slots=2)

    async def scenario() -> None:
        assert await asks.take() and await asks.take()
        waiter = asyncio.create_task(asks.take())
        await asyncio.sleep(0)  # the waiter joins the line
        extra = asyncio.create_task(asks.take())
        await asyncio.sleep(0)
        assert extra.done() and extra.result() is False, "a full line refuses at once"
        asks.give_back()
        assert await waiter, "a freed slot goes to the one waiting"
        asks.settings = patient.model_copy(update={"ask_wait_seconds": 0.05})
        assert not await asks.take(), "a wait longer than ask_wait_seconds fails"
        asks.give_back()
        assert await asks.take()
        assert asks.busy == "the server is answering 2 questions; retry shortly"

    asyncio.run(scenario())


def test_feedback_lines_carry_question_answer_citations_and_rating(
    bundled_assistant: Assistant, tmp_path: Path
) -> None:
    answer = bundled_assistant.ask("How many inmates can CECOT hold?")
    log = FeedbackLog(bundled_assistant.settings.model_copy(update={"index_dir": tmp_path}))
    log.record(answer, "down")
    log.record(answer, "up")
    lines = [json.loads(line) for line in (tmp_path / "feedback.jsonl").read_text().splitlines()]
    assert [line["rating"] for line in lines] == ["down", "up"]
    assert lines[0]["question"] == answer.question and lines[0]["answer"] == answer.text
    assert lines[0]["citations"][0]["quote"] == answer.citations[0].quote
    assert lines[0]["timestamp"].endswith("+00:00")


def test_page_ingestion_progress_shows_the_running_total_of_embedded_passages(
    fresh_assistant: Assistant, tmp_path: Path
) -> None:
    write_corpus(tmp_path / "reports", documents=4)  # 180 sentences: more than one embedding batch
    shown: list[str] = []

    def tracker(progress: object, desc: str, unit: str = "steps") -> None:  # gr.Progress's call
        shown.append(desc)

    report = fresh_assistant.ingest([tmp_path / "reports"], progress=ingest_progress(tracker, "reports"))
    totals = [int(desc.split(": ")[1].split()[0]) for desc in shown if "passages embedded" in desc]
    assert len(totals) > 1 and totals == sorted(totals)
    assert totals[-1] == report.passages
