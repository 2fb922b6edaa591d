"""Issue 13 through the page's Gradio API of a real `cecot-rag serve`: uploads, copies, questions, clients.

The server runs with its own GRADIO_TEMP_DIR, so the tests can see every copy Gradio keeps.
Each test was run against the code before its fix and failed there.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers_security import file_data, files_under, gradio_upload, queue_call, reply_text
from helpers_server import RunningServer, running_server

pytestmark = pytest.mark.slow
SECRET = "zanzibar-4471 is the vault code"


@pytest.fixture(scope="module")
def gradio_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("gradio-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(folder))  # the server process inherits it
        yield folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, gradio_dir: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("security-page")) as running:
        yield running


def sources(server: RunningServer) -> set[str]:
    return {d["source"] for d in httpx.get(f"{server.base_url}/api/v1/documents", timeout=60).json()}


def source_names(server: RunningServer) -> set[str]:
    return {Path(source).name for source in sources(server)}


def copies_holding(text: str, *folders: Path) -> list[Path]:
    return [p for folder in folders for p in files_under(folder) if text.encode() in p.read_bytes()]


# -- 1. only files this session uploaded ----------------------------------------------------------


def test_a_server_path_sent_as_file_data_is_not_ingested_or_copied(
    server: RunningServer, gradio_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "vault.md"
    secret.write_text(f"# Vault\n\n{SECRET}.\n", encoding="utf-8")
    secret.chmod(0o600)
    planted = gradio_dir / "planted" / "vault-in-cache.md"  # inside the cache, never uploaded
    planted.parent.mkdir()
    planted.write_text(f"# Planted\n\n{SECRET} again.\n", encoding="utf-8")
    for path in (secret, planted, Path("/etc/passwd")):
        message = queue_call(server.base_url, "upload", [[file_data(path)]])
        assert "1 added" not in str(message), (path, message)
    assert not {"vault.md", "vault-in-cache.md", "passwd"} & source_names(server)
    uploads = server.index_dir / "uploads"
    assert copies_holding(SECRET, uploads) == []
    assert [p for p in copies_holding(SECRET, gradio_dir) if p != planted] == []
    assert copies_holding("root:", gradio_dir, uploads) == []


def test_a_file_uploaded_through_the_page_is_ingested_and_saved_private(
    server: RunningServer, gradio_dir: Path
) -> None:
    path = gradio_upload(server.base_url, "ledger.md", b"# Ledger\n\nThe ledger lists 83 keys.\n")
    message = queue_call(server.base_url, "upload", [[file_data(path)]])
    assert "1 added" in str(message), message
    saved = server.index_dir / "uploads" / "ledger.md"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    refused = gradio_upload(server.base_url, "tool.exe", b"MZ\x90\x00 not a document")
    message = queue_call(server.base_url, "upload", [[file_data(refused)]])
    assert "not added" in str(message), message
    assert [p for p in files_under(gradio_dir) if p.name == "tool.exe"] == []
    assert not (server.index_dir / "uploads" / "tool.exe").exists()


# -- 3. deleting removes every copy ---------------------------------------------------------------


def test_a_deleted_page_upload_is_gone_from_every_folder_and_url(
    server: RunningServer, gradio_dir: Path
) -> None:
    text = "The erased memo lists 19 sealed doors."
    path = gradio_upload(server.base_url, "erased-memo.md", f"# Erased memo\n\n{text}\n".encode())
    assert "1 added" in str(queue_call(server.base_url, "upload", [[file_data(path)]]))
    document = next(
        d
        for d in httpx.get(f"{server.base_url}/api/v1/documents", timeout=60).json()
        if str(d["source"]).endswith("erased-memo.md")
    )
    deleted = httpx.delete(f"{server.base_url}/api/v1/documents/{document['document_id']}", timeout=60)
    assert deleted.status_code == 200
    assert copies_holding(text, gradio_dir, server.index_dir / "uploads") == []
    served = httpx.get(f"{server.base_url}/gradio_api/file={path}", timeout=60)
    assert served.status_code == 404
    assert text not in served.text


# -- 8 and 12. questions the page refuses -----------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "reason"),
    [("\ud800 cells", "characters that are not valid text"), ("\x00", "control characters")],
)
def test_an_invalid_question_in_the_page_gets_the_reason_as_its_reply(
    server: RunningServer, question: str, reason: str
) -> None:
    message = queue_call(server.base_url, "ask", [question, [], {"turns": [], "answers": []}, None])
    assert message["msg"] == "process_completed" and message["success"], message
    chat = message["output"]["data"][0]
    assert [m["role"] for m in chat] == ["assistant"], "the question itself is never sent back"
    assert reason in reply_text(chat[0]["content"])
    dumped = json.dumps(message)  # the reply as it travelled: the text itself is never echoed
    assert "\\ud800" not in dumped and "\\u0000" not in dumped


def test_gradio_client_sees_readable_names_and_the_reason_for_a_nul_question(server: RunningServer) -> None:
    gradio_client = pytest.importorskip("gradio_client")
    client = gradio_client.Client(server.base_url + "/", verbose=False)
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/ask", "/upload", "/add_url", "/delete_document", "/list_documents"} <= names
    chat, *_ = client.predict("\x00", [], None, api_name="/ask")
    assert "control characters" in reply_text(chat[-1]["content"])


def test_gradio_client_uploads_under_its_original_unicode_name(server: RunningServer, tmp_path: Path) -> None:
    gradio_client = pytest.importorskip("gradio_client")
    document = tmp_path / "информация.md"
    document.write_text("# Информация\n\nThe information sheet lists 44 lamps.\n", encoding="utf-8")
    client = gradio_client.Client(server.base_url + "/", verbose=False)
    status, *_ = client.predict([gradio_client.handle_file(str(document))], api_name="/upload")
    assert "1 added" in status, status
    assert "информация.md" in sources(server)
    assert (server.index_dir / "uploads" / "информация.md").exists()
