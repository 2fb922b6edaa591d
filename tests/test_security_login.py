"""Issue 21, item 2, with real `cecot-rag serve --auth-file` processes: login backoff that forged
X-Forwarded-For headers cannot reset, that counts per client and per user name, and that lets the
right password of a client that logged in before through a lockout someone else caused.

Clients are told apart by their loopback source address (127.0.0.x). Each test was run against
the code before its fix and failed there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers_server import RunningServer, running_server

pytestmark = pytest.mark.slow
USER, PASSWORD = "editor", "staple: battery horse"
RIGHT = (USER, PASSWORD)
LOCKED = 8  # seconds: a lockout long enough to test what passes through it


def credentials_file(tmp: Path) -> Path:
    secret = tmp / "credentials"
    secret.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
    secret.chmod(0o600)
    return secret


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """No proxy named: X-Forwarded-For is nobody's word."""
    tmp = tmp_path_factory.mktemp("security-login")
    with running_server(tmp, "--auth-file", str(credentials_file(tmp))) as running:
        yield running


def client_from(address: str, server: RunningServer) -> httpx.Client:
    """A client whose connections come from this loopback address; it keeps the cookies it gets."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.base_url, transport=transport, timeout=60)


def lock_out(client: httpx.Client, user: str, headers: dict[str, str] | None = None) -> None:
    """Fail logins until the client must wait at least LOCKED seconds, sleeping out shorter waits,
    so the checks after it do not depend on how fast this machine answers."""
    for attempt in range(20):
        response = client.get("/api/v1/documents", auth=(user, f"wrong-{attempt}"), headers=headers)
        if response.status_code == 429:
            wait = int(response.headers["retry-after"])
            if wait >= LOCKED:
                return
            time.sleep(wait)
    raise AssertionError("the client was never locked out")


def test_forged_forwarded_addresses_do_not_reset_the_backoff(server: RunningServer) -> None:
    # From 127.0.0.1, whose X-Forwarded-For uvicorn trusts unless told otherwise.
    with client_from("127.0.0.1", server) as attacker:
        statuses = [
            attacker.get(
                "/api/v1/documents", auth=(USER, f"guess{n}"), headers={"X-Forwarded-For": f"203.0.113.{n}"}
            ).status_code
            for n in range(12)
        ]
    assert statuses[:5] == [401] * 5
    assert 429 in statuses[5:], statuses


def test_guessing_one_user_name_from_many_addresses_is_throttled(server: RunningServer) -> None:
    statuses = []
    for host in range(30, 40):  # ten clients, two guesses each: below any one client's free tries
        with client_from(f"127.0.0.{host}", server) as client:
            statuses += [
                client.get("/api/v1/documents", auth=("warden", f"{host}-{n}")).status_code for n in (1, 2)
            ]
    assert statuses[:5] == [401] * 5
    assert 429 in statuses[5:], statuses
    # A client that has not failed still gets its try, and the right password from it goes through.
    with client_from("127.0.0.41", server) as newcomer:
        assert newcomer.get("/api/v1/documents", auth=RIGHT).status_code == 200


def test_the_right_password_gets_through_a_lockout_another_client_caused(server: RunningServer) -> None:
    # Both behind one address (an SSH tunnel): the colleague logged in earlier and holds the cookie.
    with client_from("127.0.0.50", server) as colleague, client_from("127.0.0.50", server) as attacker:
        assert colleague.get("/api/v1/documents", auth=RIGHT).status_code == 200
        assert "cecot_rag_login" in colleague.cookies
        lock_out(attacker, USER)
        assert attacker.get("/api/v1/documents", auth=RIGHT).status_code == 429  # no cookie: it waits
        assert colleague.get("/api/v1/documents", auth=RIGHT).status_code == 200
        # The cookie lets a password be checked, not guessed: a wrong one revokes it.
        assert colleague.get("/api/v1/documents", auth=(USER, "typo")).status_code == 401
        assert colleague.get("/api/v1/documents", auth=RIGHT).status_code == 429


def test_forwarded_addresses_count_only_from_a_named_proxy(tmp_path: Path) -> None:
    with running_server(
        tmp_path, "--auth-file", str(credentials_file(tmp_path)), "--forwarded-allow-ips", "127.0.0.1"
    ) as proxied:
        with httpx.Client(base_url=proxied.base_url, timeout=60) as proxy:
            behind = {"X-Forwarded-For": "198.51.100.7"}
            statuses = [
                proxy.get("/api/v1/documents", auth=("intruder", f"g{n}"), headers=behind).status_code
                for n in range(8)
            ]
            assert 429 in statuses, statuses
            # Another client behind the same proxy is not the one that failed.
            other = {"X-Forwarded-For": "198.51.100.8"}
            assert proxy.get("/api/v1/documents", auth=RIGHT, headers=other).status_code == 200
        # From an address that is not the named proxy the header is ignored: a new forwarded address
        # does not make a new client.
        with client_from("127.0.0.60", proxied) as direct:
            lock_out(direct, "stranger", headers={"X-Forwarded-For": "198.51.100.9"})
            fresh = {"X-Forwarded-For": "198.51.100.10"}
            assert direct.get("/api/v1/documents", auth=RIGHT, headers=fresh).status_code == 429
