"""ASGI guards around the whole server: same-origin writes, security headers, body caps
(credentials and login backoff are in server.login, the page's own answers in server.page_guards).

They wrap the FastAPI app and the mounted Gradio page alike, so the page's /gradio_api/* routes
get the same rules as the REST API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Paths open without credentials: a load balancer or CI must see readiness without the password.
PUBLIC_PATHS = frozenset({"/healthz"})
# The Gradio page needs inline scripts and styles (its config and our click handler) and eval for
# its event functions; everything else comes from this server only, and no one may frame it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'; media-src 'self' blob:; worker-src 'self' blob:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


async def send_json(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """A JSON error answered by a guard, before the app has seen the request."""
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _origin_host(headers: Headers) -> str | None:
    """The host[:port] of the request's Origin ("null" for opaque origins), or None without one."""
    origin = headers.get("origin")
    if origin is None:
        return None
    return (urlsplit(origin).netloc or origin).lower()


def is_foreign(headers: Headers) -> bool:
    """True when a browser says the request comes from a page that is not this server's own.

    The Origin's host:port must be the Host the browser addressed (or, behind a proxy, the
    X-Forwarded-Host it set; a page cannot set that header cross-origin without a preflight,
    which is refused). The scheme is not compared, so a TLS-terminating proxy works unchanged.
    """
    origin = _origin_host(headers)
    if origin is not None:
        own = {headers.get("host", "").lower()}
        forwarded = headers.get("x-forwarded-host")
        if forwarded:
            own.add(forwarded.split(",")[0].strip().lower())
        return origin not in own
    # No Origin: older browsers and some navigations; Fetch Metadata still tells the site.
    return headers.get("sec-fetch-site", "same-origin") in ("cross-site", "same-site")


class SameOriginGuard:
    """Writes only from the server's own pages; no CORS pass for any other origin.

    Gradio's CORS middleware answers preflights (for every path under the mount, REST routes
    included) and adds Access-Control-Allow-Origin for any localhost origin; this guard answers
    foreign preflights itself with a refusal and strips those headers from other foreign answers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not is_foreign(headers):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method in STATE_CHANGING or (method == "OPTIONS" and "access-control-request-method" in headers):
            await send_json(send, 403, "cross-origin requests that change data are refused")
            return

        async def without_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name in [k for k in response_headers if k.startswith("access-control-")]:
                    del response_headers[name]
            await send(message)

        await self.app(scope, receive, without_cors)


class SecurityHeaders:
    """CSP, X-Frame-Options, X-Content-Type-Options and Referrer-Policy on every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyTooLarge(Exception):
    """Raised from receive() once a body passes its cap; the guard turns it into a 413."""


class BodyLimit:
    """Caps request bodies before they are read: by Content-Length at once, while streaming otherwise.

    `limit_for(path)` gives the cap for a path; a body over it gets 413 and is not read further
    (chunked bodies included), so a huge JSON is never parsed and a huge upload never spooled.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in STATE_CHANGING:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await send_json(send, 413, f"the request body is larger than the limit of {limit} bytes")
            return
        received = 0
        tripped = False
        started = False

        async def counted() -> Message:
            nonlocal received, tripped
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    tripped = True
                    raise BodyTooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if tripped:
                return  # the app's own answer to the cut-off body is replaced by the 413 below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not tripped:
                raise
        if tripped and not started:
            await send_json(send, 413, f"the request body is larger than the limit of {limit} bytes")
