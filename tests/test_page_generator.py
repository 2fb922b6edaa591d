"""The answer switch on the chat page, with a real language model: llama.cpp's OpenAI-compatible
server and the packaged Gemma (tests/helpers_llm.py), behind a real `cecot-rag serve`.

The quoted answer and its sources come at once; the written answer then takes its place, and no
sentence that verification removed is left in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers_llm import LlamaServer, llama_server
from helpers_server import RunningServer, running_server
from test_page_browser import CHROMIUM, CHROMIUM_ARGS, bot_messages

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.llm,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium"),
]
WRITTEN_WAIT_MS = 600_000  # the tiny model on two busy cores


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with llama_server(tmp_path_factory.mktemp("llama")) as running:
        yield running


@pytest.fixture(scope="module")
def server(llm: LlamaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = {"llm_base_url": llm.base_url, "llm_model": "gemma-3-270m", "llm_timeout": "240"}
    with running_server(tmp_path_factory.mktemp("page-llm"), **settings) as running:
        yield running


def test_written_answer_replaces_the_quoted_one_and_keeps_only_verified_sentences(
    server: RunningServer, llm: LlamaServer
) -> None:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            page.goto(server.base_url + "/")
            switch = page.locator("#generator")
            expect(switch).to_be_visible()
            expect(switch).to_contain_text("Quoted sentences")
            switch.get_by_text("Written by gemma-3-270m").click()
            before = llm.chat_requests()

            page.locator("#question textarea").fill("How many inmates can CECOT hold?")
            page.locator("#ask").click()
            answer = bot_messages(page).first
            # At once: the quoted answer with its sources, while the model writes.
            expect(answer).to_contain_text("writing", timeout=120_000)
            expect(answer).to_contain_text("40,000")
            expect(page.locator("#sources-panel .citation mark").first).to_be_visible()

            expect(answer).not_to_contain_text("writing", timeout=WRITTEN_WAIT_MS)
            assert llm.chat_requests() > before, "the model really was asked"
            text = answer.inner_text()
            # text_content, not inner_text: the list sits in a closed <details>, whose inner text is ''.
            removed = page.locator("#sources-panel .sources:visible details.dropped li").all_text_contents()
            for sentence in removed:
                shown = sentence.rsplit(" (", 1)[0].strip()
                assert shown, f"a removed sentence is listed without its text: {sentence!r}"
                assert shown not in text
            for link in answer.locator('a[href^="#source-"]').all():
                anchor = (link.get_attribute("href") or "#")[1:]
                assert page.locator(f"#sources-panel #{anchor}").count() == 1
        finally:
            browser.close()
