"""The chat page in headless Debian Chromium (Playwright, no browser download) against `cecot-rag serve`.

One server per module, started with --auth as a user would; each test gets its own browser
context, i.e. its own Gradio session.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from cecot_rag.answer.local_model import local_model_installed
from cecot_rag.settings import DEFAULT_EXAMPLE_QUESTIONS
from conftest import CHROMIUM
from helpers_quotes import EXPECTED_QUOTES
from helpers_server import RunningServer, running_server

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
Page = playwright_api.Page

USER, PASSWORD = "journalist", "correct horse"
ANSWER_WAIT_MS = 120_000
# A finished answer: it cites ([n]) or it abstains. Waiting for "" would pass on an empty bubble.
FINISHED_ANSWER = re.compile(r"\[\d+\]|do not say")
HOSTILE_DOCUMENT = """---
title: Zorblat field notes <script>window.__pwned = "title"</script>
---
The Zorblat Commission counted 412 cells in the Tegucigalpa annex <img src=x onerror="window.__pwned='img'"> \
![tracker](http://198.51.100.7/pixel.png) <script>window.__pwned='script'</script> in 2031.
Its second report described the annex kitchens and the water supply in great detail.
"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs Debian chromium (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("page")
    with running_server(tmp, "--auth", f"{USER}:{PASSWORD}", "--log-level", "info") as running:
        yield running


@pytest.fixture
def outside_requests() -> list[str]:
    return []


@pytest.fixture
def page(browser: object, server: RunningServer, outside_requests: list[str]) -> Iterator[Page]:
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1400, "height": 950},
        http_credentials={"username": USER, "password": PASSWORD},
        accept_downloads=True,
    )
    context.on(
        "request",
        lambda request: (
            outside_requests.append(request.url)
            if urlparse(request.url).hostname not in ("127.0.0.1", None)
            else None
        ),
    )
    opened = context.new_page()
    opened.goto(server.base_url + "/")
    yield opened
    context.close()


def bot_messages(page: Page) -> object:
    return page.locator('#chat [data-testid="bot"]')


def ask_in_page(page: Page, question: str, expected: str | re.Pattern[str]) -> object:
    """Type a question, send it, and wait for the answer containing `expected`; returns that message."""
    count = bot_messages(page).count()
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()
    answer = bot_messages(page).nth(count)
    expect(answer).to_contain_text(expected, timeout=ANSWER_WAIT_MS)
    return answer


def expect_marked_sentence(page: Page, question: str) -> None:
    """The first source's <mark> is the article's sentence for the question, not the API's own quote."""
    card = page.locator("#sources-panel .citation").filter(has=page.locator("#source-1-1"))
    expect(card.locator("mark")).to_have_text(EXPECTED_QUOTES[question])


def api(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, auth=(USER, PASSWORD), timeout=120)


def test_answer_shows_linked_marker_and_the_cited_sentence_is_marked(
    page: Page, server: RunningServer
) -> None:
    question = "How many inmates can CECOT hold?"
    with api(server) as client:
        expected = client.post("/api/v1/ask", json={"question": question}).json()
    quote = expected["citations"][0]["quote"]
    answer = ask_in_page(page, question, "40,000")

    marker = answer.locator('a[href="#source-1-1"]')
    expect(marker).to_have_text("[1]")
    assert quote == EXPECTED_QUOTES[question]
    card = page.locator("#sources-panel .citation").filter(has=page.locator("#source-1-1"))
    expect_marked_sentence(page, question)
    expect(card).to_contain_text(expected["citations"][0]["passage"]["title"])
    expect(card).to_contain_text("cecot-security-policy-latin-america.md")
    expect(card).to_contain_text("bundled document · English")
    if local_model_installed():  # the switch appears once a second answerer exists; quoted is default
        expect(page.locator("#generator")).to_be_visible()
        expect(page.locator("#generator")).to_contain_text("Quoted sentences")
    else:  # only quoted answers are configured
        expect(page.locator("#generator")).to_be_hidden()
    uncited = page.locator("#sources-panel details.uncited")
    expect(uncited).to_contain_text("Also retrieved, not cited")
    assert uncited.get_attribute("open") is None, "passages not cited are listed collapsed"

    marker.click()  # scrolls to the source instead of navigating
    assert urlparse(page.url).fragment == ""
    expect(card).to_have_class("citation flash")


def test_follow_up_question_uses_the_conversation(page: Page) -> None:
    ask_in_page(page, "What is Ecuador planning?", "Noboa")
    follow_up = ask_in_page(page, "And in Honduras?", "Honduras")
    expect(follow_up).to_contain_text("Castro")


def test_example_question_buttons_ask_and_hide_then_clear_resets(page: Page) -> None:
    example = page.get_by_role("button", name=DEFAULT_EXAMPLE_QUESTIONS[0])
    expect(example).to_be_visible()
    example.click()
    expect(bot_messages(page).first).to_contain_text("40,000", timeout=ANSWER_WAIT_MS)
    expect(example).to_be_hidden()

    page.locator("#clear").click()
    expect(bot_messages(page)).to_have_count(0)
    expect(example).to_be_visible()
    expect(page.locator("#sources-panel")).to_contain_text("Sources of the latest answer appear here")


