"""Follow-up questions: when a question depends on the conversation, what text to retrieve with."""

from __future__ import annotations

import re
from collections.abc import Sequence

_FOLLOW_UP = re.compile(
    r"^\s*(and|but|also|what about|how about|and what|same|then)\b|\b(it|its|they|them|their|"
    r"he|she|his|her|there|that|this|those|these)\b",
    re.IGNORECASE,
)


def retrieval_query(question: str, history: Sequence[dict[str, str]] | None) -> str:
    """The text to retrieve with: a short or pronoun-led follow-up is joined to the previous question."""
    previous = [t.get("content", "") for t in history or [] if t.get("role") == "user"]
    if previous and (len(question.split()) <= 6 or _FOLLOW_UP.search(question)):
        return f"{previous[-1]} {question}"
    return question
