"""Rejected: a request the server refuses, with the HTTP status and one sentence for the user.

REST answers it as `{"detail": message}` with the status; the page shows the message as it is.
"""

from __future__ import annotations


class Rejected(Exception):
    """A request the server refuses, with the HTTP status and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
