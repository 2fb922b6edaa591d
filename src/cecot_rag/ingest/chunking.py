"""Sentence-aware chunking: passages that never cut a sentence and fit the embedding model."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cecot_rag.text import Span, is_heading, sentence_spans

TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int
    text: str


def chunk_text(
    text: str,
    count_tokens: TokenCounter,
    max_tokens: int,
    regions: Sequence[tuple[int, int]] | None = None,
) -> list[Chunk]:
    """Group whole sentences into chunks of at most max_tokens word pieces.

    A chunk never crosses a region boundary (a PDF page). Only a single sentence longer than
    max_tokens is split, at word boundaries, so no text is lost and nothing is silently truncated.
    A heading (a title line, text.is_heading) never ends a chunk that has other text: when the
    next sentence does not fit, the heading moves to open the next chunk, the passage it titles.
    Chunk boundaries stay where the size limit puts them otherwise.
    """
    regions = regions or [(0, len(text))]
    pieces: list[Span] = []
    for start, end in regions:
        pieces.extend(sentence_spans(text, start, end))
        pieces.append(Span(-1, -1))  # region boundary
    counts = count_tokens([text[p.start : p.end] for p in pieces if p.start >= 0])
    chunks: list[Chunk] = []
    current: list[tuple[Span, int]] = []  # (sentence, its word pieces)
    used = 0
    count_iter = iter(counts)

    def flush(carry_heading: bool = False) -> None:
        nonlocal current, used
        carried: list[tuple[Span, int]] = []
        if carry_heading and len(current) > 1 and _is_heading_line(text, current[-1][0]):
            carried = [current.pop()]
        if current:
            start, end = current[0][0].start, current[-1][0].end
            chunks.append(Chunk(start, end, text[start:end]))
        current, used = carried, sum(t for _, t in carried)

    for piece in pieces:
        if piece.start < 0:
            flush()
            continue
        tokens = next(count_iter)
        if tokens > max_tokens:
            flush()
            for part in _split_long(text, piece, count_tokens, max_tokens):
                chunks.append(Chunk(part.start, part.end, text[part.start : part.end]))
            continue
        # Joining sentences adds no word pieces of its own (whitespace is not a token).
        if used + tokens > max_tokens:
            flush(carry_heading=True)
            if used + tokens > max_tokens:  # the carried heading and this sentence do not fit
                flush()
        current.append((piece, tokens))
        used += tokens
    flush()
    return chunks


def _is_heading_line(text: str, span: Span) -> bool:
    """A title on a line of its own (sentence_spans never joins lines, so a span is within one)."""
    line_start = text.rfind("\n", 0, span.start) + 1
    line_end = text.find("\n", span.end)
    line_end = len(text) if line_end < 0 else line_end
    whole_line = not text[line_start : span.start].strip() and not text[span.end : line_end].strip()
    return whole_line and is_heading(text[span.start : span.end])


def _split_long(text: str, span: Span, count_tokens: TokenCounter, max_tokens: int) -> list[Span]:
    """Split one over-long sentence at word boundaries into spans that fit."""
    words: list[tuple[int, int]] = []
    for match in re.finditer(r"\S+", text[span.start : span.end]):
        a, b = match.span()
        # A "word" can itself exceed the limit (a URL, a long run without spaces): cut it into
        # pieces of max_tokens // 2 characters; a character is at most one word piece.
        step = max(1, max_tokens // 2)
        words.extend((i, min(i + step, b)) for i in range(a, b, step))
    counts = count_tokens([text[span.start + a : span.start + b] for a, b in words])
    parts: list[Span] = []
    first = 0
    used = 0
    for i, tokens in enumerate(counts):
        if used and used + tokens > max_tokens:
            parts.append(Span(span.start + words[first][0], span.start + words[i - 1][1]))
            first, used = i, 0
        used += tokens
    parts.append(Span(span.start + words[first][0], span.start + words[-1][1]))
    return parts
