"""`cecot-rag serve`: one FastAPI app with the chat page at /, the REST API, /healthz and /docs."""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import secrets
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from cecot_rag import __version__
from cecot_rag.assistant import Assistant, DocumentNotFound, InvalidQuestion
from cecot_rag.errors import EXIT_OK, UsageError
from cecot_rag.ingest.pipeline import expand_sources
from cecot_rag.locking import IndexBusy
from cecot_rag.server.api import router
from cecot_rag.server.service import ChatService, Rejected
from cecot_rag.settings import Settings

log = logging.getLogger(__name__)

# Paths open without credentials: a load balancer or CI must see readiness without the password.
_PUBLIC_PATHS = frozenset({"/healthz"})


class Health(BaseModel):
    status: str
    documents: int | None = None
    detail: str | None = None


def parse_credentials(value: str) -> tuple[str, str]:
    """USER:PASSWORD (the password may contain colons); raises ValueError with a clear message."""
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth / CECOT_RAG_AUTH must look like USER:PASSWORD (both non-empty)")
    return user, password


class BasicAuthMiddleware:
    """HTTP Basic for everything the server serves (page, Gradio's endpoints, API, docs)."""

    def __init__(self, app: ASGIApp, credentials: tuple[str, str]) -> None:
        self.app = app
        user, password = credentials
        self.expected = f"{user}:{password}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in _PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        if self._authorised(dict(scope["headers"]).get(b"authorization", b"")):
            await self.app(scope, receive, send)
            return
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
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            given = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return secrets.compare_digest(given, self.expected)


def create_app(
    settings: Settings | None = None,
    *,
    assistant: Assistant | None = None,
    auth: tuple[str, str] | None = None,
    max_concurrent_asks: int | None = None,
    with_page: bool = True,
) -> FastAPI:
    """The whole server as an ASGI app; startup ingests an empty index in the background."""
    assistant = assistant or Assistant(settings or Settings())
    service = ChatService(assistant, max_concurrent_asks=max_concurrent_asks)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start_preparing()
        yield

    app = FastAPI(
        title="cecot-rag",
        version=__version__,
        summary="Answers about CECOT and security policy in Latin America, with checkable citations.",
        lifespan=lifespan,
    )
    app.state.service = service
    _add_error_handlers(app)
    app.include_router(router)

    @app.get("/healthz", response_model=Health, responses={503: {"model": Health}}, tags=["health"])
    def healthz() -> Any:
        """200 once the index is ready to answer; 503 while it is being prepared or if that failed."""
        if service.startup_error:
            return JSONResponse(
                Health(status="failed", detail=service.startup_error).model_dump(), status_code=503
            )
        if not service.ready.is_set():
            return JSONResponse(Health(status="starting").model_dump(), status_code=503)
        return Health(status="ok", documents=len(assistant.documents()))

    if auth is not None:
        app.add_middleware(BasicAuthMiddleware, credentials=auth)
    if with_page:
        _mount_page(app, service)
    return app


def _mount_page(app: FastAPI, service: ChatService) -> None:
    import gradio as gr

    from cecot_rag.server.assets import PAGE_CSS, PAGE_HEAD, PAGE_THEME
    from cecot_rag.server.page import ChatPage

    blocks = ChatPage(service).build()
    # The page is mounted last: /api/v1, /healthz and /docs above take precedence over "/".
    gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        footer_links=[],
        run_history=False,
        max_file_size=service.settings.max_upload_bytes,
        show_error=True,
        ssr_mode=False,
        mcp_server=False,
        theme=PAGE_THEME,
        css=PAGE_CSS,
        head=PAGE_HEAD,
    )


