"""The catalog: every committed passage by id, held as plain tuples in memory."""

from __future__ import annotations

from collections.abc import Iterable

from cecot_rag.models import Passage

# (document_id, title, source, page, start_char, end_char, text)
Row = tuple[str, str, str, int | None, int, int, str]


class Catalog:
    """The committed passages by id, kept as plain tuples; a Passage is built when one is asked
    for. Unpickling 100k pydantic Passages (an earlier snapshot format) took ~1 s of every cold
    start; tuples took a tenth."""

    def __init__(self, rows: Iterable[tuple[str, Row]] = ()) -> None:
        self._rows: dict[str, Row] = dict(rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, passage_id: object) -> bool:
        return passage_id in self._rows

    def items(self) -> Iterable[tuple[str, Row]]:
        """(passage id, row) of every passage, in the order they were added."""
        return self._rows.items()

    def add(self, p: Passage) -> None:
        self._rows[p.id] = (p.document_id, p.title, p.source, p.page, p.start_char, p.end_char, p.text)

    def pop(self, passage_id: str) -> None:
        self._rows.pop(passage_id, None)

    def get(self, passage_id: str) -> Passage | None:
        row = self._rows.get(passage_id)
        if row is None:
            return None
        document_id, title, source, page, start, end, text = row
        return Passage(
            id=passage_id,
            document_id=document_id,
            title=title,
            source=source,
            page=page,
            start_char=start,
            end_char=end,
            text=text,
        )
