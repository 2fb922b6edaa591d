"""cecot-rag: answers about CECOT and security policy in Latin America, with checkable citations.

The public names load on first use (PEP 562), so `cecot-rag serve` can say it is starting before
the seconds its imports take; cecot_rag.offline sets the offline and no-telemetry defaults first.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from cecot_rag import offline  # noqa: F401  (before anything that reads those variables)

if TYPE_CHECKING:
    from cecot_rag.assistant import Assistant, DocumentNotFound, InvalidQuestion
    from cecot_rag.models import Answer, Citation, DocumentInfo, IngestReport, Passage
    from cecot_rag.settings import Settings

_HOMES = {
    "Assistant": "cecot_rag.assistant",
    "DocumentNotFound": "cecot_rag.assistant",
    "InvalidQuestion": "cecot_rag.assistant",
    "Answer": "cecot_rag.models",
    "Citation": "cecot_rag.models",
    "DocumentInfo": "cecot_rag.models",
    "IngestReport": "cecot_rag.models",
    "Passage": "cecot_rag.models",
    "Settings": "cecot_rag.settings",
}


def _version() -> str:
    """One source of truth: the version in pyproject.toml, as installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cecot-rag")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":  # looked up on first use too: reading the installed metadata takes time
        globals()[name] = _version()
        return globals()[name]
    if name not in _HOMES:
        raise AttributeError(f"module 'cecot_rag' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


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
