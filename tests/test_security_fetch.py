"""Issue 21, item 3, through the REST API of a real `cecot-rag serve`: a URL being downloaded holds
up no upload, and beyond `max_url_fetches` URL additions at once the server answers 503.

The "slow site" is a loopback server that holds every request until the test releases it, so
nothing depends on how fast the machine is. Each test was run against the code before its fix
and failed there.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pytest

from helpers_server import RunningServer, running_server

pytestmark = pytest.mark.slow
MAX_URL_FETCHES = 2
URL_TIMEOUT = 240  # the held site answers when released, long before this


class HeldSite(http.server.ThreadingHTTPServer):
    """Answers each GET with a small Markdown page, but only once `release` is set."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HeldHandler)
        self.release = threading.Event()
        self.arrived = threading.Semaphore(0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _HeldHandler(http.server.BaseHTTPRequestHandler):
    server: HeldSite

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.arrived.release()
        self.server.release.wait(URL_TIMEOUT)
        name = self.path.strip("/")
        body = f"# Held page {name}\n\nThe held page {name} lists 27 lanterns.\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/markdown")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def held_site() -> Iterator[HeldSite]:
    site = HeldSite()
    threading.Thread(target=site.serve_forever, daemon=True).start()
    yield site
    site.release.set()
    site.shutdown()
    site.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = {
        "allow_private_urls": "true",
        "url_timeout": str(URL_TIMEOUT),
        "max_url_fetches": str(MAX_URL_FETCHES),
    }
    with running_server(tmp_path_factory.mktemp("security-fetch"), **settings) as running:
        yield running


def add_url(server: RunningServer, url: str, timeout: float = 300) -> httpx.Response:
    return httpx.post(f"{server.base_url}/api/v1/documents", json={"url": url}, timeout=timeout)


def start_adding(pool: ThreadPoolExecutor, server: RunningServer, site: HeldSite, name: str) -> Future:
    """Add a held URL in the background; returns once the site has its request (the download runs)."""
    future = pool.submit(add_url, server, f"{site.url}/{name}")
    waited = "the server never asked the held site (it waited for another download)"
    assert site.arrived.acquire(timeout=120), waited
    return future


def test_an_upload_does_not_wait_for_a_url_being_downloaded(
    server: RunningServer, held_site: HeldSite
) -> None:
    with ThreadPoolExecutor(1) as pool:
        fetch = start_adding(pool, server, held_site, "first")
        upload = httpx.post(
            f"{server.base_url}/api/v1/documents",
            files={"file": ("meanwhile.md", b"# Meanwhile\n\nThe meanwhile note lists 4 gates.\n")},
            timeout=120,  # before the fix this waited for the download, which is held until released
        )
        assert upload.status_code == 200, upload.text
        assert not fetch.done(), "the URL is still downloading: the upload did not wait for it"
        held_site.release.set()
        added = fetch.result()
    assert added.status_code == 200, added.text
    sources = {d["source"] for d in httpx.get(f"{server.base_url}/api/v1/documents", timeout=60).json()}
    assert {"meanwhile.md", f"{held_site.url}/first"} <= sources


def test_url_additions_beyond_the_limit_get_503_at_once(server: RunningServer, held_site: HeldSite) -> None:
    with ThreadPoolExecutor(MAX_URL_FETCHES) as pool:
        held = [start_adding(pool, server, held_site, f"held-{n}") for n in range(MAX_URL_FETCHES)]
        refused = add_url(server, f"{held_site.url}/one-too-many", timeout=60)
        assert refused.status_code == 503, refused.text
        assert (
            refused.json()["detail"] == f"the server is adding {MAX_URL_FETCHES} URLs already; retry shortly"
        )
        held_site.release.set()
        assert [f.result().status_code for f in held] == [200] * MAX_URL_FETCHES
    assert add_url(server, f"{held_site.url}/after").status_code == 200  # the slots were given back
