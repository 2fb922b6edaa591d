"""What a new user tripped over in the chat page (issue 24), in headless Debian Chromium against a
real `cecot-rag serve`: a refused question is an ordinary reply, each answer says how strong its
evidence is (numbers on hover) and no passage shows an uncalibrated number, the conversation's
label never covers a message, and the title, heading and example questions come from the settings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import CHROMIUM
from helpers_server import RunningServer, running_server
from test_page_browser import ANSWER_WAIT_MS, ask_in_page, bot_messages

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
Page = playwright_api.Page

TOPIC = "Zorblat prisons and the harbour police"
EXAMPLES = ["How many inmates can CECOT hold?", "What is Ecuador planning?"]
LONG_REFUSAL = "the question is 2500 characters long; the limit is 2000"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(
        tmp_path_factory.mktemp("first-hour"), topic=TOPIC, example_questions=json.dumps(EXAMPLES)
    ) as running:
        yield running


@pytest.fixture
def page(browser: object, server: RunningServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 950})  # type: ignore[attr-defined]
    opened = context.new_page()
    opened.goto(server.base_url + "/")
    yield opened
    context.close()


def test_a_question_over_the_limit_is_an_ordinary_reply_and_nothing_else_changes(
    page: Page, server: RunningServer
) -> None:
    ask_in_page(page, "How many inmates can CECOT hold?", "40,000")
    panel = page.locator("#sources-panel")
    sources_before = panel.inner_html()
    question = "How many inmates can CECOT hold? " + "x" * (2500 - 33)
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()

    expect(bot_messages(page).nth(1)).to_have_text(LONG_REFUSAL, timeout=30_000)
    expect(page.locator('#chat [data-testid="user"]')).to_have_count(1)  # the question is not shown
    assert page.locator("#question textarea").input_value() == question, "nothing is cut or cleared"
    assert panel.inner_html() == sources_before, "the sources panel keeps the last answer's sources"
    # Gradio marks every output of a failed event with an "Error" badge: none here, and no toast.
    expect(page.locator(".error")).to_have_count(0)
    expect(page.locator(".toast-body")).to_have_count(0)
    assert "Traceback" not in server.log() and "InvalidQuestion" not in server.log()

    # The conversation goes on: a rating goes to the answer shown, never to the refusal.
    log = server.index_dir / "feedback.jsonl"
    before = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    ask_in_page(page, "What is Ecuador planning?", "Noboa")
    bot_messages(page).nth(1).hover()
    page.locator('#chat button[aria-label="Like"]').nth(1).click()  # the refusal's: nothing recorded
    page.locator('#chat button[aria-label="Like"]').last.click()
    expect(page.get_by_text("your rating was recorded")).to_be_visible(timeout=30_000)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["question"] for line in lines[len(before) :]] == ["What is Ecuador planning?"]


def test_each_answer_shows_its_evidence_in_words_with_the_numbers_on_hover(
    page: Page, server: RunningServer
) -> None:
    question = "How many inmates can CECOT hold?"
    decision = httpx.post(f"{server.base_url}/api/v1/ask", json={"question": question}, timeout=120).json()[
        "decision"
    ]
    answer = ask_in_page(page, question, "40,000")
    evidence = answer.locator(".evidence")
    expect(evidence).to_have_text(f"Evidence: {decision['strength']}")
    hover = evidence.get_attribute("title") or ""
    assert f"evidence score {decision['score']:.2f}" in hover
    assert f"an answer needs {decision['threshold']:.2f}" in hover
    expect(page.locator("#sources-panel .sources:visible .evidence")).to_have_text(
        f"Evidence: {decision['strength']}"
    )

    refused = ask_in_page(page, "What is the recipe for a chocolate soufflé?", "do not say")
    expect(refused.locator(".evidence")).to_have_text("Evidence: weak (no answer)")
    # No uncalibrated number next to any passage: no "relevance", no score like 0.23.
    panel = page.locator("#sources-panel")
    assert "relevance" not in panel.inner_text().lower()
    assert not re.search(r"\b[01]\.\d\d\b", panel.inner_text()), panel.inner_text()


def test_the_conversation_label_stays_clear_of_the_messages_when_scrolled(page: Page) -> None:
    for question, fact in [
        ("How many inmates can CECOT hold?", "40,000"),
        ("How many people have been arrested under Bukele's state of emergency?", "75,000"),
        ("What is Ecuador planning?", "Noboa"),
    ]:
        ask_in_page(page, question, fact)
    scroller = page.locator("#chat .bubble-wrap")
    assert scroller.evaluate("e => e.scrollHeight > e.clientHeight"), "the chat must scroll for this test"
    scroller.evaluate("e => { e.scrollTop = e.scrollHeight / 3; }")
    top = scroller.bounding_box()
    for floating in ('#chat [data-testid="block-label"]', "#chat .icon-button-wrapper.top-panel"):
        box = page.locator(floating).bounding_box()
        assert box and top and box["y"] + box["height"] <= top["y"] + 0.5, (floating, box, top)
    expect(page.locator('#chat [data-testid="block-label"]')).to_have_text("Conversation")


def test_the_title_heading_and_example_questions_come_from_the_settings(page: Page) -> None:
    expect(page).to_have_title(f"cecot-rag: {TOPIC}")
    expect(page.get_by_role("heading", name=TOPIC)).to_be_visible()
    expect(page.locator(".example-question")).to_have_text(EXAMPLES)
    page.get_by_role("button", name=EXAMPLES[1]).click()
    expect(bot_messages(page).first).to_contain_text("Noboa", timeout=ANSWER_WAIT_MS)
