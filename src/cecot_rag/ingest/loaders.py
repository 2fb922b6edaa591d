"""Loaders: a file or downloaded bytes become plain text with its title, metadata and page boundaries.

Fetching URLs lives in cecot_rag.ingest.fetch.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import time
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
HTML_SUFFIXES = {".html", ".htm"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".docx"}
MAX_PDF_PAGES = 2000
MAX_DOCX_UNCOMPRESSED = 100 * 1024 * 1024
# Wall-clock budget: a pathological PDF must not hold an ingest forever.
MAX_PDF_SECONDS = 120.0


class LoadError(Exception):
    """A source that cannot be turned into text; the message is the reason shown to the user."""


@dataclass
class PageSpan:
    start: int
    end: int
    page: int


@dataclass
class LoadedDocument:
    source: str
    text: str
    title: str
    content_hash: str
    metadata: dict[str, str] = field(default_factory=dict)
    pages: list[PageSpan] = field(default_factory=list)

    def page_at(self, offset: int) -> int | None:
        for span in self.pages:
            if span.start <= offset < span.end:
                return span.page
        return None


def is_url(source: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_bytes(data: bytes, source: str, suffix: str, content_type: str | None = None) -> LoadedDocument:
    """Turn raw bytes of a known kind into a document; raises LoadError with a reason."""
    if not data.strip():
        raise LoadError("empty file")
    kind = _kind(suffix, content_type, data)
    if kind == "pdf":
        text, pages, title = _pdf_text(data)
        meta: dict[str, str] = {}
    elif kind == "docx":
        text, title = _docx_text(data)
        pages, meta = [], {}
    elif kind == "html":
        text, title = html_to_text(decode_text(data))
        pages, meta = [], {}
    else:
        text, meta = _split_front_matter(decode_text(data))
        title = meta.pop("title", "") or _markdown_title(text)
        pages = []
    if not text.strip():
        raise LoadError("no extractable text")
    fallback = Path(urlparse(source).path).stem if is_url(source) else Path(source).stem
    return LoadedDocument(
        source=source,
        text=text,
        title=(title or fallback or source).strip(),
        content_hash=sha256(data),
        metadata=meta,
        pages=pages,
    )


def load_file(path: Path, max_bytes: int | None = None) -> LoadedDocument:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(
            f"unsupported file type {suffix or '(none)'}; supported: " + ", ".join(sorted(SUPPORTED_SUFFIXES))
        )
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise LoadError(f"file is {size} bytes, over the limit of {max_bytes}")
        data = path.read_bytes()
    except FileNotFoundError:
        raise LoadError("file not found") from None
    except IsADirectoryError:
        raise LoadError("is a directory") from None
    except PermissionError:
        raise LoadError("permission denied") from None
    return load_bytes(data, str(path), suffix)


def _kind(suffix: str, content_type: str | None, data: bytes) -> str:
    ctype = (content_type or "").split(";")[0].strip().lower()
    if suffix == ".pdf" or ctype == "application/pdf":
        if not data.startswith(b"%PDF"):
            raise LoadError("not a PDF file (no %PDF header)")
        return "pdf"
    if suffix == ".docx" or ctype.endswith("wordprocessingml.document"):
        if not data.startswith(b"PK"):
            raise LoadError("not a DOCX file (not a ZIP container)")
        return "docx"
    if suffix in HTML_SUFFIXES or ctype in ("text/html", "application/xhtml+xml"):
        return "html"
    if ctype and not ctype.startswith("text/") and suffix not in TEXT_SUFFIXES:
        raise LoadError(f"unsupported content type {ctype}")
    return "text"


def decode_text(data: bytes) -> str:
    """Decode text bytes: UTF-8 (with or without BOM) first, then the detected legacy encoding."""
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LoadError("binary content, not text")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = _decode_legacy(data)
    controls = sum(1 for ch in text[:20000] if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    if controls > max(8, len(text[:20000]) // 50):
        raise LoadError("binary content, not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_legacy(data: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding not in ("utf_8", "ascii"):
        # Western European text is by far the commonest legacy case here; charset detection on
        # short samples often guesses a Cyrillic or Turkish page, so prefer cp1252 when it decodes.
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return str(best)
    return data.decode("latin-1")


_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)


def _split_front_matter(text: str) -> tuple[str, dict[str, str]]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return text, {}
    meta: dict[str, str] = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return text[match.end() :], meta


def _markdown_title(text: str) -> str:
    for line in text.splitlines()[:40]:
        if line.startswith("# "):
            return line[2:].strip()
    return ""


_SKIP_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "iframe",
    "svg",
)
_BLOCK_TAGS = (
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "br",
    "pre",
    "blockquote",
    "td",
)


def html_to_text(html: str) -> tuple[str, str]:
    """Main text of an HTML page: scripts, styles and page furniture (nav, header, footer) dropped."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(list(_SKIP_TAGS)):
        tag.decompose()
    root = soup.find("article") or soup.find("main") or soup.body or soup
    if not title and (h1 := root.find("h1")):
        title = h1.get_text(" ", strip=True)
    for tag in root.find_all(list(_BLOCK_TAGS)):
        tag.insert_before("\n")
        tag.insert_after("\n")
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in root.get_text().splitlines()]
    return "\n".join(line for line in lines if line), title


