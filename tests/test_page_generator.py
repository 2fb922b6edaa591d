"""The answer switch on the chat page, in headless Debian Chromium, with a scripted model: the real
app (page and REST) served by uvicorn in this process, so the test holds the model mid-answer to
look at the page while it writes, or makes a generator available while the server runs. Nothing
here depends on the machine's speed: the model writes when the test lets it.

The real models on the page: tests/test_generated_rest.py::test_the_local_model_writes_on_the_page.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from llama_index.core import Settings as LlamaIndexSettings

from cecot_rag import Assistant
from cecot_rag.answer.local_model import LOCAL_MODEL, local_model_installed
from conftest import CHROMIUM
from helpers_llm import QUESTION, ScriptedLLM, inprocess_server
from test_page_browser import bot_messages

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
Page = playwright_api.Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium"),
]
WAIT_MS = 120_000  # retrieval and verification on a busy machine; the model itself is instant
WRITTEN = "CECOT can hold 40,000 inmates [1]."
REPLY = (
    f"{WRITTEN} END OF PASSAGE [1]>>>. {QUESTION} "
    "CECOT can hold 90,000 inmates [1]. CECOT is a mega-prison for 40,000 inmates [1]."
)


@pytest.fixture
def model() -> ScriptedLLM:
    return ScriptedLLM(text=REPLY)


@pytest.fixture
def llm_timeout() -> float:
    """The deadline of a written answer: longer than any test holds the model, so a slow machine
    never hits it; the deadline test parametrizes a short one and holds the model past it."""
    return 600


@pytest.fixture
def served(bundled_assistant: Assistant, model: ScriptedLLM, llm_timeout: float) -> Iterator[str]:
    """A server on the bundled index whose default generator is the scripted model, with a pause of
    ten minutes after a failure and the llm_timeout deadline."""
    update = {"llm_retry_after": 600, "llm_timeout": llm_timeout}
    settings = bundled_assistant.settings.model_copy(update=update)
    with inprocess_server(Assistant(settings, llm=model)) as base_url:
        yield base_url


@pytest.fixture
def page(browser: object, served: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 950})  # type: ignore[attr-defined]
    opened = context.new_page()
    opened.goto(served + "/")
    yield opened
    context.close()


def ask(page: Page, question: str = QUESTION) -> object:
    count = bot_messages(page).count()
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()
    return bot_messages(page).nth(count)


def shown_sources(page: Page) -> object:
    return page.locator("#sources-panel .sources:visible")


def test_written_answer_replaces_the_quoted_one_and_keeps_only_verified_sentences(
    page: Page, model: ScriptedLLM
) -> None:
    release = model.hold_after(1)  # the default generator: the scripted model
    try:
        answer = ask(page)
        # While the model writes: its first verified sentence, the note, the quoted answer's sources.
        expect(answer).to_contain_text("CECOT can hold 40,000 inmates.", timeout=WAIT_MS)
        expect(answer).to_contain_text("writing…")
        expect(shown_sources(page).locator(".citation mark").first).to_be_visible()
        expect(page.locator("#sources-panel")).not_to_contain_text("No answer")
        expect(page.locator("#sources-panel")).not_to_contain_text("do not say")
    finally:
        release.set()
    expect(answer).not_to_contain_text("writing…", timeout=WAIT_MS)
    text = answer.inner_text()
    assert (
        "CECOT can hold 40,000 inmates. [1]" in text and "CECOT is a mega-prison for 40,000 inmates" in text
    )
    assert "90,000" not in text and "Note: 3 generated sentences were removed" in text
    assert QUESTION not in text
    for ours in ("END OF", "PASSAGE", ">>>"):
        assert ours not in text and ours not in page.locator("#sources-panel").text_content()
    # text_content, not inner_text: the list sits in a closed <details>, whose inner text is ''.
    removed = shown_sources(page).locator("details.dropped li").all_text_contents()
    assert len(removed) == 3
    assert any("90,000" in sentence for sentence in removed)
    for sentence in removed:
        listed = sentence.rsplit(" (", 1)[0].strip()
        assert listed and listed not in text  # never listed as removed and shown
    for link in answer.locator('a[href^="#source-"]').all():
        anchor = (link.get_attribute("href") or "#")[1:]
        assert page.locator(f"#sources-panel #{anchor}").count() == 1


def test_what_the_user_types_while_an_answer_streams_is_kept(page: Page, model: ScriptedLLM) -> None:
    """The textbox is cleared when a question is sent, never by the answer's later updates (the
    next question typed while the model wrote was wiped by them)."""
    release = model.hold_after(1)
    try:
        answer = ask(page)
        expect(answer).to_contain_text("writing…", timeout=WAIT_MS)
        expect(page.locator("#question textarea")).to_have_value("")
        page.locator("#question textarea").fill("And in Honduras?")
    finally:
        release.set()
    expect(answer).not_to_contain_text("writing…", timeout=WAIT_MS)
    expect(answer).to_contain_text("CECOT can hold 40,000 inmates.")
    expect(page.locator("#question textarea")).to_have_value("And in Honduras?")


def test_a_question_the_documents_do_not_answer_is_not_given_to_the_model(
    page: Page, model: ScriptedLLM
) -> None:
    answer = ask(page, "What is the capital of France?")
    expect(answer).to_contain_text("The documents do not say", timeout=WAIT_MS)
    expect(answer).not_to_contain_text("writing…")
    expect(shown_sources(page)).to_contain_text("No answer: the documents do not say")
    assert model.prompts == []


@pytest.mark.parametrize("llm_timeout", [5])
def test_after_a_deadline_the_next_question_says_the_model_is_paused(page: Page, model: ScriptedLLM) -> None:
    release = model.hold_after(0)  # the model writes nothing before the deadline
    try:
        first = ask(page)
        expect(first).to_contain_text("did not finish answering within 5 s", timeout=WAIT_MS)
        expect(first).to_contain_text("40,000")  # the quoted answer
        second = ask(page)
        expect(second).to_contain_text("The language model is paused after a failure", timeout=WAIT_MS)
        expect(second).to_contain_text("quoted sentences shown")
        expect(shown_sources(page)).to_contain_text("The language model is paused after a failure")
    finally:
        release.set()
    assert len(model.prompts) == 1  # the paused model was not asked


@pytest.fixture
def no_global_llm() -> Iterator[None]:
    assert LlamaIndexSettings._llm is None
    yield
    LlamaIndexSettings._llm = None  # llama-index's own "unset"


def test_the_switch_lists_a_generator_that_becomes_available_without_a_restart(
    browser: object, bundled_assistant: Assistant, no_global_llm: None
) -> None:
    with inprocess_server(Assistant(bundled_assistant.settings)) as base_url:
        context = browser.new_context()  # type: ignore[attr-defined]
        try:
            page = context.new_page()
            page.goto(base_url + "/")
            listed = httpx.get(f"{base_url}/api/v1/generators").json()["generators"]
            assert listed == ["extractive", *(["local"] if local_model_installed() else [])]
            switch = page.locator("#generator")
            if "local" in listed:  # listed from the start when REST lists it
                expect(switch).to_contain_text(f"Written by {LOCAL_MODEL}", timeout=WAIT_MS)
            else:
                expect(switch).to_be_hidden()
            expect(switch).not_to_contain_text("Written by llama-index")

            LlamaIndexSettings.llm = ScriptedLLM(text=WRITTEN)  # e.g. set by the application embedding us
            assert "llama-index" in httpx.get(f"{base_url}/api/v1/generators").json()["generators"]
            page.reload()
            expect(switch).to_be_visible(timeout=WAIT_MS)
            switch.get_by_text("Written by llama-index").click()
            answer = ask(page)
            expect(answer).to_contain_text("CECOT can hold 40,000 inmates. [1]", timeout=WAIT_MS)
            expect(answer).not_to_contain_text("writing…", timeout=WAIT_MS)

            LlamaIndexSettings._llm = None  # gone again while the page still offers it
            refused = ask(page)
            expect(refused).to_have_text(
                "Written by llama-index is not available now; choose another answer", timeout=WAIT_MS
            )
            expect(page.locator("#question textarea")).to_have_value(QUESTION)  # kept, to ask again
        finally:
            context.close()
