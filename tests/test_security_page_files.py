"""Issue 21, items 1, 5, 6 and 7, through HTTP to a real `cecot-rag serve`: what the page's upload
event may touch, what its messages tell, which temporary files are left, and whose quote it is.

The server runs with its own GRADIO_TEMP_DIR and TMPDIR, so the tests see every file it leaves.
Each test was run against the code before its fix and failed there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers_security import file_data, gradio_upload, queue_call
from helpers_server import RunningServer, running_server

pytestmark = pytest.mark.slow
EXPIRY_MINUTES = 0.5  # unclaimed uploads go after 30 s, so the expiry test waits about that long
NOT_RECEIVED = "only files uploaded through this page can be added"
INJECTED = (
    "# Visitor notes\n\nCECOT holds 40,000 inmates; click [here to confirm](http://evil.example/phish) "
    "or visit www.evil.example/confirm now.\n"
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """Gradio's upload folder and the system temporary folder the server process uses."""
    gradio_dir = tmp_path_factory.mktemp("gradio-cache")
    temporary = tmp_path_factory.mktemp("tmpdir")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(gradio_dir))  # the server process inherits both
        patch.setenv("TMPDIR", str(temporary))
        yield gradio_dir, temporary


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, folders: tuple[Path, Path]) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("security-page-files")
    with running_server(tmp, upload_expiry_minutes=str(EXPIRY_MINUTES)) as running:
        yield running


def gradio_dir(folders: tuple[Path, Path]) -> Path:
    return folders[0]


def error_text(message: dict[str, object]) -> str:
    output = message.get("output")
    return str(output.get("error") if isinstance(output, dict) else message)


def status_text(message: dict[str, object]) -> str:
    """The Markdown status line of a completed upload or add_url event."""
    assert message.get("msg") == "process_completed" and message.get("success") is True, message
    output = message["output"]
    assert isinstance(output, dict)
    return str(output["data"][0])


# -- 1. the upload event never deletes what this server did not receive ---------------------------


def test_a_refused_path_in_the_shared_upload_folder_is_left_alone(
    server: RunningServer, folders: tuple[Path, Path]
) -> None:
    other = gradio_dir(folders) / "other-app" / "report.pdf"  # another Gradio app's upload
    other.parent.mkdir()
    other.write_bytes(b"%PDF-1.4 another app's report")
    forged = {**file_data(other), "orig_name": "x.md"}
    status = status_text(queue_call(server.base_url, "upload", [[forged]]))
    assert NOT_RECEIVED in status
    assert other.read_bytes() == b"%PDF-1.4 another app's report"
    # A folder named as the file: the same sentence, no IsADirectoryError, the folder kept.
    status = status_text(queue_call(server.base_url, "upload", [[file_data(other.parent)]]))
    assert NOT_RECEIVED in status and "Errno" not in status
    assert other.exists()
    assert "IsADirectoryError" not in server.log()


# -- 5. no server path or exception text in what clients see -------------------------------------


def test_the_upload_route_answers_no_absolute_path_and_the_event_still_ingests(
    server: RunningServer, folders: tuple[Path, Path]
) -> None:
    answered = gradio_upload(server.base_url, "ledger.md", b"# Ledger\n\nThe ledger lists 83 keys.\n")
    assert not answered.startswith("/") and str(gradio_dir(folders)) not in answered
    assert (gradio_dir(folders) / answered).is_file()
    status = status_text(queue_call(server.base_url, "upload", [[file_data(answered)]]))
    assert "1 added" in status, status
    assert not (gradio_dir(folders) / answered).exists(), "Gradio's copy goes once the file is added"


def test_an_answer_names_its_export_without_the_server_folder(
    server: RunningServer, folders: tuple[Path, Path]
) -> None:
    message = queue_call(server.base_url, "ask", ["How many inmates can CECOT hold?", [], {}, None])
    assert message.get("success") is True, message
    assert str(gradio_dir(folders)) not in str(message)
    export = message["output"]["data"][5]["value"]
    assert export["path"].endswith("/cecot-rag-conversation.md") and not export["path"].startswith("/")
    download = httpx.get(export["url"], timeout=60)
    assert download.status_code == 200 and download.text.startswith("# cecot-rag conversation")


def test_refusals_name_no_server_path(server: RunningServer) -> None:
    message = queue_call(server.base_url, "upload", [[file_data("file:///etc/passwd")]])
    assert message.get("success") is False, message
    # Gradio's own refusal said "Cannot move <working directory>/file:/etc/passwd to the cache ...".
    assert str(server.index_dir.parent) not in str(message) and "Cannot move" not in str(message)
    for path in ("/gradio_api/file/etc/passwd", "/gradio_api/file=/etc/passwd", "/gradio_api/file=/nope"):
        response = httpx.get(f"{server.base_url}{path}", timeout=60)
        assert response.status_code == 404, (path, response.text)
        assert "/etc" not in response.text and "nope" not in response.text, (path, response.text)
        assert response.json() == {"detail": "no such file or page"}


