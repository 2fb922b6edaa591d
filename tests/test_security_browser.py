"""Issue 13, items 1-3, in headless Chromium against a default `cecot-rag serve` (loopback, no auth).

A second local server on another port plays the hostile web page. Each test was run against the
code before its fix and failed there.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import CHROMIUM, free_port
from helpers_security import files_under
from helpers_server import RunningServer, running_server

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium"),
]
ARTICLE_SOURCE = "cecot-security-policy-latin-america.md"
ATTACK_PAGE = """<!doctype html><title>hostile</title><p>Nothing to see.</p>"""
# What a hostile page runs: a no-preflight multipart POST, a DELETE, and an upload through the queue.
ATTACK_SCRIPT = """async ([target, documentId, secretPath]) => {
  const results = {};
  const form = new FormData();
  form.append("file", new Blob(["# Planted\\n\\nThe planted page says 66 moles.\\n"]), "browser-planted.md");
  try { await fetch(target + "/api/v1/documents", {method: "POST", body: form, mode: "no-cors"}); }
  catch (error) { results.post = String(error); }
  try {
    const response = await fetch(target + "/api/v1/documents/" + documentId, {method: "DELETE"});
    results.delete = response.status;
  } catch (error) { results.delete = String(error); }
  try {
    const response = await fetch(target + "/gradio_api/queue/join", {
      method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
      body: JSON.stringify({data: [[{path: secretPath, meta: {_type: "gradio.FileData"}}]],
                            fn_index: 4, session_hash: "hostile1", event_data: null, trigger_id: null}),
    });
    results.join = response.type;
  } catch (error) { results.join = String(error); }
  return results;
}"""


@pytest.fixture(scope="module")
def gradio_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("gradio-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, gradio_dir: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("security-browser")) as running:
        yield running


@pytest.fixture(scope="module")
def hostile_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("hostile-site")
    (folder / "index.html").write_text(ATTACK_PAGE, encoding="utf-8")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Quiet)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    yield f"http://localhost:{site.server_address[1]}"
    site.shutdown()


@pytest.fixture
def context(browser: object) -> Iterator[object]:
    opened = browser.new_context(viewport={"width": 1400, "height": 950})  # type: ignore[attr-defined]
    yield opened
    opened.close()


def documents(server: RunningServer) -> list[dict[str, object]]:
    return httpx.get(f"{server.base_url}/api/v1/documents", timeout=60).json()


def test_a_page_on_another_origin_cannot_plant_delete_or_ingest(
    context: object, server: RunningServer, hostile_origin: str, tmp_path: Path
) -> None:
    secret = tmp_path / "diary.md"
    secret.write_text("# Diary\n\nThe diary holds the passphrase quartz-owl-19.\n", encoding="utf-8")
    article = next(d for d in documents(server) if str(d["source"]).endswith(ARTICLE_SOURCE))
    page = context.new_page()  # type: ignore[attr-defined]
    page.goto(hostile_origin + "/index.html")
    results = page.evaluate(ATTACK_SCRIPT, [server.base_url, article["document_id"], str(secret)])
    assert results["delete"] != 200, results
    page.wait_for_timeout(3000)  # let a queued ingestion finish if it was (wrongly) accepted
    names = {Path(str(d["source"])).name for d in documents(server)}
    assert ARTICLE_SOURCE in names
    assert "browser-planted.md" not in names and "diary.md" not in names


def test_the_page_itself_cannot_ingest_a_server_file(
    context: object, server: RunningServer, gradio_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "ledger.md"
    secret.write_text("# Ledger\n\nThe ledger holds the passphrase basalt-heron-7.\n", encoding="utf-8")
    secret.chmod(0o600)
    page = context.new_page()  # type: ignore[attr-defined]
    page.goto(server.base_url + "/")
    expect(page.locator("#question textarea")).to_be_visible(timeout=60_000)
    # Same origin, as injected script or a curious user's console would do it.
    status = page.evaluate(
        """async (secretPath) => {
          const config = await (await fetch("/config")).json();
          const upload = config.dependencies.find((d) => d.api_name === "upload").id;
          const joined = await fetch("/gradio_api/queue/join", {method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({data: [[{path: secretPath, meta: {_type: "gradio.FileData"}}]],
              fn_index: upload, session_hash: "console1", event_data: null, trigger_id: null})});
          const stream = await fetch("/gradio_api/queue/data?session_hash=console1");
          return joined.status + " " + (await stream.text());
        }""",
        str(secret),
    )
    assert "ledger.md" not in {Path(str(d["source"])).name for d in documents(server)}, status
    holding = [p for p in files_under(gradio_dir) if b"basalt-heron-7" in p.read_bytes()]
    assert holding == []


def test_a_document_deleted_in_the_page_cannot_be_downloaded_after(
    context: object, server: RunningServer, gradio_dir: Path, tmp_path: Path
) -> None:
    document = tmp_path / "burn-after-reading.md"
    document.write_text("# Burn note\n\nThe burn note lists 27 ashen files.\n", encoding="utf-8")
    page = context.new_page()  # type: ignore[attr-defined]
    uploaded: list[str] = []
    page.on(
        "response",
        lambda response: (
            uploaded.extend(response.json()) if response.url.endswith("/gradio_api/upload") else None
        ),
    )
    page.goto(server.base_url + "/")
    page.get_by_role("tab", name="Documents").click()
    with page.expect_file_chooser() as chooser:
        page.locator("#upload").click()
    chooser.value.set_files(str(document))
    expect(page.locator("#documents-status")).to_contain_text("1 added", timeout=120_000)
    assert uploaded, "the page uploaded through /gradio_api/upload"
    page.locator("#delete-choice input").click()
    page.get_by_role("option", name="Burn note").click()
    page.locator("#delete").click()
    page.locator("#confirm-delete").click()
    expect(page.locator("#documents-status")).to_contain_text("Deleted", timeout=60_000)
    for path in uploaded:
        assert page.request.get(f"{server.base_url}/gradio_api/file={path}").status == 404
    copies = [
        p
        for p in files_under(gradio_dir) + files_under(server.index_dir / "uploads")
        if b"27 ashen files" in p.read_bytes()
    ]
    assert copies == []
