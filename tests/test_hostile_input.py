"""Hostile and bad input: bombs, fake types, oversize files, SSRF URLs, traversing names, bad questions."""

from __future__ import annotations

import http.server
import io
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cecot_rag.ingest import fetch, loaders
from cecot_rag.ingest.fetch import check_url_allowed, load_url
from cecot_rag.ingest.loaders import LoadError, load_bytes, load_file
from helpers_reliability import cli_env, run_cli
from helpers_server import RunningServer, running_server

MB = 1024 * 1024


# -- hostile files -------------------------------------------------------------------------------


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF with a correct xref table from object bodies numbered 1..n (1 is the catalog)."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def docx_bomb(expanded: int = 300 * MB) -> bytes:
    """A 300 KB DOCX whose document.xml expands to 300 MB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b" " * MB
            for _ in range(expanded // MB):
                member.write(block)
    return buffer.getvalue()


def pdf_with_pages(count: int) -> bytes:
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(count))
    pages = [b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]>>"] * count
    return raw_pdf(
        [b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[%s]/Count %d>>" % (kids, count), *pages]
    )


def pdf_cyclic_page_tree() -> bytes:
    return raw_pdf(
        [
            b"<</Type/Catalog/Pages 2 0 R>>",
            b"<</Type/Pages/Kids[2 0 R 3 0 R]/Count 2>>",
            b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]>>",
        ]
    )


def pdf_deep_page_tree(depth: int = 3000) -> bytes:
    objects = [b"<</Type/Catalog/Pages 2 0 R>>"]
    objects += [b"<</Type/Pages/Kids[%d 0 R]/Count 1>>" % (i + 1) for i in range(2, depth)]
    objects.append(b"<</Type/Page/MediaBox[0 0 72 72]>>")
    return raw_pdf(objects)


def pdf_stream_bomb() -> bytes:
    """One page whose 600 KB content stream inflates to 260 MB of drawing operators."""
    content = zlib.compress(b"BT /F1 12 Tf 10 10 Td (x) Tj ET\n" * 8_000_000, 9)
    return raw_pdf(
        [
            b"<</Type/Catalog/Pages 2 0 R>>",
            b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
            b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]/Contents 4 0 R>>",
            b"<</Length %d/Filter/FlateDecode>>stream\n" % len(content) + content + b"\nendstream",
        ]
    )


def pdf_heavy_pages(pages: int = 1500) -> bytes:
    """Many pages sharing one content stream of 20,000 text operators: slow to extract."""
    content = zlib.compress(b"BT /F1 12 Tf " + b"(word ) Tj 1 0 Td " * 20000 + b"ET", 9)
    font = b"<</Font<</F1<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>>>>>"
    kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(pages))
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[%s]/Count %d>>" % (kids, pages),
        b"<</Length %d/Filter/FlateDecode>>stream\n" % len(content) + content + b"\nendstream",
    ]
    objects += [
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]/Contents 3 0 R/Resources " + font + b">>"
    ] * pages
    return raw_pdf(objects)


BOMBS = {
    "docx_bomb": (docx_bomb, ".docx", "DOCX expands to"),
    "pdf_5000_pages": (lambda: pdf_with_pages(5000), ".pdf", "5000 pages, over the limit"),
    "pdf_cyclic_page_tree": (pdf_cyclic_page_tree, ".pdf", "corrupt PDF"),
    "pdf_deep_page_tree": (pdf_deep_page_tree, ".pdf", "corrupt PDF"),
    "pdf_stream_bomb": (pdf_stream_bomb, ".pdf", "PDF"),
}

# Each bomb is opened in a child process limited to 1.5 GB of address space: bounded memory is
# proven by the child finishing with a LoadError instead of dying.
_BOUNDED_CHILD = """
import resource, sys, pickle
resource.setrlimit(resource.RLIMIT_AS, (1536 * 1024 * 1024, 1536 * 1024 * 1024))
from cecot_rag.ingest.loaders import LoadError, load_bytes
data, suffix = pickle.load(sys.stdin.buffer)
try:
    load_bytes(data, "upload" + suffix, suffix)
    print("LOADED")
except LoadError as exc:
    print("REFUSED:", exc)
