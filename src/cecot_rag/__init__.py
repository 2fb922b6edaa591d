"""cecot-rag: answers about CECOT and security policy in Latin America, with checkable citations."""

from cecot_rag.assistant import Assistant, DocumentNotFound, InvalidQuestion
from cecot_rag.models import Answer, Citation, DocumentInfo, IngestReport, Passage
from cecot_rag.settings import Settings  # first: sets the offline and no-telemetry defaults

__all__ = [
    "Answer",
    "Assistant",
    "Citation",
    "DocumentInfo",
    "DocumentNotFound",
    "IngestReport",
    "InvalidQuestion",
    "Passage",
    "Settings",
]
__version__ = "0.1.0"
