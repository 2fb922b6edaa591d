"""How answers and sources look on the page and in exports: every document-derived string escaped.

Pure functions from an Answer to Markdown or HTML, so the page never re-parses answer text and the
escaping can be tested without a browser. Nothing a document says can become markup, a link or an
image: HTML is escaped, Markdown punctuation is backslash-escaped, only our own [n] links remain.
Each answer of a conversation has its own numbered anchors (`source-<answer>-<n>`), so an [n] in an
old answer still opens that answer's passage. Sources arrive as clients see them (server.sources).
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlparse

from cecot_rag.answer.texts import text_for_question
from cecot_rag.language import ENGLISH, SPANISH, detect_language
from cecot_rag.models import Answer, Citation, Decision, DocumentInfo, Passage

_MARKER = re.compile(r"\\\[(\d{1,3})\\\]")
# An exported file shows [n] plainly, except before "(" or ":" (a link, or a link definition).
_EXPORTED_MARKER = re.compile(r"\\\[(\d{1,3})\\\](?![(:])")
_MARKDOWN_SPECIAL = frozenset(string.punctuation)
# Enough for a file people read raw: no tag, link, image, emphasis, heading or table can form.
_MARKDOWN_STRUCTURAL = frozenset("\\`*_[]<>!#|~$&")
# Markdown syntax a passage may carry from its source file: shown as structure, never as raw marks.
_HEADING = re.compile(r"^(#{1,6})[ \t]+", re.MULTILINE)
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
# Next to every quote: whose document it is. An upload is anyone's text, so it says so.
SOURCE_KINDS = {
    "upload": "uploaded by a user",
    "document": "bundled document",
    "url": "web page added by URL",
}
LANGUAGE_NAMES = {ENGLISH: "English", SPANISH: "Spanish"}
# Decision.strength in words; the score and threshold go in the hover text.
EVIDENCE_WORDS = {
    "strong": "Evidence: strong",
    "enough": "Evidence: enough",
    "weak": "Evidence: weak (no answer)",
}


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


def source_anchor(number: int, turn: int | None = None) -> str:
    """The id of citation `number`; `turn` (1-based answer in a conversation) keeps ids unique."""
    return f"source-{number}" if turn is None else f"source-{turn}-{number}"


def answer_markdown(text: str, citations: Sequence[Citation] = (), turn: int | None = None) -> str:
    """The answer for the chat: literal text whose [n] markers link to that answer's sources."""
    known = {c.number for c in citations}

    def link(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if number not in known:
            return match.group(0)
        return f"[\\[{number}\\]](#{source_anchor(number, turn)})"

    return _MARKER.sub(link, escape_markdown(text))


def evidence_hover(decision: Decision) -> str:
    """The numbers behind the words: the best sentence's score and the threshold it had to reach."""
    return (
        f"evidence score {decision.score:.2f}; an answer needs {decision.threshold:.2f} "
        f"({decision.scorer or decision.stage}). Strong: 0.50 or more, the quoted sentence is more "
        "likely an answer than not."
    )


def evidence_html(decision: Decision | None) -> str:
    """The answer's evidence in words, the numbers on hover; nothing for an answer without a decision."""
    if decision is None:
        return ""
    strength = decision.strength
    return (
        f'<span class="evidence {strength}" title="{escape_html(evidence_hover(decision))}">'
        f"{EVIDENCE_WORDS[strength]}</span>"
    )


def relevance(passage: Passage) -> float:
    """The order of passages not cited: cosine similarity to the question (fused score without it).
    Not shown: it is not calibrated, and a right passage may score 0.2."""
    return passage.similarity if passage.similarity is not None else passage.score


def passage_language(passage: Passage) -> str | None:
    """The language a passage is written in, by its own text (a document may mix languages)."""
    language = detect_language(passage.text)
    return LANGUAGE_NAMES.get(language) if language else None


def _source_html(source: str) -> str:
    label = escape_html(source)
    if urlparse(source).scheme in ("http", "https"):
        # A plain link the user may follow; rel keeps the referrer and opener out of it.
        attributes = 'target="_blank" rel="noopener noreferrer nofollow"'
        return f'<a href="{escape_html(source)}" {attributes}>{label}</a>'
    return f"<code>{label}</code>"


def _meta_html(passage: Passage) -> str:
    page = f" · page {passage.page}" if passage.page else ""
    kind = passage.source_kind
    label = f' · <span class="source-kind {kind}">{SOURCE_KINDS[kind]}</span>' if kind else ""
    language = passage_language(passage)
    written = f' · <span class="language">{language}</span>' if language else ""
    return (
        f'<div class="cite-meta"><strong>{escape_html(passage.title)}</strong>{page}'
        f" · {_source_html(passage.source)}{label}{written}</div>"
    )


def _hidden_markup(text: str) -> tuple[set[int], set[int]]:
    """Offsets of Markdown marks to leave out (`## `, `**`), and offsets inside heading lines."""
    hidden: set[int] = set()
    heading: set[int] = set()
    for match in _HEADING.finditer(text):
        hidden.update(range(match.start(), match.end()))
        line_end = text.find("\n", match.end())
        heading.update(range(match.end(), len(text) if line_end < 0 else line_end))
    for match in _STRONG.finditer(text):
        marks = len(match.group(1))
        hidden.update(range(match.start(), match.start() + marks))
        hidden.update(range(match.end() - marks, match.end()))
    return hidden, heading


def passage_html(text: str, quotes: Sequence[tuple[int, int]] = ()) -> str:
    """A passage as escaped HTML: quoted ranges in <mark>, Markdown headings as headings, not `#`."""
    hidden, heading = _hidden_markup(text)
    quoted = set().union(*(range(start, end) for start, end in quotes))
    runs: list[tuple[bool, bool, str]] = []
    for offset, char in enumerate(text):
        if offset in hidden:
            continue
        key = (offset in heading, offset in quoted)
        if runs and runs[-1][:2] == key:
            runs[-1] = (*key, runs[-1][2] + char)
        else:
            runs.append((*key, char))
    parts = []
    for is_heading, is_quoted, chunk in runs:
        piece = escape_html(chunk)
        if is_quoted:
            piece = f"<mark>{piece}</mark>"
        if is_heading:
            piece = f'<strong class="passage-heading">{piece}</strong>'
        parts.append(piece)
    return "".join(parts)


def _cited_cards(answer: Answer, turn: int | None) -> list[str]:
    """One card per cited passage (in order of first citation), with every quote in it marked."""
    by_passage: dict[str, list[Citation]] = {}
    for citation in answer.citations:
        by_passage.setdefault(citation.passage.id, []).append(citation)
    cards = []
    for citations in by_passage.values():
        passage = citations[0].passage
        numbers = "".join(f"[{c.number}]" for c in citations)
        anchors = "".join(
            f'<span class="cite-anchor" id="{source_anchor(c.number, turn)}"></span>' for c in citations
        )
        text = passage_html(passage.text, [(c.quote_start, c.quote_end) for c in citations])
        cards.append(
            f'<div class="citation">{anchors}<div class="cite-number">{numbers}</div>'
            f'{_meta_html(passage)}<div class="cite-text">{text}</div></div>'
        )
    return cards


def sources_html(answer: Answer | None, turn: int | None = None, *, shown: bool = True) -> str:
    """One answer's sources: cited passages with their quotes marked, then the others by relevance.

    `turn` numbers the answer in its conversation (unique anchors); `shown` False renders it hidden
    (the page shows one answer's sources at a time, the one whose [n] was clicked last).
    """
    if answer is None:
        return '<div class="sources-empty">Sources of the latest answer appear here.</div>'
    parts: list[str] = []
    if turn is not None:
        question = escape_html(answer.question[:160])
        parts.append(f'<div class="sources-for">Sources of answer {turn}: “{question}”</div>')
    if answer.decision is not None:
        parts.append(f'<div class="evidence-line">{evidence_html(answer.decision)}</div>')
    if answer.notice:
        parts.append(f'<div class="notice">Note: {escape_html(answer.notice)}</div>')
    if not answer.answered:
        no_answer = escape_html(text_for_question("no_answer", answer.question))
        parts.append(f'<div class="abstained">{no_answer}</div>')
    parts += _cited_cards(answer, turn)
    if answer.dropped:
        items = "".join(
            f"<li>{escape_html(d.text)} <em>({escape_html(d.reason)})</em></li>" for d in answer.dropped
        )
        parts.append(
            '<details class="dropped"><summary>Sentences removed because their sources did not support '
            f"them ({len(answer.dropped)})</summary><ul>{items}</ul></details>"
        )
    cited = {c.passage.id for c in answer.citations}
    others = sorted((p for p in answer.passages if p.id not in cited), key=relevance, reverse=True)
    if others:
        heading = "Closest passages" if not answer.answered else "Also retrieved, not cited"
        rows = "".join(
            f'<div class="retrieved">{_meta_html(p)}<div class="cite-text">{passage_html(p.text)}</div></div>'
            for p in others
        )
        opened = " open" if not answer.answered else ""
        summary = f"<summary>{heading} ({len(others)}), closest to the question first</summary>"
        parts.append(f'<details class="uncited"{opened}>{summary}{rows}</details>')
    if not answer.citations and not others:
        parts.append('<div class="sources-empty">No passages were retrieved.</div>')
    attributes = "" if turn is None else f' data-answer="{turn}"'
    hidden = "" if shown else " hidden"
    return f'<div class="sources"{attributes}{hidden}>' + "".join(parts) + "</div>"


def conversation_sources_html(answers: Sequence[Answer]) -> str:
    """The sources panel: every answer's sources, the latest shown; an [n] click shows its answer's."""
    if not answers:
        return sources_html(None)
    last = len(answers)
    return "".join(sources_html(a, turn, shown=turn == last) for turn, a in enumerate(answers, start=1))


def conversation_markdown(answers: Sequence[Answer]) -> str:
    """The conversation as a Markdown file: each question, its answer, and its sources."""
    lines = ["# cecot-rag conversation", ""]
    for answer in answers:
        lines += [
            f"## {escape_markdown(answer.question, readable=True)}",
            "",
            _EXPORTED_MARKER.sub(r"[\1]", escape_markdown(answer.text, readable=True)),
            "",
        ]
        if answer.decision is not None:
            decision = answer.decision
            lines += [f"*{EVIDENCE_WORDS[decision.strength]} ({evidence_hover(decision)})*", ""]
        if answer.notice:
            lines += [f"*Note: {escape_markdown(answer.notice, readable=True)}*", ""]
        if answer.citations:
            lines += ["Sources:", ""]
            for citation in answer.citations:
                passage = citation.passage
                page = f", page {passage.page}" if passage.page else ""
                kind = f", {SOURCE_KINDS[passage.source_kind]}" if passage.source_kind else ""
                lines.append(
                    f"- [{citation.number}] {escape_markdown(passage.title, readable=True)}{page} "
                    f"({escape_markdown(passage.source, readable=True)}{kind}): "
                    f"“{escape_markdown(citation.quote, readable=True)}”"
                )
            lines.append("")
    return "\n".join(lines)


def readable_time(iso: str) -> str:
    """`2026-12-02T17:31:16+00:00` as `2 Dec 2026, 17:31 UTC` (the text as given if it is not ISO)."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    zone = moment.tzname() or ""
    zone = "UTC" if zone in ("UTC", "UTC+00:00") else zone
    return f"{moment.day} {moment:%b %Y, %H:%M} {zone}".rstrip()


def documents_html(documents: Sequence[DocumentInfo]) -> str:
    """The documents table: titles wrap, numbers and dates do not; narrow screens scroll it."""
    if not documents:
        return '<div class="documents-empty">No documents yet: upload files or add a URL below.</div>'
    head = (
        '<tr><th class="doc-title">Title</th><th class="doc-source">Source</th>'
        '<th class="doc-passages">Passages</th><th class="doc-time">Ingested</th>'
        '<th class="doc-id">Document id</th></tr>'
    )
    rows = "".join(
        f'<tr><td class="doc-title">{escape_html(d.title)}</td>'
        f'<td class="doc-source">{escape_html(d.source)}</td>'
        f'<td class="doc-passages">{d.passages}</td>'
        f'<td class="doc-time" title="{escape_html(d.ingested_at)}">'
        f"{escape_html(readable_time(d.ingested_at))}</td>"
        f'<td class="doc-id"><code>{escape_html(d.document_id)}</code></td></tr>'
        for d in documents
    )
    table = f'<table class="documents-table"><thead>{head}</thead><tbody>{rows}</tbody></table>'
    return f'<div class="documents-scroll">{table}</div>'