"""


@pytest.mark.parametrize("name", list(BOMBS))
def test_bombs_are_refused_with_a_reason_in_bounded_memory(name: str) -> None:
    import pickle

    make, suffix, reason = BOMBS[name]
    data = make()
    assert len(data) < 2 * MB, "a bomb is a small file"
    child = subprocess.run(
        [sys.executable, "-c", _BOUNDED_CHILD],
        input=pickle.dumps((data, suffix)),
        capture_output=True,
        timeout=300,
        check=False,
    )
    out = child.stdout.decode()
    assert child.returncode == 0, child.stderr.decode()[-2000:]
    assert out.startswith("REFUSED:") and reason in out, out


def test_pdf_text_extraction_stops_at_its_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loaders, "MAX_PDF_SECONDS", 0.2)
    with pytest.raises(LoadError, match=r"PDF text extraction took over 0.2 s"):
        load_bytes(pdf_heavy_pages(), "heavy.pdf", ".pdf")


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"Just some words, not a PDF at all.", "report.pdf", "not a PDF file"),
        (b"Plain text pretending to be Word.", "report.docx", "not a DOCX file"),
        (b"PK\x03\x04 but not really a zip", "report.docx", "corrupt DOCX"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, "photo.md", "binary content"),
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64, "program.txt", "binary content"),
        (b"   \n\t  ", "blank.md", "empty file"),
    ],
)
def test_file_type_is_checked_by_content_not_only_by_name(data: bytes, name: str, reason: str) -> None:
    with pytest.raises(LoadError, match=reason):
        load_bytes(data, name, Path(name).suffix)


def test_files_over_the_size_limit_are_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    big.write_bytes(b"word " * (MB // 4))
    with pytest.raises(LoadError, match="over the limit of 1000000"):
        load_file(big, max_bytes=1_000_000)


def test_executables_and_archives_are_not_supported_types(tmp_path: Path) -> None:
    for name in ("tool.exe", "archive.zip", "page.svg", "script.js"):
        (tmp_path / name).write_bytes(b"MZ payload")
        with pytest.raises(LoadError, match="unsupported file type"):
            load_file(tmp_path / name)


# -- URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.org/x.txt", "gopher://example.org/", "data:text/plain,hi"]
)
def test_only_http_urls_are_fetched(url: str) -> None:
    with pytest.raises(LoadError, match="only http"):
        check_url_allowed(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:7860/api/v1/documents",
        "http://localhost/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://192.168.1.1/admin",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://0.0.0.0/",
        "http://2130706433/",  # 127.0.0.1 written as one number
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_loopback_private_and_link_local_addresses_are_refused(url: str) -> None:
    with pytest.raises(LoadError, match="is not a public address"):
        check_url_allowed(url, allow_private=False)


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/redirect-to-private":
            self.send_response(302)
            self.send_header("Location", "http://10.1.2.3/secret")
            self.end_headers()
        elif self.path == "/big-declared":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(50 * MB))
            self.end_headers()
        elif self.path == "/big-chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            for _ in range(8):
                self.wfile.write(b"x" * (256 * 1024))
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            for _ in range(200):
                self.wfile.write(b"word ")
                self.wfile.flush()
                time.sleep(0.1)
        else:
            body = b"# Fine\n\nA small public page about prisons.\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/markdown")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_loopback_page_is_fetched_only_when_private_urls_are_allowed(web: str) -> None:
    with pytest.raises(LoadError, match="is not a public address"):
        load_url(f"{web}/ok", timeout=10, max_bytes=MB, allow_private=False)
    assert "small public page" in load_url(f"{web}/ok", timeout=10, max_bytes=MB, allow_private=True).text


def test_a_redirect_to_a_private_address_is_refused(web: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The test server stands in for a public site: only its own host is let through the guard.
    def guard(url: str, allow_private: bool, deadline: float | None = None) -> list[str]:
        return check_url_allowed(url, url.startswith(web), deadline)

    monkeypatch.setattr(fetch, "check_url_allowed", guard)
    with pytest.raises(LoadError, match=r"^10\.1\.2\.3 is not a public address$"):
        load_url(f"{web}/redirect-to-private", timeout=10, max_bytes=MB, allow_private=False)


@pytest.mark.parametrize("path", ["/big-declared", "/big-chunked"])
def test_url_responses_over_the_size_limit_are_refused(web: str, path: str) -> None:
    with pytest.raises(LoadError, match="over the size limit of 1048576 bytes"):
        load_url(web + path, timeout=10, max_bytes=MB, allow_private=True)


def test_a_server_dripping_bytes_is_cut_off_at_the_timeout(web: str) -> None:
    with pytest.raises(LoadError, match="timed out after 1 s"):
        load_url(f"{web}/drip", timeout=1, max_bytes=MB, allow_private=True)


# -- questions on the command line ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "empty"), ("   \n\t ", "empty"), ("x" * 2001, "limit is 2000"), ("why\x00\x1b[31m?", "control")],
)
def test_bad_questions_on_the_command_line_get_a_clear_usage_error(
    question: str, message: str, tmp_path: Path
) -> None:
    if "\x00" in question:
        question = question.replace("\x00", "\x07")  # argv cannot carry NUL; BEL is a control too
    done = run_cli("ask", question, env=cli_env(tmp_path / "index"))
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "index" / "chroma").exists(), "a refused question must not build an index"


# -- uploads through the running server ----------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("hostile")) as running:
        yield running


def multipart(filename: bytes, content: bytes, content_type: bytes = b"text/markdown") -> tuple[bytes, str]:
    """A multipart body written by hand, so the file name reaches the server byte for byte."""
    boundary = b"cecotboundary7"
    body = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: " + content_type + b"\r\n\r\n" + content + b"\r\n--" + boundary + b"--\r\n"
    )
    return body, f"multipart/form-data; boundary={boundary.decode()}"


def upload(server: RunningServer, filename: bytes, content: bytes, content_type: bytes = b"text/markdown"):
    body, header = multipart(filename, content, content_type)
    return httpx.post(
        f"{server.base_url}/api/v1/documents", content=body, headers={"Content-Type": header}, timeout=300
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "filename",
    [b"../../escaped.md", b"/etc/escaped.md", b"..\\..\\escaped.md", b"esc\x00aped.md", b"....//escaped.md"],
)
def test_upload_names_cannot_escape_the_uploads_folder(server: RunningServer, filename: bytes) -> None:
    text = b"# Traversal note\n\nThe traversal note says the annex has 77 numbered doors.\n"
    response = upload(server, filename, text)
    assert response.status_code in (200, 400, 422), response.text
    uploads = server.index_dir / "uploads"
    root = server.index_dir.parent
    escaped = [p for p in root.rglob("*escaped*") if uploads not in p.parents]
    assert escaped == [], f"an upload was written outside {uploads}: {escaped}"
    assert not Path("/etc/escaped.md").exists()
    if response.status_code == 200:
        stored = [p.name for p in uploads.iterdir() if "aped" in p.name]
        assert stored and all("/" not in n and "\\" not in n and "\x00" not in n for n in stored)
        assert all(not n.startswith(".") for n in stored)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("filename", "content", "status"),
    [
        (b"notes.pdf", b"This is plain text, not a PDF.", 422),
        (b"notes.docx", b"This is plain text, not a DOCX.", 422),
        (b"notes.md", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16, 422),
        (b"notes.exe", b"MZ\x90\x00", 415),
        (b"bomb.docx", None, 422),
    ],
)
def test_uploads_with_a_type_their_content_belies_are_refused_and_not_kept(
    server: RunningServer, filename: bytes, content: bytes | None, status: int
) -> None:
    response = upload(server, filename, content if content is not None else docx_bomb(200 * MB))
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    name = filename.decode()
    assert not (server.index_dir / "uploads" / name).exists()


@pytest.mark.slow
def test_upload_over_the_default_20_mb_limit_is_refused_with_413(server: RunningServer) -> None:
    response = upload(server, b"huge.md", b"word " * (4 * MB + 1))
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert not (server.index_dir / "uploads" / "huge.md").exists()


@pytest.mark.slow
def test_url_ingestion_through_the_api_refuses_file_and_private_urls(server: RunningServer) -> None:
    for url in (
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data/",
        f"{server.base_url}/healthz",
    ):
        response = httpx.post(f"{server.base_url}/api/v1/documents", json={"url": url}, timeout=60)
        assert response.status_code == 422, (url, response.text)
        assert "passwd" not in str(httpx.get(f"{server.base_url}/api/v1/documents", timeout=60).json())
