"""The Evaluation tab in headless Debian Chromium against `cecot-rag serve`: what a reader sees."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cecot_rag.evaluation.metrics import METRICS
from cecot_rag.evaluation.report import latest_report_path
from helpers_server import RunningServer, running_server

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
Page = playwright_api.Page

CHROMIUM = "/usr/bin/chromium"
# A generous wait for the page to render on a busy shared machine (a wait, not a timing assertion).
WAIT_MS = 60_000
LONG_ANSWER = "Bukele's election in 2019 was seen by many as the dawn of a new era. " * 6 + "[1]"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium"),
]


def _case(case_id: str, question: str, history: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "id": case_id,
        "question": question,
        "answerable": True,
        "answer": LONG_ANSWER,
        "answered": True,
        "expected_facts": ["first round; turned the page on power"],
        "history": history,
        "citations": [],
        "passed": False,
        "reason": "missing: first round; turned the page on power",
        "hit_rank": 1,
        "latency_ms": 20.0,
    }


def _report() -> dict[str, Any]:
    metrics = dict.fromkeys(METRICS, 0.5)
    metrics.update({"latency_p50_ms": 20.0, "latency_p95_ms": 40.0})
    history = [
        {"role": "user", "content": "Who won the 2019 election in El Salvador?"},
        {"role": "assistant", "content": "Nayib Bukele."},
    ]
    cases = [
        _case("victory-quote", "What did Bukele declare after winning the election?", []),
        _case("victory-followup", "What did he declare afterwards?", history),
    ]
    return {
        "set": {"name": "cecot", "path": "eval/cecot.jsonl", "format": "cecot", "cases": 2},
        "started_at": "2026-12-02T00:00:00+00:00",
        "duration_s": 1.0,
        "settings": {"top_k": 5, "generator": "extractive", "index": "index"},
        "thresholds": {},
        "metrics": metrics,
        "failed_thresholds": [],
        "cases": cases,
        "baseline": None,
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("tab")) as running:
        path = latest_report_path(running.index_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_report()), encoding="utf-8")
        yield running


@pytest.fixture
def page(server: RunningServer) -> Iterator[Page]:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        opened = browser.new_page(viewport={"width": 1400, "height": 950})
        opened.goto(server.base_url + "/", timeout=WAIT_MS)
        opened.get_by_role("tab", name="Evaluation").click(timeout=WAIT_MS)
        expect(opened.locator("#evaluation-failures")).to_be_visible(timeout=WAIT_MS)
        yield opened
        browser.close()


def test_every_column_of_the_failing_cases_fits_and_answers_are_whole(page: Page) -> None:
    table = page.locator("#evaluation-failures")
    expect(table.locator("th").first).to_be_visible(timeout=WAIT_MS)
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    assert box is not None
    for name in ("id", "question", "expected", "got", "why"):
        header = page.locator("#evaluation-failures th", has_text=name).first
        cell = header.bounding_box()
        assert cell is not None and cell["x"] + cell["width"] <= box["x"] + box["width"] + 1, name
    expect(table).to_contain_text("the dawn of a new era. [1]", timeout=WAIT_MS)
    expect(table).to_contain_text("missing: first round; turned the page on power", timeout=WAIT_MS)


def test_a_follow_up_shows_the_turns_it_follows(page: Page) -> None:
    row = page.locator("#evaluation-failures tr", has_text="victory-followup")
    expect(row).to_contain_text(
        "after: user: Who won the 2019 election in El Salvador? / assistant: Nayib Bukele.", timeout=WAIT_MS
    )


def test_without_thresholds_no_threshold_column_or_legend(page: Page) -> None:
    expect(page.locator("#evaluation-metrics th").first).to_be_visible(timeout=WAIT_MS)
    headers = page.locator("#evaluation-metrics th").all_inner_texts()
    assert [h.strip() for h in headers if h.strip()] == ["metric", "value"]
    expect(page.locator("#evaluation-plots")).not_to_contain_text("threshold", timeout=WAIT_MS)


def test_the_tab_says_what_it_evaluates(page: Page) -> None:
    corpus = page.locator("#evaluation-corpus")
    expect(corpus).to_contain_text("the bundled documents (a fresh temporary index)", timeout=WAIT_MS)
    expect(corpus).to_contain_text("this server's index (uploads included)", timeout=WAIT_MS)
    expect(page.locator("#evaluation-summary")).to_contain_text("uploads included", timeout=WAIT_MS)
    expect(page.locator("#evaluation-summary")).not_to_contain_text("minute", timeout=WAIT_MS)
