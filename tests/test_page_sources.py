"""The chat page's sources and documents in headless Debian Chromium, against `cecot-rag serve`.

Every answer keeps its own sources; one card per cited passage; closest passages first, with no
uncalibrated number shown; no raw Markdown; the documents table readable at 1400 px and
scrolled only on a phone; deleting asks first; a PDF with a useless title is listed by its heading.
The server runs with the default log level, so its output is checked for startup progress too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader, PdfWriter

from conftest import ARTICLE, CHROMIUM
from helpers_server import RunningServer, running_server
from test_core_loaders import make_pdf
from test_page_browser import ask_in_page

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
Page = playwright_api.Page

ZORBLAT = """---
title: Zorblat annex inspection
---
The Zorblat annex cells are four meters long. The Zorblat annex cells are three meters wide. \
The Zorblat annex cells are two meters high.
The kitchens of the annex receive water from a well dug in 2029. Inspectors found the well water \
clean in every sample they took.
"""
ZORBLAT_SENTENCES = {
    "The Zorblat annex cells are four meters long.",
    "The Zorblat annex cells are three meters wide.",
    "The Zorblat annex cells are two meters high.",
}
QUILLON = """# Quillon harbour report

## Customs at Quillon harbour

Quillon harbour customs officers inspected 9,300 containers in 2031.

## Fishing fleet

