"""cecot-rag: answers about CECOT and security policy in Latin America, with checkable citations."""

from importlib.metadata import PackageNotFoundError, version

from cecot_rag.assistant import Assistant, DocumentNotFound, InvalidQuestion
from cecot_rag.models import Answer, Citation, DocumentInfo, IngestReport, Passage
from cecot_rag.settings import Settings  # its import sets the offline and no-telemetry defaults

try:
    # One source of truth: the version in pyproject.toml, as installed.
    __version__ = version("cecot-rag")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

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
    "__version__",
]
