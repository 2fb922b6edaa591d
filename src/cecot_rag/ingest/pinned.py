"""A pinned httpx transport: connect to vetted addresses only, every operation within one deadline.

The connection goes to the addresses the SSRF guard vetted, never to what the resolver answers by
now; the Host header, TLS SNI and certificate check still use the URL's hostname (httpcore takes
them from the request, not from the socket). Each connect, TLS handshake, write and read gets at
most the time left before the fetch deadline, so a server dripping its headers is cut like one
dripping its body.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx


def _time_left(deadline: float, timeout: float | None, error: type[Exception]) -> float:
    """The smaller of an operation's own timeout and the time left before the fetch deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the fetch deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation ends by the fetch deadline (so dripped headers are cut)."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _time_left(self._deadline, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(self._deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        # Python bounds the whole handshake by the socket timeout, not each byte of it.
        left = _time_left(self._deadline, timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the vetted addresses of one host, whatever the resolver says by now."""

    def __init__(self, host: str, addresses: list[str], deadline: float) -> None:
        self._host = host
        self._addresses = addresses
        self._deadline = deadline
        self._tcp = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if host.lower() != self._host:
            raise httpcore.ConnectError(f"{host} was not vetted (this connection is for {self._host})")
        error: httpcore.ConnectError | None = None
        for address in self._addresses:
            left = _time_left(self._deadline, timeout, httpcore.ConnectTimeout)
            try:
                stream = self._tcp.connect_tcp(address, port, left, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc  # like socket.create_connection: try the next address
                continue
            return _DeadlineStream(stream, self._deadline)
        raise error or httpcore.ConnectError(f"no address for {host}")


class PinnedTransport(httpx.HTTPTransport):
    """An httpx transport that reaches one host only at its vetted addresses, within a deadline.

    No proxy from the environment is used: a proxy would resolve the host itself.
    """

    def __init__(
        self, host: str, addresses: list[str], deadline: float, verify: ssl.SSLContext | bool = True
    ) -> None:
        context = httpx.create_ssl_context(verify=verify)
        super().__init__(verify=context)
        # The pool httpx built connects through the system resolver; this one through the pin.
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            network_backend=_PinnedBackend(host.lower(), addresses, deadline),
        )