The Quillon fishing fleet counts 61 boats.
"""
CAPACITY_SENTENCE = (
    "The establishment of the Centro de Confinamiento del Terrorismo (CECOT), a mega-prison with the "
    "capacity to hold 40,000 inmates, has become a symbol of Bukele’s iron-fisted approach to crime."
)
WAIT_MS = 120_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("sources")
    documents = tmp / "documents"
    documents.mkdir()
    (documents / ARTICLE.name).write_text(ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")
    (documents / "zorblat-annex.md").write_text(ZORBLAT, encoding="utf-8")
    (documents / "quillon-harbour.md").write_text(QUILLON, encoding="utf-8")
    with running_server(tmp) as running:
        yield running


@pytest.fixture
def page(browser: object, server: RunningServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 950})  # type: ignore[attr-defined]
    opened = context.new_page()
    opened.goto(server.base_url + "/")
    yield opened
    context.close()


def shown_sources(page: Page) -> object:
    return page.locator("#sources-panel .sources:visible")


def test_startup_prints_progress_then_one_ready_line_and_no_access_log(server: RunningServer) -> None:
    # The server prints its ready line after its own probe answers, which can be just after ours.
    deadline = time.monotonic() + 60
    while "cecot-rag: ready after" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = server.log().splitlines()
    ready = [i for i, line in enumerate(lines) if line.startswith("cecot-rag: ready after")]
    assert len(ready) == 1, lines
    assert f"{server.base_url}/" in lines[ready[0]]
    before = lines[: ready[0]]
    assert any("embedding model ready" in line for line in before)
    assert any("startup ingestion: 3 added" in line for line in before)
    counted = [m.group(1) for line in before if (m := re.search(r"ingesting (\d+/\d+): ", line))]
    assert counted[:1] == ["1/3"] and counted[-1:] == ["3/3"], before
    assert not any("http://" in line for line in before), "no URL before the page answers"
    assert not any("GET /" in line or line.startswith("INFO") for line in lines), "no access log"


def test_an_earlier_answers_marker_opens_its_own_quote(page: Page) -> None:
    assert CAPACITY_SENTENCE in ARTICLE.read_text(encoding="utf-8")
    first = ask_in_page(page, "How many inmates can CECOT hold?", "40,000")
    ask_in_page(page, "What is Ecuador's president planning in response to Bukele?", "[1]")

    first.locator('a[href^="#source-"]', has_text="[1]").click()
    flashed = page.locator("#sources-panel .citation.flash")
    expect(flashed).to_be_visible()
    expect(flashed.locator("mark")).to_have_text(CAPACITY_SENTENCE)
    expect(page.locator("#sources-panel mark:visible")).to_have_text([CAPACITY_SENTENCE])
    expect(shown_sources(page)).to_have_count(1)
    expect(shown_sources(page)).to_contain_text("How many inmates can CECOT hold?")


def test_three_citations_into_one_passage_make_one_card_with_every_quote_marked(page: Page) -> None:
    answer = ask_in_page(page, "How big are the Zorblat annex cells?", "meters wide")
    expect(answer.locator('a[href^="#source-"]')).to_have_count(3)
    cards = shown_sources(page).locator(".citation")
    expect(cards).to_have_count(1)
    expect(cards.locator(".cite-number")).to_have_text("[1][2][3]")
    assert set(cards.locator("mark").all_inner_texts()) == ZORBLAT_SENTENCES
    answer.locator('a[href^="#source-"]', has_text="[3]").click()
    expect(cards).to_have_class("citation flash")


def test_passages_show_no_raw_markdown_and_the_closest_come_first(page: Page, server: RunningServer) -> None:
    question = "How many containers did Quillon harbour customs inspect?"
    answer = httpx.post(f"{server.base_url}/api/v1/ask", json={"question": question}, timeout=120).json()
    ask_in_page(page, question, "9,300")
    panel = shown_sources(page)
    card = panel.locator(".citation")
    expect(card.locator(".passage-heading").first).to_have_text("Quillon harbour report")
    assert "#" not in card.inner_text()
    panel.locator("details.uncited summary").click()
    expect(panel.locator("details.uncited")).to_contain_text("closest to the question first")
    cited = {c["passage"]["id"] for c in answer["citations"]}
    others = sorted((p for p in answer["passages"] if p["id"] not in cited), key=lambda p: -p["similarity"])
    shown = panel.locator(".retrieved .cite-text").all_inner_texts()
    assert len(shown) >= 3 and len(shown) == len(others)
    plain = [re.sub(r"[#*]", "", p["text"]).split()[:6] for p in others]  # as shown: no Markdown marks
    assert [text.split()[:6] for text in shown] == plain
    assert "relevance" not in panel.inner_text().lower()
    assert "#" not in panel.inner_text()


def test_documents_table_is_readable_at_1400_px_and_scrolls_only_on_a_phone(page: Page) -> None:
    page.get_by_role("tab", name="Documents").click()
    table = page.locator("#documents table")
    expect(table.locator("tbody tr")).to_have_count(3)
    widths = {
        name: table.locator(f"th.doc-{name}").bounding_box()["width"]  # type: ignore[index]
        for name in ("title", "source", "passages", "time", "id")
    }
    assert min(widths.values()) >= 60, widths  # no column squeezed to a letter a line
    header = table.locator("th.doc-passages").bounding_box()
    body_line = table.locator("td.doc-id").first.bounding_box()
    assert header and body_line and header["height"] < 2 * body_line["height"] + 4, "'Passages' on one line"
    scroller = page.locator("#documents .documents-scroll")
    assert scroller.evaluate("e => e.scrollWidth <= e.clientWidth"), "no scrolling at 1400 px"
    right = table.locator("td.doc-id").first.bounding_box()
    assert right and right["x"] + right["width"] <= 1400, "the document id is on screen"
    times = table.locator("td.doc-time").all_inner_texts()
    assert all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC", t) for t in times), times

    page.set_viewport_size({"width": 390, "height": 844})
    assert scroller.evaluate("e => e.scrollWidth > e.clientWidth"), "the table scrolls on a phone"
    assert page.evaluate("document.documentElement.scrollWidth <= 390"), "the page itself does not"


def test_a_pdf_with_a_useless_title_is_listed_by_its_heading_and_delete_asks_first(
    page: Page, tmp_path: Path
) -> None:
    writer = PdfWriter(clone_from=PdfReader(_pdf_bytes(tmp_path)))
    writer.add_metadata({"/Title": "about:blank"})
    pdf = tmp_path / "census.pdf"
    with pdf.open("wb") as out:
        writer.write(out)
    page.get_by_role("tab", name="Documents").click()
    with page.expect_file_chooser() as chooser:
        page.locator("#upload").click()
    chooser.value.set_files(str(pdf))
    expect(page.locator("#documents-status")).to_contain_text("1 added", timeout=WAIT_MS)
    row = page.locator("#documents tbody tr", has_text="census.pdf")
    expect(row.locator("td.doc-title")).to_have_text("Harbour police census 2031")

    page.locator("#delete-choice input").click()
    page.get_by_role("option", name="Harbour police census 2031").click()
    page.locator("#delete").click()
    expect(page.locator("#delete-confirm")).to_contain_text("Delete Harbour police census 2031")
    page.locator("#cancel-delete").click()
    expect(page.locator("#delete-confirm")).to_be_hidden()
    expect(row).to_have_count(1)  # nothing deleted without the confirmation

    page.locator("#delete").click()
    page.locator("#confirm-delete").click()
    expect(page.locator("#documents-status")).to_contain_text("Deleted", timeout=60_000)
    expect(row).to_have_count(0)


def _pdf_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "plain.pdf"
    path.write_bytes(make_pdf(["Harbour police census 2031", "The census counted 88 officers."]))
    return path
