"""HTTP Basic for the whole server, with failed logins throttled per client and per user name.

A client is the connection's peer address; behind a reverse proxy, the address the proxy names in
X-Forwarded-For, but only for proxies the operator lists (`--forwarded-allow-ips`), because
uvicorn then rewrites the peer; a header from anyone else changes nothing. A client that logged in
once gets a cookie that lets its right password through a lockout someone else caused.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
import time
from collections import OrderedDict
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cecot_rag.server.guards import PUBLIC_PATHS, send_json

LOGIN_COOKIE = "cecot_rag_login"
LOGIN_COOKIE_DAYS = 30


class LoginBackoff:
    """Failed logins per key (a client address or a user name): after `free` failures each further
    try waits longer.

    The wait doubles per failure (1 s, 2 s, 4 s, ... up to `longest`); while it runs, the caller
    answers 429. A success clears the key's record, and a record whose wait ended `longest` ago is
    forgotten. At most `keys` keys are remembered (oldest first out).
    """

    def __init__(self, free: int = 5, longest: float = 300.0, keys: int = 10_000) -> None:
        self.free = free
        self.longest = longest
        self.keys = keys
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def _record(self, key: str) -> tuple[int, float]:
        count, until = self._failures.get(key, (0, 0.0))
        if count and time.monotonic() > until + self.longest:
            self._failures.pop(key, None)
            return 0, 0.0
        return count, until

    def has_failed(self, key: str) -> bool:
        return self._record(key)[0] > 0

    def wait_for(self, key: str) -> float:
        """Seconds this key must still wait before its next try counts (0: go ahead)."""
        return max(0.0, self._record(key)[1] - time.monotonic())

    def failed(self, key: str) -> None:
        count, _ = self._record(key)
        self._failures.pop(key, None)
        count += 1
        delay = 0.0 if count < self.free else min(self.longest, 2.0 ** (count - self.free))
        self._failures[key] = (count, time.monotonic() + delay)
        while len(self._failures) > self.keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    @staticmethod
    def retry_after(seconds: float) -> str:
        return str(max(1, math.ceil(seconds)))


class LoginCookies:
    """Random tokens given to clients after a successful login, remembered by this process only."""

    def __init__(self, tokens: int = 10_000, days: float = LOGIN_COOKIE_DAYS) -> None:
        self.tokens = tokens
        self.lifetime = days * 86_400
        self._issued: OrderedDict[str, float] = OrderedDict()

    def issue(self) -> str:
        token = secrets.token_urlsafe(32)
        self._issued[token] = time.monotonic()
        while len(self._issued) > self.tokens:
            self._issued.popitem(last=False)
        return token

    def valid(self, token: str | None) -> bool:
        issued = self._issued.get(token or "")
        return issued is not None and time.monotonic() - issued < self.lifetime

    def revoke(self, token: str | None) -> None:
        self._issued.pop(token or "", None)


def read_credentials_file(path: Path) -> str:
    """USER:PASSWORD from the first line of a file (so the password stays out of `ps`)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"--auth-file {path}: {exc.strerror or exc}") from None
    return lines[0].strip() if lines else ""


def basic_credentials(header: bytes) -> bytes | None:
    """The decoded USER:PASSWORD of an Authorization: Basic header, or None."""
    scheme, _, token = header.partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        return base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


class BasicAuthMiddleware:
    """HTTP Basic for everything the server serves (page, Gradio's endpoints, API), with backoff.

    Failures count against the client (peer address) and the claimed user name. A client waiting
    out its own backoff gets 429 whatever it sends; so does a client that has failed before while
    the user name it claims is waiting (guessing one name from many addresses), but a client with
    no failures still gets its one try. A client holding a login cookie from an earlier success
    skips both waits: its credentials are checked, and a wrong password revokes the cookie.
    Authenticated requests carry `authenticated` in the request state.
    """

    def __init__(self, app: ASGIApp, credentials: tuple[str, str]) -> None:
        self.app = app
        user, password = credentials
        self.expected = f"{user}:{password}".encode()
        self.peers = LoginBackoff()
        self.names = LoginBackoff()
        self.cookies = LoginCookies()

    def _wait(self, peer: str, name: str) -> float:
        peer_wait = self.peers.wait_for(peer)
        name_wait = self.names.wait_for(name) if self.peers.has_failed(peer) else 0.0
        return max(peer_wait, name_wait)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        header = headers.get(b"authorization", b"")
        public = scope["path"] in PUBLIC_PATHS
        peer = (scope.get("client") or ("unknown", 0))[0]
        given = basic_credentials(header) if header else None
        name = (given or b"").partition(b":")[0].decode("utf-8", "replace")
        token = cookie_parser(headers.get(b"cookie", b"").decode("latin-1")).get(LOGIN_COOKIE)
        known = self.cookies.valid(token)
        wait = 0.0 if known or not header or public else self._wait(peer, name)
        if wait > 0 and scope["type"] == "http":
            retry = LoginBackoff.retry_after(wait)
            await send_json(send, 429, "too many failed logins; retry later", {"Retry-After": retry})
            return
        if header and self._authorised(header):
            if self.peers.wait_for(peer) == 0:  # a cookie holder inside a lockout clears nothing
                self.peers.succeeded(peer)
            if self.names.wait_for(name) == 0:
                self.names.succeeded(name)
            scope.setdefault("state", {})["authenticated"] = True
            await self.app(scope, receive, send if known else self._with_cookie(scope, send))
            return
        if public:
            await self.app(scope, receive, send)
            return
        if header:
            self.peers.failed(peer)
            self.names.failed(name)
            self.cookies.revoke(token)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = JSONResponse(
            {"detail": "credentials required"},
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="cecot-rag", charset="UTF-8"'},
        )
        await response(scope, receive, send)

    def _authorised(self, header: bytes) -> bool:
        given = basic_credentials(header)
        return given is not None and secrets.compare_digest(given, self.expected)

    def _with_cookie(self, scope: Scope, send: Send) -> Send:
        """`send` that gives an HTTP client a fresh login cookie with its answer."""
        if scope["type"] != "http":
            return send
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        max_age = int(self.cookies.lifetime)
        attributes = f"Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        cookie = f"{LOGIN_COOKIE}={self.cookies.issue()}; {attributes}"

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        return with_cookie