def _pdf_text(data: bytes) -> tuple[str, list[PageSpan], str]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise LoadError("encrypted PDF (password required)")
            except (FileNotDecryptedError, NotImplementedError) as exc:
                raise LoadError("encrypted PDF (password required)") from exc
        count = len(reader.pages)
        if count > MAX_PDF_PAGES:
            raise LoadError(f"PDF has {count} pages, over the limit of {MAX_PDF_PAGES}")
        parts: list[str] = []
        pages: list[PageSpan] = []
        offset = 0
        deadline = time.monotonic() + MAX_PDF_SECONDS
        for number, page in enumerate(reader.pages, start=1):
            if time.monotonic() > deadline:
                raise LoadError(f"PDF text extraction took over {MAX_PDF_SECONDS:g} s (at page {number})")
            page_text = (page.extract_text() or "").strip()
            if not page_text:
                continue
            if parts:
                offset += 2
            pages.append(PageSpan(offset, offset + len(page_text), number))
            parts.append(page_text)
            offset += len(page_text)
        title = str(reader.metadata.title) if reader.metadata and reader.metadata.title else ""
    except LoadError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        # pypdf's message is for the operator's log; users get our sentence, never exception text.
        log.info("corrupt PDF: %s: %s", type(exc).__name__, exc)
        raise LoadError("corrupt PDF (it could not be read)") from exc
    if not parts:
        raise LoadError("PDF has no extractable text (scanned images?)")
    if _useless_pdf_title(title):
        title = _first_heading(parts[0])  # empty: the file name is used
    return "\n\n".join(parts), pages, title


# Titles PDF writers put in by default: a browser's blank page, "Untitled", a file name or path.
_USELESS_TITLE = re.compile(
    r"^\s*(about:blank|untitled( document)?|document\d*|microsoft (word|powerpoint) - .*)\s*$"
    r"|[\\/]|\.(pdf|docx?|odt|html?|tex|txt)\s*$",
    re.IGNORECASE,
)


def _useless_pdf_title(title: str) -> bool:
    return not title.strip() or bool(_USELESS_TITLE.search(title))


def _first_heading(text: str) -> str:
    """The first line when it reads like a heading (short, no full stop), else nothing."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(first) <= 120 and any(c.isalpha() for c in first) and not first.endswith((".", ",", ";")):
        return first
    return ""


def _docx_text(data: bytes) -> tuple[str, str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
            if total > MAX_DOCX_UNCOMPRESSED:
                raise LoadError(f"DOCX expands to {total} bytes, over the limit of {MAX_DOCX_UNCOMPRESSED}")
            if "word/document.xml" not in archive.namelist():
                raise LoadError("not a DOCX file (no word/document.xml)")
    except zipfile.BadZipFile as exc:
        raise LoadError("corrupt DOCX (bad ZIP container)") from exc
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many unrelated types on malformed files
        raise LoadError(f"corrupt DOCX ({type(exc).__name__})") from exc
    paragraphs = [p.text.strip() for p in document.paragraphs if p.text.strip()]
    title = document.core_properties.title or ""
    if not title:
        for p in document.paragraphs:
            if (
                p.style is not None
                and p.style.name.lower().startswith(("title", "heading 1"))
                and p.text.strip()
            ):
                title = p.text.strip()
                break
    return "\n".join(paragraphs), title
