"""Loaders: every supported format becomes text with its title; bad input gets a clear reason."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cecot_rag.ingest.loaders import LoadError, html_to_text, load_bytes, load_file


def make_pdf(pages: list[str], encrypt: str | None = None) -> bytes:
    """A real PDF with one text line per page, written with pypdf (no external tools)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    for text in pages:
        page = writer.add_blank_page(width=612, height=792)
        font = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
        )
        stream = DecodedStreamObject()
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream.set_data(f"BT /F1 11 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    if encrypt:
        writer.encrypt(encrypt)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(paragraphs: list[str], title: str = "") -> bytes:
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_markdown_front_matter_becomes_metadata_and_is_not_indexed_text() -> None:
    data = b'---\ntitle: "A report"\nauthor: Ana\nsource: Somewhere\n---\nBody text here.\n'
    doc = load_bytes(data, "x.md", ".md")
    assert doc.title == "A report"
    assert doc.metadata == {"author": "Ana", "source": "Somewhere"}
    assert doc.text == "Body text here.\n"


def test_markdown_title_falls_back_to_first_heading_then_file_name() -> None:
    assert load_bytes(b"intro\n# Heading One\ntext", "a.md", ".md").title == "Heading One"
    assert load_bytes(b"just text", "/tmp/my-notes.txt", ".txt").title == "my-notes"


def test_latin1_text_is_decoded_correctly(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("Operación Convivencia en Medellín, según el señor Núñez.".encode("latin-1"))
    doc = load_file(path)
    assert doc.text == "Operación Convivencia en Medellín, según el señor Núñez."


def test_utf8_with_bom_and_crlf_is_normalised() -> None:
    doc = load_bytes("\ufeffLine one.\r\nLíne two.\r\n".encode(), "a.txt", ".txt")
    assert doc.text == "Line one.\nLíne two.\n"


def test_html_drops_scripts_styles_and_page_furniture() -> None:
    html = """<html><head><title>Page title</title><style>.x{color:red}</style>
    <script>var secret = "do not index";</script></head><body>
    <nav>Home | About</nav><header>Site header</header>
    <article><h1>Main heading</h1><p>The first paragraph.</p><p>The second one.</p></article>
    <footer>Copyright footer</footer></body></html>"""
    text, title = html_to_text(html)
    assert title == "Page title"
    assert "The first paragraph." in text and "The second one." in text
    for junk in ("do not index", "color:red", "Home | About", "Site header", "Copyright footer"):
        assert junk not in text
    assert text.splitlines()[0] == "Main heading"


def test_pdf_pages_are_numbered() -> None:
    doc = load_bytes(make_pdf(["First page says alpha.", "Second page says beta."]), "r.pdf", ".pdf")
    assert [span.page for span in doc.pages] == [1, 2]
    assert doc.page_at(doc.text.index("beta")) == 2
    assert doc.page_at(doc.text.index("alpha")) == 1


def test_docx_paragraphs_and_title() -> None:
    doc = load_bytes(make_docx(["Para one.", "Para two."], title="Docx title"), "d.docx", ".docx")
    assert doc.title == "Docx title"
    assert doc.text == "Para one.\nPara two."


@pytest.mark.parametrize(
    ("data", "suffix", "reason"),
    [
        (b"", ".txt", "empty file"),
        (b"   \n\t ", ".md", "empty file"),
        (b"\x00\x01\x02binary\x00junk" * 20, ".txt", "binary content"),
        (b"%PDF-1.4\n garbage that is not a pdf", ".pdf", "corrupt PDF"),
        (b"this is not a pdf", ".pdf", "not a PDF"),
        (b"PK\x03\x04 broken zip", ".docx", "corrupt DOCX"),
        (b"plain words", ".docx", "not a DOCX"),
    ],
)
def test_bad_bytes_are_refused_with_a_reason(data: bytes, suffix: str, reason: str) -> None:
    with pytest.raises(LoadError, match=reason):
        load_bytes(data, f"bad{suffix}", suffix)


def test_encrypted_pdf_is_refused() -> None:
    with pytest.raises(LoadError, match="encrypted PDF"):
        load_bytes(make_pdf(["secret text"], encrypt="pw"), "e.pdf", ".pdf")


def test_unsupported_type_names_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n")
    with pytest.raises(LoadError, match=r"unsupported file type \.png; supported: .*\.pdf"):
        load_file(path)
