"""Refresh the README screenshots: docs/chat-page.png (1400 px) and docs/chat-page-mobile.png (390 px).

Run by hand, never by the tests: `python scripts/screenshots.py` starts `cecot-rag serve` on a
temporary index with a copy of documents/ (or uses `--url` of a running server), asks two questions
in headless Debian Chromium, opens the first answer's [1], and saves both pictures into docs/.
Needs Playwright for Python and /usr/bin/chromium (no browser download).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
QUESTIONS = ("How many inmates can CECOT hold?", "Which Latin American leaders want to copy Bukele's model?")
SIZES = {"chat-page.png": (1400, 950), "chat-page-mobile.png": (390, 844)}
STARTUP_SECONDS = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server() -> Iterator[str]:
    """`cecot-rag serve` on a temporary index and a copy of the bundled documents."""
    with tempfile.TemporaryDirectory(prefix="cecot-rag-screenshots-") as tmp:
        shutil.copytree(ROOT / "documents", Path(tmp) / "documents")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CECOT_RAG_")}
        env.update(
            CECOT_RAG_INDEX_DIR=f"{tmp}/index",
            CECOT_RAG_DOCUMENTS_DIR=f"{tmp}/documents",
            HF_HUB_OFFLINE="1",
            ANONYMIZED_TELEMETRY="False",
            GRADIO_ANALYTICS_ENABLED="False",
        )
        port = _free_port()
        command = [sys.executable, "-m", "cecot_rag.cli", "serve", "--port", str(port)]
        process = subprocess.Popen(command, env=env, cwd=tmp)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"cecot-rag serve did not become ready at {url}")
                time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _conversation(page: Page) -> None:
    """Two answers, then the first answer's [1] opened in the sources panel."""
    for number, question in enumerate(QUESTIONS):
        page.locator("#question textarea").fill(question)
        page.locator("#ask").click()
        answer = page.locator('#chat [data-testid="bot"]').nth(number)
        expect(answer.locator('a[href^="#source-"]').first).to_be_visible(timeout=120_000)
    page.locator('#chat [data-testid="bot"]').first.locator('a[href^="#source-"]').first.click()
    page.wait_for_timeout(800)  # the smooth scroll to the passage


def take(url: str, out: Path) -> list[Path]:
    saved = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, (width, height) in SIZES.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.goto(url + "/")
            _conversation(page)
            if width < 700:  # on a phone the panel sits below the chat: show the opened passage
                page.locator("#sources-panel .citation.flash").scroll_into_view_if_needed()
            out.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out / name))
            saved.append(out / name)
            context.close()
        browser.close()
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running cecot-rag serve (default: start one on a temporary index)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNG files")
    args = parser.parse_args()
    if args.url:
        saved = take(args.url.rstrip("/"), args.out)
    else:
        with _server() as url:
            saved = take(url, args.out)
    for path in saved:
        print(f"saved {path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
