"""The server as one FastAPI app: the chat page at /, the REST API, /healthz and /openapi.json.

`cecot-rag serve` runs it (server.startup)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.middleware.trustedhost import TrustedHostMiddleware

from cecot_rag import __version__
from cecot_rag.assistant import Assistant, DocumentNotFound, InvalidQuestion
from cecot_rag.locking import IndexBusy
from cecot_rag.server.api import OPENAPI_COMPONENTS, router
from cecot_rag.server.guards import BodyLimit, BodyTooLarge, SameOriginGuard, SecurityHeaders
from cecot_rag.server.login import BasicAuthMiddleware
from cecot_rag.server.rejected import Rejected
from cecot_rag.server.service import ChatService
from cecot_rag.settings import Settings

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
# Body caps (BodyLimit): a question with its history is small; uploads get the upload limit plus the
# multipart overhead; the page's queue carries the conversation back and forth; the page's /upload
# takes several files at once, each also checked by Gradio against the upload limit.
_ASK_BODY_LIMIT = 64 * 1024
_PAGE_BODY_LIMIT = 4 * 1024 * 1024
_PAGE_UPLOAD_FILES = 10
_MULTIPART_SLACK = 64 * 1024


class Health(BaseModel):
    status: str
    documents: int | None = None
    detail: str | None = None


def parse_credentials(value: str) -> tuple[str, str]:
    """USER:PASSWORD (the password may contain colons); raises ValueError with a clear message."""
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError(
            "--auth / --auth-file / CECOT_RAG_AUTH must look like USER:PASSWORD (both non-empty)"
        )
    return user, password


def body_limit_for(settings: Settings) -> Callable[[str], int]:
    """The body cap for a request path (see BodyLimit)."""
    upload = settings.max_upload_bytes + _MULTIPART_SLACK

    def limit_for(path: str) -> int:
        if path == "/api/v1/documents":
            return upload
        if path == "/gradio_api/upload":
            return upload * _PAGE_UPLOAD_FILES
        if path.startswith("/gradio_api/"):
            return _PAGE_BODY_LIMIT
        return _ASK_BODY_LIMIT

    return limit_for


def create_app(
    settings: Settings | None = None,
    *,
    assistant: Assistant | None = None,
    auth: tuple[str, str] | None = None,
    max_concurrent_asks: int | None = None,
    with_page: bool = True,
    trusted_hosts: list[str] | None = None,
) -> FastAPI:
    """The whole server as an ASGI app; startup ingests an empty index in the background.

    trusted_hosts: the only Host names answered (None: any). A loopback server names only
    loopback, so a page whose DNS name is rebound to 127.0.0.1 is still refused.
    """
    assistant = assistant or Assistant(settings or Settings())
    service = ChatService(assistant, max_concurrent_asks=max_concurrent_asks)
    running: list[Callable[[], AbstractAsyncContextManager[None]]] = []  # the page's, once mounted

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.readiness.start_preparing()
        async with contextlib.AsyncExitStack() as stack:
            for context in running:
                await stack.enter_async_context(context())
            yield

    app = FastAPI(
        title="cecot-rag",
        version=__version__,
        summary=f"Answers about {service.settings.topic}, with checkable citations.",
        lifespan=lifespan,
        # Swagger UI and ReDoc load their scripts from a CDN (blank offline, and a third party in the
        # page); /openapi.json stays for clients and generators.
        docs_url=None,
        redoc_url=None,
    )
    _add_openapi_components(app)
    app.state.service = service
    _add_error_handlers(app)
    app.include_router(router)

    @app.get(
        "/healthz",
        response_model=Health,
        response_model_exclude_none=True,
        responses={503: {"model": Health}},
        tags=["health"],
    )
    def healthz(request: Request) -> Any:
        """200 once the index is ready to answer; 503 while it is being prepared or if that failed.

        The document count is told only to callers who could list the documents anyway: everyone
        without --auth, authenticated callers with it.
        """
        readiness = service.readiness
        if readiness.error:
            return JSONResponse(Health(status="failed", detail=readiness.error).model_dump(), status_code=503)
        if not readiness.ready.is_set():
            return JSONResponse(Health(status="starting").model_dump(), status_code=503)
        if auth is not None and not getattr(request.state, "authenticated", False):
            return Health(status="ok")
        return Health(status="ok", documents=len(assistant.documents()))

    # Added innermost first: headers on every answer, then origin, then credentials, then body caps.
    if with_page:
        _mount_page(app, service, running)
    app.add_middleware(BodyLimit, limit_for=body_limit_for(service.settings))
    if auth is not None:
        app.add_middleware(BasicAuthMiddleware, credentials=auth)
    app.add_middleware(SameOriginGuard)
    if trusted_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=trusted_hosts)
    app.add_middleware(SecurityHeaders)
    return app


def _add_openapi_components(app: FastAPI) -> None:
    """Named schemas for bodies the routes read by hand (the upload), so generated clients get models."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(OPENAPI_COMPONENTS)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _mount_page(
    app: FastAPI, service: ChatService, running: list[Callable[[], AbstractAsyncContextManager[None]]]
) -> None:
    """The page at "/", its guards, and its temporary files' upkeep while the server runs."""
    import gradio as gr
    from gradio.utils import get_upload_folder

    from cecot_rag.server.assets import PAGE_CSS, PAGE_HEAD, PAGE_THEME
    from cecot_rag.server.page import ChatPage
    from cecot_rag.server.page_guards import PagePaths, PlainPageErrors

    page = ChatPage(service)
    blocks = page.build()
    # The page is mounted last: /api/v1, /healthz and /openapi.json above take precedence over "/".
    gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        footer_links=[],
        run_history=False,
        max_file_size=service.settings.max_upload_bytes,
        # Only our gr.Error sentences reach clients; any other exception's text (paths, the
        # working directory) stays in the log.
        show_error=False,
        ssr_mode=False,
        mcp_server=False,
        theme=PAGE_THEME,
        css=PAGE_CSS,
        head=PAGE_HEAD,
    )
    # launch() sets has_launched; mounting does not, and without it Gradio skips its check that a
    # FileData path sent to an event was uploaded by a user (any server file could be ingested).
    blocks.has_launched = True
    app.add_middleware(PlainPageErrors)
    app.add_middleware(PagePaths, folder=Path(get_upload_folder()))
    running.append(lambda: page.files.kept_tidy(service.settings.upload_expiry_minutes))


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

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own 422, but ASCII-escaped: an echoed lone surrogate cannot be UTF-8 encoded.
        body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True)
        return Response(body, status_code=422, media_type="application/json")

    @app.exception_handler(BodyTooLarge)
    async def too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        # BodyLimit answers 413 itself; this keeps the cut-off body out of the error log.
        return message(413, "the request body is larger than the limit")

    @app.exception_handler(IndexBusy)
    async def busy(_: Request, exc: IndexBusy) -> JSONResponse:
        return message(503, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Logged in full for the operator; the client gets one line and no traceback.
        log.exception("unhandled error")
        return message(500, "internal error; the server log says more")