def _add_error_handlers(app: FastAPI) -> None:
    def message(status: int, text: str) -> JSONResponse:
        return JSONResponse({"detail": text}, status_code=status)

    @app.exception_handler(Rejected)
    async def rejected(_: Request, exc: Rejected) -> JSONResponse:
        return message(exc.status, exc.message)

    @app.exception_handler(InvalidQuestion)
    async def invalid_question(_: Request, exc: InvalidQuestion) -> JSONResponse:
        return message(400, str(exc))

    @app.exception_handler(DocumentNotFound)
    async def not_found(_: Request, exc: DocumentNotFound) -> JSONResponse:
        return message(404, str(exc))

    @app.exception_handler(IndexBusy)
    async def busy(_: Request, exc: IndexBusy) -> JSONResponse:
        return message(503, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Logged in full for the operator; the client gets one line and no traceback.
        log.exception("unhandled error")
        return message(500, f"internal error ({type(exc).__name__}); see the server log")


LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass(frozen=True)
class ServeOptions:
    """Where `cecot-rag serve` listens, USER:PASSWORD (None: the auth setting, if any), and how much
    the server logs (`warning`: no access log; `info` adds one line per request)."""

    host: str = "127.0.0.1"
    port: int = 7860
    auth: str | None = None
    log_level: str = "warning"


class _ConsoleFormatter(logging.Formatter):
    """Startup progress as plain `cecot-rag: ...` lines; warnings and errors say what and where."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.name.startswith("cecot_rag") and record.levelno == logging.INFO:
            return f"cecot-rag: {message}"
        return f"{record.levelname} {record.name}: {message}"


def setup_logging(level: str) -> None:
    """The given level for every library (uvicorn's access log included); INFO at least for ours,
    whose INFO lines are the few progress messages of startup (model export, ingestion)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ConsoleFormatter("%(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("cecot_rag").setLevel(min(logging.INFO, logging.getLevelName(level.upper())))
    # httpx logs every request at INFO, our own readiness probe included.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))


def _say(text: str) -> None:
    print(f"cecot-rag: {text}", file=sys.stderr, flush=True)


def _probe_url(host: str, port: int) -> str:
    """Where this machine reaches the server: a wildcard address is probed on loopback."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def report_startup(service: ChatService, options: ServeOptions, credentials: tuple[str, str] | None) -> None:
    """Say what startup is doing, then one `ready: URL` line once the page itself answers.

    Runs in a thread beside uvicorn: loading the model here first (the ONNX export on a machine's
    first start) lets the line before it say why the wait is long; the startup ingestion, started by
    the app, finds the model loaded and logs its counts.
    """
    import httpx

    started = time.monotonic()
    settings = service.settings
    _say(f"index {settings.index_dir}, documents {settings.documents_dir}")
    _say("loading the embedding model (a machine's first start also exports it to ONNX, once)")
    backend = service.assistant.embedder.active_backend
    _say(f"embedding model ready ({backend}) after {time.monotonic() - started:.0f} s")
    if not service.ready.is_set():
        count = len(expand_sources([settings.documents_dir])[0])
        files = f"{count} file{'s' if count != 1 else ''}"
        _say(f"preparing the index (an empty one first ingests the {files} in {settings.documents_dir})")
    while not service.ready.wait(0.2):
        if service.startup_error:
            _say(f"the index could not be prepared ({service.startup_error}); /healthz says so")
            return
    url = _probe_url(options.host, options.port)
    with httpx.Client(auth=credentials, timeout=10) as client:
        while True:
            try:
                if client.get(url).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    shown = f"http://{options.host}:{options.port}/"
    _say(f"ready after {time.monotonic() - started:.0f} s: {shown} (API docs at {shown}docs)")


def serve(options: ServeOptions) -> int:
    """The `serve` subcommand: claim the index, start the server, ingest an empty index meanwhile."""
    import uvicorn

    settings = Settings()
    raw_auth = options.auth or settings.auth
    try:
        credentials = parse_credentials(raw_auth) if raw_auth else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if options.log_level not in LOG_LEVELS:
        raise UsageError(f"--log-level must be one of {', '.join(LOG_LEVELS)}")
    assistant = Assistant(settings)
    assistant.claim_writer("cecot-rag serve")  # IndexBusy: the CLI says who holds the index, exit 1
    if credentials is None and options.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"cecot-rag: warning: serving on {options.host} without --auth; anyone who can reach it "
            "can read, add and delete documents",
            file=sys.stderr,
        )
    setup_logging(options.log_level)
    app = create_app(settings, assistant=assistant, auth=credentials)
    reporter = threading.Thread(
        target=report_startup,
        args=(app.state.service, options, credentials),
        name="cecot-rag-startup-report",
        daemon=True,
    )
    reporter.start()
    try:
        uvicorn.run(
            app,
            host=options.host,
            port=options.port,
            log_level=options.log_level,
            log_config=None,  # keep the handler set up above instead of uvicorn's own
            timeout_graceful_shutdown=5,
        )
    finally:
        assistant.release_writer()
    return EXIT_OK
