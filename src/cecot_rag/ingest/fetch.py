"""The URL fetcher: vet the host's addresses once, connect only to them, finish within one deadline.

The SSRF guard resolves the host and refuses non-public addresses; the connection then goes to
exactly the vetted addresses through a pinned httpx transport (cecot_rag.ingest.pinned), so a DNS
answer that changes between the check and the download (DNS rebinding) cannot reach another
machine. One wall-clock deadline bounds the whole fetch, redirects included.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlparse

from cecot_rag.ingest.loaders import SUPPORTED_SUFFIXES, LoadedDocument, LoadError, load_bytes

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# IPv6 forms that carry an IPv4 address in their last 32 bits: IPv4-compatible (::a.b.c.d,
# deprecated), IPv4-translated (::ffff:0:a.b.c.d) and the NAT64 well-known prefix. Python 3.11's
# is_global judges them as IPv6 and calls ::7f00:1 or 64:ff9b::a9fe:a9fe public.
_LAST_32_BITS = (
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
    ipaddress.IPv6Network("64:ff9b::/96"),
)
# Never public, whatever they embed: the NAT64 local-use prefix (RFC 8215; its operator picks where
# the IPv4 address sits), site-local (deprecated, RFC 3879) and the returned 6bone prefix.
_NEVER_PUBLIC = (
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("fec0::/10"),
    ipaddress.IPv6Network("3ffe::/16"),
)
NOT_PUBLIC = "not a public address"


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, translated, NAT64, 6to4)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in _LAST_32_BITS) and int(address) > 1:  # not :: or ::1
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """Whether an address may be fetched without CECOT_RAG_ALLOW_PRIVATE_URLS: an IPv6 form of an
    IPv4 address is judged by that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in _NEVER_PUBLIC):
            return False
        inner = embedded_ipv4(address)
        if inner is not None:
            return inner.is_global
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
    link-local or reserved address, IPv6 forms of one included (see is_public_address). The
    caller connects only to the returned addresses. With a deadline (time.monotonic()), a lookup
    still running then raises ResolveTimeout.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise LoadError(f"only http(s) URLs are allowed, not {parsed.scheme or 'no scheme'}://")
    if not parsed.hostname:
        raise LoadError("URL has no host")
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        raise LoadError("invalid URL (the port is not a number from 0 to 65535)") from None
    # One answer for a name that does not resolve and one that resolves to a private address, so
    # the message cannot be used to map internal names; the operator's log says which it was.
    try:
        resolved = _resolve(parsed.hostname, port, deadline)
    except socket.gaierror as exc:
        log.info("refused %s: cannot resolve %s (%s)", url, parsed.hostname, exc)
        raise LoadError(f"{parsed.hostname} is {NOT_PUBLIC}") from None
    except UnicodeError:
        raise LoadError("invalid URL (the host name is not valid text)") from None
    addresses: list[str] = []
    for answer in resolved:
        address = ipaddress.ip_address(answer)
        if not allow_private and not is_public_address(address):
            log.info(
                "refused %s: %s resolves to %s (CECOT_RAG_ALLOW_PRIVATE_URLS=true allows it)",
                url,
                parsed.hostname,
                address,
            )
            raise LoadError(f"{parsed.hostname} is {NOT_PUBLIC}")
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
    except (httpx.InvalidURL, UnicodeError):
        raise LoadError("invalid URL (it cannot be sent as a web address)") from None
    except (httpx.TimeoutException, ResolveTimeout):
        raise LoadError(f"timed out after {timeout:g} s") from None
    except httpx.HTTPError as exc:
        # The exception's text names addresses and system errors: it goes to the log only.
        log.info("could not fetch %s: %s: %s", url, type(exc).__name__, exc)
        raise LoadError("unreachable (the site did not answer)") from None
    suffix = Path(urlparse(current).path).suffix.lower()
    return load_bytes(b"".join(chunks), url, suffix if suffix in SUPPORTED_SUFFIXES else "", ctype)
