"""Sentence-aware chunking: passages that never cut a sentence and fit the embedding model."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cecot_rag.text import Span, sentence_spans

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
    """
    regions = regions or [(0, len(text))]
    pieces: list[Span] = []
    for start, end in regions:
        pieces.extend(sentence_spans(text, start, end))
        pieces.append(Span(-1, -1))  # region boundary
    counts = count_tokens([text[p.start : p.end] for p in pieces if p.start >= 0])
    chunks: list[Chunk] = []
    current: list[Span] = []
    used = 0
    count_iter = iter(counts)

    def flush() -> None:
        nonlocal current, used
        if current:
            start, end = current[0].start, current[-1].end
            chunks.append(Chunk(start, end, text[start:end]))
        current, used = [], 0

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
            flush()
        current.append(piece)
        used += tokens
    flush()
    return chunks


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
