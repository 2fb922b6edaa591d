"""The URL fetcher: vet the host's addresses once, connect only to them, finish within one deadline.

The SSRF guard resolves the host and refuses non-public addresses; the connection then goes to
exactly the vetted addresses through a pinned httpx transport (cecot_rag.ingest.pinned), so a DNS
answer that changes between the check and the download (DNS rebinding) cannot reach another
machine. One wall-clock deadline bounds the whole fetch, redirects included.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlparse

from cecot_rag.ingest.loaders import SUPPORTED_SUFFIXES, LoadedDocument, LoadError, load_bytes

MAX_REDIRECTS = 5

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public_address(address: IPAddress) -> bool:
    """Whether an address may be fetched without CECOT_RAG_ALLOW_PRIVATE_URLS."""
    return address.is_global


class ResolveTimeout(LoadError):
    """The host was not resolved before the fetch deadline."""


def _lookup(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


def _resolve(host: str, port: int, deadline: float | None) -> list[str]:
    """The host's addresses, given up at the deadline: a slow name server must not outlast it."""
    if deadline is None:
        return _lookup(host, port)
    outcome: list[list[str] | socket.gaierror] = []

    def lookup() -> None:
        try:
            outcome.append(_lookup(host, port))
        except socket.gaierror as exc:
            outcome.append(exc)

    # getaddrinfo cannot be interrupted: a lookup past the deadline finishes in its daemon thread.
    worker = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if not outcome:
        raise ResolveTimeout(f"resolving {host} took past the deadline")
    if isinstance(outcome[0], socket.gaierror):
        raise outcome[0]
    return outcome[0]


def check_url_allowed(url: str, allow_private: bool, deadline: float | None = None) -> list[str]:
    """The addresses a URL's host resolves to, once each, after refusing what may not be fetched.

    Refuses non-http(s) URLs and, unless allow_private, hosts with any loopback, private,
    link-local or reserved address. The caller connects only to the returned addresses. With a
    deadline (time.monotonic()), a lookup still running then raises ResolveTimeout.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise LoadError(f"only http(s) URLs are allowed, not {parsed.scheme or 'no scheme'}://")
    if not parsed.hostname:
        raise LoadError("URL has no host")
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError as exc:
        raise LoadError(f"invalid URL ({exc})") from exc
    try:
        resolved = _resolve(parsed.hostname, port, deadline)
    except socket.gaierror as exc:
        raise LoadError(f"cannot resolve host {parsed.hostname}") from exc
    addresses: list[str] = []
    for answer in resolved:
        address = ipaddress.ip_address(answer)
        if not allow_private and not is_public_address(address):
            raise LoadError(
                f"refusing to fetch {parsed.hostname}: it resolves to a non-public address "
                f"({address}); set CECOT_RAG_ALLOW_PRIVATE_URLS=true to allow"
            )
        if str(address) not in addresses:
            addresses.append(str(address))
    return addresses


def load_url(url: str, *, timeout: float, max_bytes: int, allow_private: bool) -> LoadedDocument:
    """Download a URL (following up to MAX_REDIRECTS vetted redirects) and load it as a document."""
    # Imported here: answering questions loads this module but never fetches, and httpcore is slow to import.
    import httpx

    from cecot_rag.ingest.pinned import PinnedTransport

    current = url
    deadline = time.monotonic() + timeout
    try:
        for _ in range(MAX_REDIRECTS + 1):
            # Each hop is vetted and pinned on its own: a redirect may name any host.
            addresses = check_url_allowed(current, allow_private, deadline)
            host = httpx.URL(current).raw_host.decode("ascii")
            transport = PinnedTransport(host, addresses, deadline)
            with (
                httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as client,
                client.stream("GET", current, headers={"User-Agent": "cecot-rag"}) as response,
            ):
                if response.is_redirect:
                    current = urljoin(current, response.headers.get("location", ""))
                    continue
                if response.status_code >= 400:
                    raise LoadError(f"HTTP {response.status_code} from server")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise LoadError(f"response over the size limit of {max_bytes} bytes")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise LoadError(f"response over the size limit of {max_bytes} bytes")
                    chunks.append(chunk)
                ctype = response.headers.get("content-type", "")
                break
        else:
            raise LoadError("too many redirects")
    except httpx.InvalidURL as exc:
        raise LoadError(f"invalid URL ({exc})") from exc
    except (httpx.TimeoutException, ResolveTimeout) as exc:
        raise LoadError(f"timed out after {timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise LoadError(f"unreachable ({type(exc).__name__}: {exc})"[:300]) from exc
    suffix = Path(urlparse(current).path).suffix.lower()
    return load_bytes(b"".join(chunks), url, suffix if suffix in SUPPORTED_SUFFIXES else "", ctype)