def test_unanswerable_question_says_so_and_shows_the_closest_passages(page: Page) -> None:
    ask_in_page(page, "What is the recipe for a chocolate soufflé?", "The documents do not say")
    expect(page.locator("#sources-panel .abstained")).to_contain_text("No answer")
    closest = page.locator("#sources-panel details.uncited")
    expect(closest).to_contain_text("Closest passages")
    assert closest.get_attribute("open") is not None


def test_sessions_never_see_each_others_conversation(
    browser: object, page: Page, server: RunningServer
) -> None:
    ask_in_page(page, "What is Ecuador planning?", "Noboa")
    other_context = browser.new_context(http_credentials={"username": USER, "password": PASSWORD})  # type: ignore[attr-defined]
    try:
        other = other_context.new_page()
        other.goto(server.base_url + "/")
        expect(other.locator("#question textarea")).to_be_visible()
        expect(bot_messages(other)).to_have_count(0)
        # A short question in the other session is not joined to this session's Ecuador question.
        answer = ask_in_page(other, "And in Honduras?", "Honduras")
        expect(answer).not_to_contain_text("Ecuador")
        expect(other.locator('#chat [data-testid="user"]')).to_have_count(1)
    finally:
        other_context.close()
    expect(bot_messages(page)).to_have_count(1)


def test_thumbs_up_appends_the_rated_answer_to_the_feedback_log(page: Page, server: RunningServer) -> None:
    log = server.index_dir / "feedback.jsonl"
    before = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    answer = ask_in_page(page, "How many inmates can CECOT hold?", "[1]")
    page.locator('#chat button[aria-label="Like"]').last.click()
    expect(page.get_by_text("your rating was recorded")).to_be_visible(timeout=30_000)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(before) + 1
    entry = json.loads(lines[-1])
    assert entry["rating"] == "up"
    assert entry["question"] == "How many inmates can CECOT hold?"
    assert entry["citations"] and entry["citations"][0]["quote"] in answer.inner_text()


def test_export_downloads_the_conversation_as_markdown_with_sources(page: Page, tmp_path: Path) -> None:
    ask_in_page(page, "How many inmates can CECOT hold?", "40,000")
    with page.expect_download() as download:  # one click: the button holds the file
        page.locator("#export").click()
    saved = tmp_path / "conversation.md"
    download.value.save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert text.startswith("# cecot-rag conversation")
    assert "## How many inmates can CECOT hold?" in text
    assert "Sources:" in text and "40,000" in text
    assert "inmates, has become a symbol of Bukele’s iron-fisted approach to crime. [1]" in text
    assert "- [1] " in text and "\\[" not in text, "the markers read [1], not \\[1\\]"


def test_uploaded_document_is_answerable_escaped_and_deletable(
    page: Page, server: RunningServer, tmp_path: Path, outside_requests: list[str]
) -> None:
    document = tmp_path / "zorblat notes.md"
    document.write_text(HOSTILE_DOCUMENT, encoding="utf-8")
    page.get_by_role("tab", name="Documents").click()
    with page.expect_file_chooser() as chooser:
        page.locator("#upload").click()
    chooser.value.set_files(str(document))
    expect(page.locator("#documents-status")).to_contain_text("1 added", timeout=ANSWER_WAIT_MS)
    cells = page.locator("#documents td")
    expect(cells.filter(has_text="zorblat_notes.md")).to_have_count(1)
    assert (server.index_dir / "uploads" / "zorblat_notes.md").exists()

    page.get_by_role("tab", name="Chat").click()
    answer = ask_in_page(page, "How many cells did the Zorblat Commission count?", "412 cells")
    # The markup in the document is shown as text, never run or fetched.
    expect(answer).to_contain_text("<script>window.__pwned='script'</script>")
    expect(answer).to_contain_text("![tracker](http://198.51.100.7/pixel.png)")
    expect(page.locator("#sources-panel .citation").first).to_contain_text(
        'Zorblat field notes <script>window.__pwned = "title"'
    )
    expect(page.locator("#sources-panel mark").first).to_contain_text("412 cells")
    assert page.locator("#chat img, #sources-panel img, #sources-panel script").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert not [url for url in outside_requests if "198.51.100.7" in url]
    assert outside_requests == [], "the page fetches nothing from outside the server"

    page.get_by_role("tab", name="Documents").click()
    page.locator("#delete-choice input").click()
    page.get_by_role("option", name="Zorblat field notes").click()
    page.locator("#delete").click()
    page.locator("#confirm-delete").click()
    expect(page.locator("#documents-status")).to_contain_text("Deleted", timeout=60_000)
    expect(cells.filter(has_text="zorblat_notes.md")).to_have_count(0)
    expect(cells.filter(has_text="cecot-security-policy-latin-america.md")).to_have_count(1)

    page.get_by_role("tab", name="Chat").click()
    after = ask_in_page(page, "How many cells did the Zorblat Commission count?", FINISHED_ANSWER)
    expect(after).not_to_contain_text("412 cells")


def test_page_refuses_visitors_without_credentials(browser: object, server: RunningServer) -> None:
    context = browser.new_context()  # type: ignore[attr-defined]
    try:
        response = context.new_page().goto(server.base_url + "/")
        status = response.status if response is not None else None
    except playwright_api.Error as exc:  # headless Chromium turns an unanswered 401 into this
        assert "ERR_INVALID_AUTH_CREDENTIALS" in str(exc)
        status = 401
    finally:
        context.close()
    assert status == 401


def test_log_level_info_adds_the_access_log(server: RunningServer) -> None:
    log = server.log()
    assert "uvicorn.access" in log and "GET /healthz" in log
