"""The REST API under /api/v1: ask, list, add and delete documents. Typed models, JSON errors."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile

from cecot_rag.assistant import validate_question
from cecot_rag.models import Answer, DocumentInfo, IngestReport
from cecot_rag.server.rejected import Rejected
from cecot_rag.server.service import ChatService
from cecot_rag.server.uploads import UPLOAD_SUFFIXES


class ErrorMessage(BaseModel):
    detail: str = Field(description="What was wrong with the request, in one sentence.")


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class AskRequest(BaseModel):
    question: str = Field(description="Checked like everywhere: not empty, not too long, no control chars.")
    history: list[Turn] | None = Field(
        default=None, max_length=50, description="Earlier turns; a follow-up is retrieved with them."
    )
    top_k: int | None = Field(default=None, ge=1, le=50)
    generator: str | None = Field(default=None, description="One of /api/v1/generators; default if absent.")


class UrlRequest(BaseModel):
    url: str = Field(min_length=1, max_length=2000, description="An http(s) URL to fetch and ingest.")


class Deleted(BaseModel):
    deleted: str


class Generators(BaseModel):
    generators: list[str]
    default: str


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Bad request (e.g. an empty or over-long question)",
        401: "Credentials required (server started with --auth)",
        404: "No such document",
        413: "File over the upload size limit",
        415: "Unsupported file type",
        422: "Invalid body, or a document that could not be ingested",
        503: "The index is not ready yet, or the server is at its limit of questions (page and REST)",
    }
    return {code: {"model": ErrorMessage, "description": descriptions[code]} for code in codes}


def service_of(request: Request) -> ChatService:
    return request.app.state.service


Service = Annotated[ChatService, Depends(service_of)]

router = APIRouter(prefix="/api/v1", tags=["cecot-rag"], responses=_errors(401))


# 422 is FastAPI's own HTTPValidationError here (a list of problems), so it is not overridden.
@router.post("/ask", response_model=Answer, responses=_errors(400, 503))
async def ask(body: AskRequest, service: Service) -> Answer:
    """Answer a question from the documents, with numbered citations of verbatim quotes."""
    settings = service.settings
    question = validate_question(body.question, settings.max_question_chars)
    if body.generator is not None and body.generator not in service.assistant.generators():
        available = ", ".join(service.assistant.generators())
        raise Rejected(400, f"unknown generator {body.generator!r}; available: {available}")
    service.readiness.require_ready()
    # The budget the page shares: a bounded line, then a quick 503, better than requests that time out.
    if not await service.asks.take():
        raise Rejected(503, service.asks.busy)
    try:
        history = [t.model_dump() for t in body.history or []]
        answer = await run_in_threadpool(service.assistant.ask, question, history, body.top_k, body.generator)
        return service.sources.answer(answer)
    finally:
        service.asks.give_back()


@router.get("/generators", response_model=Generators)
def generators(service: Service) -> Generators:
    """The answer generators this server can use; the default first."""
    names = service.assistant.generators()
    return Generators(generators=names, default=names[0])


@router.get("/documents", response_model=list[DocumentInfo], responses=_errors(503))
def list_documents(service: Service) -> list[DocumentInfo]:
    """Every document in the index."""
    service.readiness.require_ready()
    return service.sources.documents(service.assistant.documents())


# The upload body is read by hand (multipart or JSON), so its schemas are added as named
# components (server.app adds OPENAPI_COMPONENTS): generated clients get importable models.
OPENAPI_COMPONENTS: dict[str, Any] = {
    "DocumentUpload": {
        "title": "DocumentUpload",
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "description": f"One of {', '.join(UPLOAD_SUFFIXES)}",
            }
        },
    },
    "UrlRequest": UrlRequest.model_json_schema(),
}
_ADD_DOCUMENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"$ref": "#/components/schemas/DocumentUpload"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/UrlRequest"}},
        },
    }
}


@router.post(
    "/documents",
    response_model=IngestReport,
    responses=_errors(400, 413, 415, 422, 503),
    openapi_extra=_ADD_DOCUMENT_BODY,
)
async def add_document(request: Request, service: Service) -> IngestReport:
    """Ingest an uploaded file (multipart field `file`) or a URL (JSON `{"url": ...}`)."""
    service.readiness.require_ready()
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        return await _add_upload(request, service)
    if content_type.startswith("application/json"):
        try:
            body = UrlRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "body"
            expected = '(expected {"url": "https://..."})'
            raise Rejected(422, f"{where}: {problem['msg']} {expected}") from None
        return service.sources.report(await run_in_threadpool(service.urls.ingest, body.url))
    raise Rejected(
        415, "send multipart/form-data with a `file` field, or application/json with a `url` field"
    )


async def _add_upload(request: Request, service: ChatService) -> IngestReport:
    # The body's size was capped before this reads it (server.guards.BodyLimit).
    form = await request.form(max_files=1, max_fields=5)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Rejected(400, "the multipart body has no `file` field with a file in it")
        _, report = await run_in_threadpool(service.uploads.add, upload.filename or "", upload.file)
        return service.sources.report(report)
    finally:
        await form.close()


@router.delete("/documents/{document_id}", response_model=Deleted, responses=_errors(404, 503))
def delete_document(document_id: str, service: Service) -> Deleted:
    """Remove a document and all its passages from the index."""
    service.readiness.require_ready()
    service.delete_document(document_id)
    return Deleted(deleted=document_id)
