"""How answers and sources look on the page and in exports: every document-derived string escaped.

Pure functions from an Answer to Markdown or HTML, so the page never re-parses answer text and the
escaping can be tested without a browser. Nothing a document says can become markup, a link or an
image: HTML is escaped, Markdown punctuation is backslash-escaped, only our own [n] links remain.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

from cecot_rag.models import Answer, Citation, DocumentInfo, Passage

_MARKER = re.compile(r"\\\[(\d{1,3})\\\]")
_MARKDOWN_SPECIAL = frozenset(string.punctuation)
# Enough for a file people read raw: no tag, link, image, emphasis, heading or table can form.
_MARKDOWN_STRUCTURAL = frozenset("\\`*_[]<>!#|~$&")


def escape_markdown(text: str, *, readable: bool = False) -> str:
    """Text that renders literally, by backslash-escaping punctuation (CommonMark).

    For the page every ASCII punctuation mark is escaped, which also defeats autolinks
    (`http\\:`) and LaTeX; `readable` escapes only what builds markup, for exported files.
    """
    special = _MARKDOWN_STRUCTURAL if readable else _MARKDOWN_SPECIAL
    return "".join(f"\\{char}" if char in special else char for char in text)


def escape_html(text: str) -> str:
    # `$` too: Gradio's HTML component interpolates ${...} templates.
    return html.escape(text, quote=True).replace("$", "&#36;")


def source_anchor(number: int) -> str:
    return f"source-{number}"


def answer_markdown(text: str, citations: Sequence[Citation] = ()) -> str:
    """The answer for the chat: literal text whose [n] markers link to the sources panel."""
    known = {c.number for c in citations}

    def link(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if number not in known:
            return match.group(0)
        return f"[\\[{number}\\]](#{source_anchor(number)})"

    return _MARKER.sub(link, escape_markdown(text))


def source_label(source: str) -> str:
    """A file's name, or the URL as given (shown as text, never fetched)."""
    if urlparse(source).scheme in ("http", "https"):
        return source
    return Path(source).name or source


def relevance(passage: Passage) -> float:
    return passage.similarity if passage.similarity is not None else passage.score


def _source_html(source: str) -> str:
    label = escape_html(source_label(source))
    if urlparse(source).scheme in ("http", "https"):
        # A plain link the user may follow; rel keeps the referrer and opener out of it.
        attributes = 'target="_blank" rel="noopener noreferrer nofollow"'
        return f'<a href="{escape_html(source)}" {attributes}>{label}</a>'
    return f"<code>{label}</code>"


def _meta_html(passage: Passage) -> str:
    page = f" · page {passage.page}" if passage.page else ""
    return (
        f'<div class="cite-meta"><strong>{escape_html(passage.title)}</strong>{page}'
        f" · {_source_html(passage.source)} · relevance {relevance(passage):.2f}</div>"
    )


def marked_passage_html(passage: Passage, quote_start: int, quote_end: int) -> str:
    text = passage.text
    return (
        escape_html(text[:quote_start])
        + "<mark>"
        + escape_html(text[quote_start:quote_end])
        + "</mark>"
        + escape_html(text[quote_end:])
    )


def sources_html(answer: Answer | None) -> str:
    """The sources panel for one answer: cited passages with the quote marked, then the others."""
    if answer is None:
        return '<div class="sources-empty">Sources of the latest answer appear here.</div>'
    parts: list[str] = []
    if answer.notice:
        parts.append(f'<div class="notice">Note: {escape_html(answer.notice)}</div>')
    if not answer.answered:
        parts.append(
            '<div class="abstained">No answer: the documents do not say. '
            "The closest passages are listed below.</div>"
        )
    for citation in answer.citations:
        passage = citation.passage
        parts.append(
            f'<div class="citation" id="{source_anchor(citation.number)}">'
            f'<div class="cite-number">[{citation.number}]</div>{_meta_html(passage)}'
            f'<div class="cite-text">{marked_passage_html(passage, citation.quote_start, citation.quote_end)}'
            "</div></div>"
        )
    if answer.dropped:
        items = "".join(
            f"<li>{escape_html(d.text)} <em>({escape_html(d.reason)})</em></li>" for d in answer.dropped
        )
        parts.append(
            '<details class="dropped"><summary>Sentences removed because their sources did not support '
            f"them ({len(answer.dropped)})</summary><ul>{items}</ul></details>"
        )
    cited = {c.passage.id for c in answer.citations}
    others = [p for p in answer.passages if p.id not in cited]
    if others:
        heading = "Closest passages" if not answer.answered else "Also retrieved, not cited"
        rows = "".join(
            f'<div class="retrieved">{_meta_html(p)}<div class="cite-text">{escape_html(p.text)}</div></div>'
            for p in others
        )
        opened = " open" if not answer.answered else ""
        summary = f"<summary>{heading} ({len(others)})</summary>"
        parts.append(f'<details class="uncited"{opened}>{summary}{rows}</details>')
    if not parts:
        parts.append('<div class="sources-empty">No passages were retrieved.</div>')
    return '<div class="sources">' + "".join(parts) + "</div>"


def conversation_markdown(answers: Sequence[Answer]) -> str:
    """The conversation as a Markdown file: each question, its answer, and its sources."""
    lines = ["# cecot-rag conversation", ""]
    for answer in answers:
        lines += [
            f"## {escape_markdown(answer.question, readable=True)}",
            "",
            escape_markdown(answer.text, readable=True),
            "",
        ]
        if answer.notice:
            lines += [f"*Note: {escape_markdown(answer.notice, readable=True)}*", ""]
        if answer.citations:
            lines += ["Sources:", ""]
            for citation in answer.citations:
                passage = citation.passage
                page = f", page {passage.page}" if passage.page else ""
                lines.append(
                    f"- \\[{citation.number}\\] {escape_markdown(passage.title, readable=True)}{page} "
                    f"({escape_markdown(source_label(passage.source), readable=True)}): "
                    f"“{escape_markdown(citation.quote, readable=True)}”"
                )
            lines.append("")
    return "\n".join(lines)


def document_rows(documents: Sequence[DocumentInfo]) -> list[list[str | int]]:
    """Rows of the documents table (a Dataframe shows them as text, never as HTML)."""
    return [[d.title, source_label(d.source), d.passages, d.ingested_at, d.document_id] for d in documents]
