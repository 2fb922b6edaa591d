"""ASGI guards for the mounted Gradio page: no server paths and no exception text in its answers.

Gradio answers its own errors with texts that name server paths ("File not allowed: /tmp/...")
and its upload route with absolute paths in its temporary folder. PlainPageErrors replaces the body
of every error answer of the page's routes with one sentence for its status; PageUploadPaths
answers uploads with paths relative to the upload folder and makes them absolute again in the
requests that send them back, which is all Gradio's own checks ever see.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cecot_rag.server.guards import send_json

# Routes of our own, which answer their errors with their own sentences.
OWN_PATHS = ("/api/v1/", "/healthz", "/openapi.json")
FILE_ROUTES = ("/gradio_api/file=", "/gradio_api/file/")
PAGE_ERRORS = {
    400: "the request is not valid",
    403: "this is not allowed",
    404: "no such file or page",
    405: "this method is not allowed here",
    422: "the request is not valid",
    500: "internal error; the server log says more",
    503: "the server is busy; retry shortly",
}
OTHER_ERROR = "the request could not be handled"


def _is_page_route(scope: Scope) -> bool:
    return scope["type"] == "http" and not scope["path"].startswith(OWN_PATHS)


class PlainPageErrors:
    """Every 4xx/5xx answer of a Gradio route becomes `{"detail": one sentence}`.

    A file route answers 404 for anything it will not serve (Gradio says 403 both for a refused
    path and a missing one, so one answer tells a prober nothing about which paths exist), and it
    never fetches a URL: Gradio 6 would download any public http(s) URL named there.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_page_route(scope):
            await self.app(scope, receive, send)
            return
        file_route = scope["path"].startswith(FILE_ROUTES)
        if file_route and "://" in scope["path"]:
            await send_json(send, 404, PAGE_ERRORS[404])
            return
        replaced = False

        async def plain(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] >= 400:
                replaced = True
                status = 404 if file_route and message["status"] == 403 else message["status"]
                await send_json(send, status, PAGE_ERRORS.get(status, OTHER_ERROR))
            elif not replaced:
                await send(message)

        await self.app(scope, receive, plain)


def _relative(value: Any, folder: Path) -> Any:
    if isinstance(value, str) and Path(value).is_absolute() and Path(value).is_relative_to(folder):
        return Path(value).relative_to(folder).as_posix()
    return value


def _absolute(value: Any, folder: Path) -> Any:
    """FileData paths sent back relative (as the upload route gave them) made absolute again."""
    if isinstance(value, list):
        return [_absolute(item, folder) for item in value]
    if not isinstance(value, dict):
        return value
    value = {key: _absolute(item, folder) for key, item in value.items()}
    path = value.get("path")
    meta = value.get("meta")
    file_data = isinstance(meta, dict) and meta.get("_type") == "gradio.FileData"
    if file_data and isinstance(path, str) and path and not Path(path).is_absolute() and "://" not in path:
        value["path"] = str(folder / path)
    return value


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class PageUploadPaths:
    """Upload paths relative to Gradio's upload folder in answers, absolute in requests.

    The upload route answers a list of paths; each under the folder goes out relative to it.
    JSON bodies posted to the page's other routes (queue/join, call/..., the events' inputs) get
    every relative FileData path joined to the folder before Gradio reads them.
    """

    def __init__(self, app: ASGIApp, folder: Path) -> None:
        self.app = app
        self.folder = folder.resolve()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if _is_page_route(scope) else ""
        if scope.get("method") != "POST" or not path.startswith("/gradio_api/"):
            await self.app(scope, receive, send)
        elif path == "/gradio_api/upload":
            await self.app(scope, receive, self._relative_answer(send))
        elif Headers(scope=scope).get("content-type", "").startswith("application/json"):
            await self._absolute_request(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _relative_answer(self, send: Send) -> Send:
        start: Message | None = None
        chunks: list[bytes] = []

        async def relative(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False) or start is None:
                return
            body = b"".join(chunks)
            if start["status"] == 200:
                # Anything but the list of paths this route answers is sent as it is.
                with contextlib.suppress(ValueError, TypeError):
                    body = json.dumps([_relative(p, self.folder) for p in json.loads(body)]).encode()
                MutableHeaders(scope=start)["content-length"] = str(len(body))
            await send(start)
            await send({"type": "http.response.body", "body": body})

        return relative

    async def _absolute_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        try:
            rewritten = json.dumps(_absolute(json.loads(body), self.folder)).encode()
        except (ValueError, RecursionError):
            rewritten = body  # Gradio answers an unreadable body itself
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(rewritten)).encode()))
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # after the body: wait for the client to disconnect
            sent = True
            return {"type": "http.request", "body": rewritten, "more_body": False}

        await self.app({**scope, "headers": headers}, replay, send)