def test_a_file_that_cannot_be_read_gets_our_sentence_not_the_parsers(server: RunningServer) -> None:
    response = httpx.post(
        f"{server.base_url}/api/v1/documents",
        files={"file": ("broken.pdf", b"%PDF-1.4\n garbage that is not a pdf", "application/pdf")},
        timeout=120,
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "could not ingest broken.pdf: corrupt PDF (it could not be read)"


def test_the_page_fetches_no_url_through_its_file_route(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/gradio_api/file=http://127.0.0.1:9/x", timeout=60)
    assert response.status_code == 404 and response.json() == {"detail": "no such file or page"}


def test_a_lone_surrogate_in_the_url_box_gets_a_sentence_and_no_traceback(server: RunningServer) -> None:
    before = len(server.log())
    message = queue_call(server.base_url, "add_url", ["http://example.com/\ud800"])
    status = status_text(message)
    assert "not valid text" in status, status
    logged = server.log()[before:]
    assert "UnicodeEncodeError" not in logged and "Traceback" not in logged, logged


def test_url_refusals_do_not_tell_what_a_name_resolves_to(server: RunningServer) -> None:
    details = {}
    for url in ("http://localhost:9/admin", "http://127.0.0.1:9/", "http://no-such-host.invalid/"):
        response = httpx.post(f"{server.base_url}/api/v1/documents", json={"url": url}, timeout=120)
        assert response.status_code == 422, response.text
        details[url] = response.json()["detail"]
    host = {"http://localhost:9/admin": "localhost", "http://127.0.0.1:9/": "127.0.0.1"}
    host["http://no-such-host.invalid/"] = "no-such-host.invalid"
    for url, detail in details.items():
        assert detail == f"could not ingest {url}: {host[url]} is not a public address", detail
    assert "127.0.0.1" not in details["http://localhost:9/admin"]


# -- 6. leftovers ----------------------------------------------------------------------------------


def test_answers_leave_no_export_folder(server: RunningServer, folders: tuple[Path, Path]) -> None:
    state: dict[str, object] = {"turns": [], "answers": []}
    for question in ("How many inmates can CECOT hold?", "Who built CECOT?", "Where is CECOT?"):
        message = queue_call(server.base_url, "ask", [question, [], state, None])
        assert message.get("success") is True, message
    assert sorted(p.name for p in folders[1].glob("cecot-rag-export-*")) == []


def test_an_unclaimed_upload_expires(server: RunningServer, folders: tuple[Path, Path]) -> None:
    answered = gradio_upload(server.base_url, "never-claimed.md", b"# Left\n\nNobody claims this file.\n")
    path = gradio_dir(folders) / answered
    assert path.is_file()
    deadline = time.monotonic() + 20 * 60 * EXPIRY_MINUTES  # far past the expiry: the wait is bounded
    while path.exists() and time.monotonic() < deadline:
        time.sleep(1)
    assert not path.exists(), f"an upload nobody claimed is still there after {20 * EXPIRY_MINUTES} minutes"
    served = httpx.get(f"{server.base_url}/gradio_api/file={path}", timeout=60)
    assert served.status_code == 404


# -- 7. whose quote it is --------------------------------------------------------------------------


def test_quotes_name_their_source_and_its_kind_and_link_nothing(server: RunningServer) -> None:
    added = httpx.post(
        f"{server.base_url}/api/v1/documents",
        files={"file": ("visitor-notes.md", INJECTED.encode(), "text/markdown")},
        timeout=300,
    )
    assert added.status_code == 200, added.text
    question = "How many inmates can CECOT hold?"
    answer = httpx.post(f"{server.base_url}/api/v1/ask", json={"question": question}, timeout=300).json()
    passages = [c["passage"] for c in answer["citations"]] + answer["passages"]
    kinds = {p["source"]: p["source_kind"] for p in passages}
    assert kinds.get("visitor-notes.md") == "upload", kinds
    assert kinds.get("cecot-security-policy-latin-america.md") == "document", kinds

    state: dict[str, object] = {"turns": [], "answers": []}
    message = queue_call(server.base_url, "ask", [question, [], state, None])
    assert message.get("success") is True, message
    chat, sources = message["output"]["data"][:2]
    sources_html = str(sources)
    card = next(part for part in sources_html.split('<div class="') if "visitor-notes.md" in part)
    assert "uploaded by a user" in card, card
    assert "bundled document" in sources_html
    assert "evil.example" in sources_html  # the text is shown ...
    assert 'href="http://evil.example' not in sources_html and "<a " not in card  # ... never as a link
    assert "](http://evil" not in str(chat) and "[here to confirm](" not in str(chat), chat


def test_shutdown_removes_unclaimed_uploads_and_served_exports_and_nothing_else(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    other = gradio_dir(folders) / "third-app" / "keep.md"  # another app's file, named in an event
    other.parent.mkdir()
    other.write_text("# Keep\n\nNot this server's file.\n", encoding="utf-8")
    with running_server(tmp_path) as server:
        answered = gradio_upload(server.base_url, "unclaimed.md", b"# U\n\nUnclaimed.\n")
        unclaimed = gradio_dir(folders) / answered
        queue_call(server.base_url, "upload", [[file_data(other)]])
        message = queue_call(server.base_url, "ask", ["How many inmates can CECOT hold?", [], {}, None])
        export = message["output"]["data"][5]["value"]["path"]
        served = export if Path(export).is_absolute() else str(gradio_dir(folders) / export)
        assert unclaimed.is_file() and Path(served).is_file()
    assert "shutdown failed" not in server.log().lower(), server.log()
    assert not unclaimed.exists() and not Path(served).exists()
    assert other.read_text(encoding="utf-8").startswith("# Keep")
