"""What the page and the REST API share, one part per responsibility, behind one object.

Routers and the Gradio page stay thin; both call the parts of this service, which call the
Assistant: readiness (server.readiness), the ask budget (server.asks), uploads and their names
(server.uploads), URL additions (server.urls), sources as clients see them (server.sources) and
the feedback log (server.feedback). Deleting a document is here, as it spans the index and uploads.
"""

from __future__ import annotations

from cecot_rag.assistant import Assistant
from cecot_rag.server.asks import AskBudget
from cecot_rag.server.feedback import FeedbackLog
from cecot_rag.server.readiness import Readiness
from cecot_rag.server.sources import PublicSources
from cecot_rag.server.uploads import Uploads
from cecot_rag.server.urls import UrlIngest


class ChatService:
    """One Assistant behind the page and the API, plus what serving needs around it."""

    def __init__(self, assistant: Assistant, max_concurrent_asks: int | None = None) -> None:
        self.assistant = assistant
        self.settings = assistant.settings
        self.sources = PublicSources(self.settings)
        self.readiness = Readiness(assistant, self.sources.source)
        self.asks = AskBudget(self.settings, max_concurrent_asks)
        self.uploads = Uploads(assistant)
        self.urls = UrlIngest(assistant)
        self.feedback = FeedbackLog(self.settings)

    def delete_document(self, document_id: str) -> None:
        """Delete from the index (DocumentNotFound for an unknown id), then its uploaded file, if any."""
        source = next((d.source for d in self.assistant.documents() if d.document_id == document_id), None)
        self.assistant.delete(document_id)
        if source:
            self.uploads.remove(source)
