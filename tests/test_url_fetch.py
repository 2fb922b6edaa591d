"""The URL fetcher: one deadline for the whole fetch, connections pinned to the vetted address.

Real servers on loopback addresses (127.0.0.2 and 127.0.0.3 are separate hosts as far as sockets
go); DNS is the only thing faked, by replacing socket.getaddrinfo for made-up .test host names.
"""

from __future__ import annotations

import http.server
import ipaddress
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cecot_rag.ingest import fetch
from cecot_rag.ingest.fetch import check_url_allowed, embedded_ipv4, is_public_address, load_url
from cecot_rag.ingest.loaders import LoadError
from cecot_rag.ingest.pinned import PinnedTransport

MB = 1024 * 1024


class _RecordingServer(http.server.ThreadingHTTPServer):
    """An HTTP server on one loopback address that notes the Host header of every request."""

    daemon_threads = True

    def __init__(self, address: str, port: int, routes: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
        self.hosts: list[str] = []
        self.routes = routes
        super().__init__((address, port), _RecordingHandler)


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    server: _RecordingServer

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.hosts.append(self.headers.get("Host", ""))
        status, headers, body = self.server.routes.get(self.path, (404, {}, b"not here"))
        self.send_response(status)
        for name, value in {"Content-Type": "text/markdown", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(server: http.server.HTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


def _shared_port(addresses: list[str]) -> int:
    """A port free on every one of the addresses (a URL names one port for all of them)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = int(probe.getsockname()[1])
        try:
            for address in addresses[1:]:
                with socket.socket() as other:
                    other.bind((address, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on all of " + ", ".join(addresses))


def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> dict[str, int]:
    """Make host names resolve to answers[name][n] on the n-th lookup (the last answer repeats)."""
    real = socket.getaddrinfo
    lookups = dict.fromkeys(answers, 0)

    def getaddrinfo(host: object, port: object, *args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
        if host in answers:
            name = str(host)
            address = answers[name][min(lookups[name], len(answers[name]) - 1)]
            lookups[name] += 1
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]
        return real(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def _treat_as_public(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    """Let the given loopback addresses stand in for public hosts in the SSRF guard."""
    public = {ipaddress.ip_address(a) for a in addresses}
    monkeypatch.setattr(fetch, "is_public_address", lambda address: address in public)


PAGE = b"# Vetted\n\nThe vetted server answered.\n"
OTHER = b"# Internal\n\nAn internal service answered.\n"


@pytest.fixture
def two_hosts() -> Iterator[tuple[int, _RecordingServer, _RecordingServer]]:
    """The same port on 127.0.0.2 (a stand-in public site) and 127.0.0.3 (an internal service)."""
    port = _shared_port(["127.0.0.2", "127.0.0.3"])
    vetted = _RecordingServer("127.0.0.2", port, {"/": (200, {}, PAGE)})
    internal = _RecordingServer("127.0.0.3", port, {"/": (200, {}, OTHER)})
    _serve(vetted), _serve(internal)
    yield port, vetted, internal
    vetted.shutdown(), internal.shutdown()
    vetted.server_close(), internal.server_close()


def test_a_dns_rebinding_answer_does_not_redirect_the_connection(
    monkeypatch: pytest.MonkeyPatch, two_hosts: tuple[int, _RecordingServer, _RecordingServer]
) -> None:
    port, vetted, internal = two_hosts
    # Vetting sees the "public" 127.0.0.2; every later lookup answers the internal 127.0.0.3.
    lookups = _fake_dns(monkeypatch, {"rebind.test": ["127.0.0.2", "127.0.0.3"]})
    _treat_as_public(monkeypatch, "127.0.0.2")
    document = load_url(f"http://rebind.test:{port}/", timeout=10, max_bytes=MB, allow_private=False)
    assert document.text.strip().endswith("The vetted server answered.")
    assert vetted.hosts == [f"rebind.test:{port}"]  # the Host header keeps the name
    assert internal.hosts == []
    assert lookups["rebind.test"] == 1


def test_each_redirect_hop_is_vetted_and_pinned(
    monkeypatch: pytest.MonkeyPatch, two_hosts: tuple[int, _RecordingServer, _RecordingServer]
) -> None:
    port, first, second = two_hosts
    first.routes["/go"] = (302, {"Location": f"http://second.test:{port}/"}, b"")
    third = _RecordingServer("127.0.0.4", port, {"/": (200, {}, b"# Rebound\n\nNot this one.\n")})
    _serve(third)
    try:
        lookups = _fake_dns(
            monkeypatch, {"first.test": ["127.0.0.2"], "second.test": ["127.0.0.3", "127.0.0.4"]}
        )
        _treat_as_public(monkeypatch, "127.0.0.2", "127.0.0.3")
        document = load_url(f"http://first.test:{port}/go", timeout=10, max_bytes=MB, allow_private=False)
        assert "An internal service answered." in document.text  # 127.0.0.3 is second.test's vetted address
        assert first.hosts == [f"first.test:{port}"]
        assert second.hosts == [f"second.test:{port}"]
        assert third.hosts == []
        assert lookups == {"first.test": 1, "second.test": 1}
        # A redirect whose host resolves to a refused address stops the fetch at that hop.
        first.routes["/go"] = (302, {"Location": f"http://third.test:{port}/"}, b"")
        _fake_dns(monkeypatch, {"first.test": ["127.0.0.2"], "third.test": ["127.0.0.4"]})
        with pytest.raises(LoadError, match=r"^third\.test is not a public address$"):
            load_url(f"http://first.test:{port}/go", timeout=10, max_bytes=MB, allow_private=False)
        assert third.hosts == []
    finally:
        third.shutdown()
        third.server_close()


def test_a_pinned_transport_refuses_a_host_it_was_not_vetted_for(
    two_hosts: tuple[int, _RecordingServer, _RecordingServer],
) -> None:
    port, vetted, _ = two_hosts
    transport = PinnedTransport("vetted.test", ["127.0.0.2"], time.monotonic() + 10)
    with httpx.Client(transport=transport) as client:
        with pytest.raises(httpx.ConnectError, match=r"other\.test was not vetted"):
            client.get(f"http://other.test:{port}/")
        assert client.get(f"http://vetted.test:{port}/").content == PAGE
    assert vetted.hosts == [f"vetted.test:{port}"]


def test_the_vetted_addresses_are_returned_once_each(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"twice.test": ["127.0.0.2"]})
    assert check_url_allowed("http://twice.test/", allow_private=True) == ["127.0.0.2"]
    assert check_url_allowed("https://[::1]:8443/x", allow_private=True) == ["::1"]
    with pytest.raises(LoadError, match="invalid URL"):
        check_url_allowed("http://twice.test:99999/", allow_private=True)


# -- TLS on a pinned connection -------------------------------------------------------------------


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate and key for one DNS name, made by the openssl command."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_site(tmp_path: Path) -> Iterator[tuple[int, Path, list[str | None]]]:
    """An HTTPS server on 127.0.0.2 with a certificate for secure.test; it notes each SNI name."""
    cert, key = _certificate(tmp_path, "secure.test")
    server = _RecordingServer("127.0.0.2", 0, {"/": (200, {}, PAGE)})
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    sni: Callable[[ssl.SSLObject, str | None, ssl.SSLContext], None] = lambda _s, name, _c: names.append(name)  # noqa: E731
    context.sni_callback = sni  # type: ignore[assignment]
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _serve(server)
    yield int(server.server_address[1]), cert, names
    server.shutdown()
    server.server_close()


def test_tls_on_a_pinned_connection_checks_the_certificate_against_the_hostname(
    tls_site: tuple[int, Path, list[str | None]],
) -> None:
    port, cert, names = tls_site
    trust = ssl.create_default_context(cafile=str(cert))
    deadline = time.monotonic() + 10

    def pinned(host: str) -> httpx.Client:
        return httpx.Client(transport=PinnedTransport(host, ["127.0.0.2"], deadline, verify=trust))

    with pinned("secure.test") as client:
        assert client.get(f"https://secure.test:{port}/").content == PAGE
    assert names == ["secure.test"]
    # The same address under another name: the certificate does not match, so no connection.
    with pinned("wrong.test") as client, pytest.raises(httpx.ConnectError, match="certificate verify failed"):
        client.get(f"https://wrong.test:{port}/")
    assert names == ["secure.test", "wrong.test"]


# -- one deadline ---------------------------------------------------------------------------------


@pytest.fixture
def header_drip() -> Iterator[str]:
    """A server that answers every request with a status line, then one header byte a second."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip(connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(60):
                    if stop.wait(1.0):
                        return
                    connection.sendall(b"a")
            except OSError:
                return  # the client hung up, as it should

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=drip, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    stop.set()
    listener.close()


def test_a_server_dripping_its_headers_is_cut_at_the_one_deadline(header_drip: str) -> None:
    timeout = 2.0
    started = time.monotonic()
    with pytest.raises(LoadError, match="timed out after 2 s"):
        load_url(header_drip, timeout=timeout, max_bytes=MB, allow_private=True)
    # Each header byte arrives well within the per-read timeout; only the whole-fetch deadline cuts it.
    assert time.monotonic() - started < 3 * timeout


def test_a_name_server_slower_than_the_deadline_is_cut_at_it(monkeypatch: pytest.MonkeyPatch) -> None:
    answered = threading.Event()
    real = socket.getaddrinfo

    def slow_getaddrinfo(host: object, *args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
        if host == "slow.test":
            answered.wait(30)  # a name server that takes far longer than the fetch may
            return real("127.0.0.1", *args, **kwargs)  # type: ignore[arg-type]
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)
    timeout = 1.0
    started = time.monotonic()
    try:
        with pytest.raises(LoadError, match="timed out after 1 s"):
            load_url("http://slow.test/", timeout=timeout, max_bytes=MB, allow_private=True)
        assert time.monotonic() - started < 3 * timeout
    finally:
        answered.set()


# -- IPv6 forms of IPv4 addresses (issue 21, item 4) ----------------------------------------------

# Each passed the guard before: Python 3.11's is_global judges them as IPv6 addresses.
EMBEDDED_PRIVATE = [
    "::7f00:1",  # IPv4-compatible 127.0.0.1 (deprecated)
    "::127.0.0.1",  # the same, written with the dotted quad
    "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
    "64:ff9b::7f00:1",  # NAT64 well-known prefix, 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254, the cloud metadata address
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b:1::808:808",  # NAT64 local-use prefix: never public, whatever it embeds
    "fec0::1",  # site-local (deprecated)
    "3ffe::1",  # the returned 6bone prefix
]


@pytest.mark.parametrize("address", EMBEDDED_PRIVATE)
def test_ipv6_forms_of_private_or_deprecated_addresses_are_refused(address: str) -> None:
    with pytest.raises(LoadError, match=r"is not a public address$"):
        check_url_allowed(f"http://[{address}]:8080/", allow_private=False)


def test_embedded_ipv4_addresses_are_judged_as_ipv4() -> None:
    expected = {
        "::ffff:10.0.0.1": "10.0.0.1",
        "::7f00:1": "127.0.0.1",
        "::ffff:0:a9fe:a9fe": "169.254.169.254",
        "64:ff9b::c0a8:101": "192.168.1.1",
        "2002:c0a8:101::": "192.168.1.1",
    }
    for form, ipv4 in expected.items():
        assert str(embedded_ipv4(ipaddress.IPv6Address(form))) == ipv4, form
    assert embedded_ipv4(ipaddress.IPv6Address("::1")) is None  # loopback itself, not ::0.0.0.1
    assert embedded_ipv4(ipaddress.IPv6Address("2606:4700::1111")) is None
    # A public IPv4 address behind NAT64 or 6to4 is a public address.
    for public in ("64:ff9b::808:808", "2002:808:808::1", "2606:4700::1111"):
        assert is_public_address(ipaddress.IPv6Address(public)), public
    assert check_url_allowed("http://[64:ff9b::808:808]/", allow_private=False) == ["64:ff9b::808:808"]


def test_a_loopback_server_behind_an_ipv4_mapped_address_is_reached_only_when_allowed() -> None:
    """This machine routes ::ffff:127.0.0.1 to the IPv4 loopback server (it does not route the
    compatible, translated, NAT64 or 6to4 forms: those are covered by the guard tests above)."""
    server = _RecordingServer("127.0.0.1", 0, {"/": (200, {}, PAGE)})
    _serve(server)
    url = f"http://[::ffff:127.0.0.1]:{server.server_address[1]}/"
    try:
        with pytest.raises(LoadError, match=r"^::ffff:127\.0\.0\.1 is not a public address$"):
            load_url(url, timeout=10, max_bytes=MB, allow_private=False)
        assert server.hosts == []
        document = load_url(url, timeout=10, max_bytes=MB, allow_private=True)
        assert document.text.strip().endswith("The vetted server answered.")
        assert len(server.hosts) == 1
    finally:
        server.shutdown()
        server.server_close()
