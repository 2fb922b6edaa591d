"""Issue 13, item 4, with a real `cecot-rag serve --auth-file`: the password file, /healthz, login backoff.

Each test was run against the code before its fix and failed there.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers_server import RunningServer, running_server

pytestmark = pytest.mark.slow
USER, PASSWORD = "editor", "staple: battery horse"
RIGHT = (USER, PASSWORD)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("security-auth")
    secret = tmp / "credentials"
    secret.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
    secret.chmod(0o600)
    with running_server(tmp, "--auth-file", str(secret)) as running:
        yield running


def client_from(address: str, server: RunningServer) -> httpx.Client:
    """A client whose connections come from this loopback address (another client to the server)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.base_url, transport=transport, timeout=60)


def test_the_password_file_protects_the_server_and_stays_out_of_ps(server: RunningServer) -> None:
    assert httpx.get(f"{server.base_url}/api/v1/documents", timeout=60).status_code == 401
    assert httpx.get(f"{server.base_url}/api/v1/documents", auth=RIGHT, timeout=60).status_code == 200
    command_line = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
    assert PASSWORD.encode() not in command_line


def test_healthz_tells_the_document_count_only_to_an_authenticated_caller(server: RunningServer) -> None:
    assert httpx.get(f"{server.base_url}/healthz", timeout=60).json() == {"status": "ok"}
    authenticated = httpx.get(f"{server.base_url}/healthz", auth=RIGHT, timeout=60).json()
    assert authenticated["status"] == "ok" and authenticated["documents"] == 1


def test_gradio_client_authenticates_with_the_documented_header(server: RunningServer) -> None:
    gradio_client = pytest.importorskip("gradio_client")
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    client = gradio_client.Client(
        server.base_url + "/", headers={"Authorization": f"Basic {token}"}, verbose=False
    )
    listing, _ = client.predict(api_name="/list_documents")
    assert "cecot-security-policy-latin-america.md" in listing


def test_failed_logins_slow_one_client_down_but_not_another(server: RunningServer) -> None:
    with client_from("127.0.0.3", server) as attacker:
        statuses = [attacker.get("/api/v1/documents", auth=(USER, f"guess{n}")).status_code for n in range(8)]
        assert statuses[:5] == [401] * 5
        assert 429 in statuses[5:], statuses
        refused = attacker.get("/api/v1/documents", auth=(USER, "guess-again"))
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        # Backing off means even the right password waits, from that client.
        assert attacker.get("/api/v1/documents", auth=RIGHT).status_code == 429
    with client_from("127.0.0.4", server) as colleague:
        assert colleague.get("/api/v1/documents", auth=RIGHT).status_code == 200
