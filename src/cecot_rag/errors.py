"""Exit codes and the errors every front end (CLI, evaluation, benchmark) reports the same way."""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments: one line on stderr and exit status 2."""


class MissingExtra(UsageError):
    """A command needs packages of an optional extra that is not installed."""

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(f"{what} needs the '{extra}' extra: pip install 'cecot-rag[{extra}]'")
        self.extra = extra


class LLMError(RuntimeError):
    """The language model could not give an answer; the message is meant for users."""


class GeneratorUnavailable(ValueError):
    """A generator was asked for that this configuration cannot provide."""
