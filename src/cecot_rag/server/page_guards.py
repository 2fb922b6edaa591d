"""ASGI guards for the mounted Gradio page: no server paths and no exception text in its answers.

Gradio answers its own errors with texts that name server paths ("File not allowed: /tmp/...")
and names files by their absolute paths in its temporary folder. PlainPageErrors replaces the body
of every error answer of the page's routes with one sentence for its status; PagePaths sends
paths relative to that folder and makes them absolute again in the requests that send them back,
which is all Gradio's own checks ever see.
"""

from __future__ import annotations

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
    413: "the file is larger than the upload limit",
    422: "the request is not valid",
    500: "internal error; the server log says more",
    503: "the server is busy; retry shortly",
}
OTHER_ERROR = "the request could not be handled"
TEXT_ANSWERS = ("application/json", "text/event-stream")


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


def _events_ready(pending: bytes, more: bool) -> int:
    """How much of an event stream can go now: all of it at its end, else up to its last blank
    line (an event's end), so a folder path cut between two messages is stripped whole."""
    if not more:
        return len(pending)
    end = pending.rfind(b"\n\n")
    return end + 2 if end >= 0 else 0


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


class PagePaths:
    """Paths in Gradio's folder go out relative to it, and come back in made absolute again.

    Out: every JSON or event-stream answer of the page's routes (the upload route's list of paths,
    the FileData of an export the queue streams, its `/gradio_api/file=` URL) loses the folder's
    absolute prefix. In: a relative FileData path in a JSON body (queue/join, call/..., the events'
    inputs) and a relative `/gradio_api/file=` target are joined to the folder before Gradio reads
    them, so its own checks see what they always saw.
    """

    def __init__(self, app: ASGIApp, folder: Path) -> None:
        self.app = app
        self.folder = folder.resolve()
        # Gradio writes the folder as it was given (abspath) and the resolved form may differ.
        prefixes = {f"{folder.absolute()}/", f"{self.folder}/"}
        self.prefixes = sorted((prefix.encode() for prefix in prefixes), key=len, reverse=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if _is_page_route(scope) else ""
        if not path.startswith("/gradio_api/"):
            await self.app(scope, receive, send)
        elif path.startswith("/gradio_api/file="):
            await self.app(self._absolute_file(scope), receive, send)  # bytes of a file: untouched
        elif scope["method"] == "POST" and Headers(scope=scope).get("content-type", "").startswith(
            "application/json"
        ):
            await self._absolute_request(scope, receive, self._relative_answer(send))
        elif scope["method"] == "HEAD":
            await self.app(scope, receive, send)  # no body: its declared length stays as it is
        else:
            await self.app(scope, receive, self._relative_answer(send))

    def _strip(self, body: bytes) -> bytes:
        for prefix in self.prefixes:
            body = body.replace(prefix, b"")
        return body

    def _absolute_file(self, scope: Scope) -> Scope:
        target = scope["path"].removeprefix("/gradio_api/file=")
        if not target or target.startswith("/") or "://" in target:
            return scope
        path = f"/gradio_api/file={self.folder / target}"
        return {**scope, "path": path, "raw_path": path.encode()}

    def _relative_answer(self, send: Send) -> Send:
        """`send` that strips the folder from JSON answers (whole) and event streams (per event)."""
        kind = ""
        start: Message | None = None
        pending = b""

        async def relative(message: Message) -> None:
            nonlocal kind, start, pending
            if message["type"] == "http.response.start":
                kind = Headers(raw=message.get("headers", [])).get("content-type", "").split(";")[0]
                if kind == "application/json":
                    start = message  # sent with the whole body, whose length changes
                else:
                    await send(message)
                return
            if message["type"] != "http.response.body" or kind not in TEXT_ANSWERS:
                await send(message)
                return
            pending += message.get("body", b"")
            more = message.get("more_body", False)
            if kind == "text/event-stream":
                cut = _events_ready(pending, more)
                ready, pending = pending[:cut], pending[cut:]
                await send({"type": "http.response.body", "body": self._strip(ready), "more_body": more})
            elif not more and start is not None:
                body = self._strip(pending)
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
