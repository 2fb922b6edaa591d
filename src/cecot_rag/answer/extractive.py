"""The default answerer: quotes the sentences the answer path chose, each followed by its [n].

No language model: each answer sentence is a verbatim sentence of a passage, so a citation can
never point at a passage that does not say it. What to quote and whether to answer at all were
decided by the answer path (answer/path.py); this only renders that decision.
"""

from __future__ import annotations

from collections.abc import Iterator

from cecot_rag.answer.base import abstention, number_citations
from cecot_rag.answer.path import Found
from cecot_rag.models import Answer


class ExtractiveAnswerer:
    name = "extractive"

    def answer(self, found: Found) -> Answer:
        if not found.answered:
            return abstention(found.question, found.passages, self.name, found.decision)
        numbers, citations = number_citations([c.evidence for c in found.chosen])
        text = " ".join(f"{c.text} [{n}]" for c, n in zip(found.chosen, numbers, strict=True))
        return Answer(
            question=found.question.text,
            text=text,
            answered=True,
            citations=citations,
            passages=found.passages,
            generator=self.name,
            decision=found.decision,
        )

    def stream(self, found: Found) -> Iterator[str | Answer]:
        answer = self.answer(found)
        yield answer.text
        yield answer
