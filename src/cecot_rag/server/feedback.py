"""The feedback log: one JSON line per rating (thumbs up or down on the page) in index_dir."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from cecot_rag.models import Answer
from cecot_rag.settings import Settings

FEEDBACK_FILE = "feedback.jsonl"


class FeedbackLog:
    """Appends ratings to index_dir/feedback.jsonl, one writer at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.settings.index_dir / FEEDBACK_FILE

    def record(self, answer: Answer, rating: str) -> None:
        """Append one JSON line: the question, the answer, its citations, the rating and when."""
        entry = {
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "rating": rating,
            "question": answer.question,
            "answer": answer.text,
            "answered": answer.answered,
            "generator": answer.generator,
            "citations": [
                {
                    "number": c.number,
                    "document_id": c.passage.document_id,
                    "passage_id": c.passage.id,
                    "title": c.passage.title,
                    "quote": c.quote,
                }
                for c in answer.citations
            ],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as log_file:
            log_file.write(json.dumps(entry, ensure_ascii=False) + "\n")
