"""Ingestion through the Assistant with the real model and real embedded Chroma."""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import ARTICLE, free_port, make_settings
from tests.test_core_loaders import make_docx, make_pdf

from cecot_rag import Assistant, DocumentNotFound
from cecot_rag.ingest.pipeline import document_id_for


def count_embeddings(assistant: Assistant) -> list[int]:
    """Wrap the real embedder so a test can see how many texts were embedded."""
    calls: list[int] = []
    original = assistant.embedder.embed

    def counting(texts, progress=None):  # type: ignore[no-untyped-def]
        calls.append(len(texts))
        return original(texts, progress)

    assistant.embedder.embed = counting  # type: ignore[method-assign]
    return calls


def test_bundled_article_is_ingested_with_title_and_author(bundled_assistant: Assistant) -> None:
    [doc] = bundled_assistant.documents()
    assert doc.title == "How has the establishment of CECOT shaped security policy across Latin America?"
    assert doc.passages >= 6
    record = bundled_assistant.store.record(doc.document_id)
    assert record is not None and record.author == "Elizabeth García"


def test_passage_offsets_map_back_to_the_document_text(bundled_assistant: Assistant) -> None:
    text = ARTICLE.read_text(encoding="utf-8").split("---\n", 2)[2]
    passages = bundled_assistant.retrieve("CECOT capacity", top_k=20)
    assert len(passages) == bundled_assistant.documents()[0].passages
    for passage in passages:
        assert text[passage.start_char : passage.end_char] == passage.text


def test_retrieval_has_no_duplicates_and_is_best_first(bundled_assistant: Assistant) -> None:
    passages = bundled_assistant.retrieve("Which countries want to copy CECOT?", top_k=5)
    assert len(passages) == 5
    assert len({p.id for p in passages}) == 5
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True)
    assert any(country in p.text for p in passages[:2] for country in ("Ecuador", "Honduras", "Costa Rica"))


def test_unchanged_file_is_not_reembedded(fresh_assistant: Assistant) -> None:
    docs = fresh_assistant.settings.documents_dir
    first = fresh_assistant.ingest([docs])
    assert len(first.added) == 1 and first.passages > 0
    calls = count_embeddings(fresh_assistant)
    again = fresh_assistant.ingest([docs])
    assert again.unchanged == first.added
    assert again.added == [] and again.updated == [] and again.passages == 0
    assert calls == []


def test_changed_file_replaces_its_old_passages(fresh_assistant: Assistant, tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text("# Note\nThe blue heron nests in the mangroves of Jiquilisco Bay.\n", encoding="utf-8")
    fresh_assistant.ingest([note])
    old_ids = {p.id for p in fresh_assistant.retrieve("heron", top_k=10)}
    note.write_text("# Note\nThe green turtle nests on the beaches of Jiquilisco Bay.\n", encoding="utf-8")
    report = fresh_assistant.ingest([note])
    assert report.updated == [document_id_for(str(note))]
    passages = fresh_assistant.retrieve("Jiquilisco Bay", top_k=10)
    assert [p.text for p in passages] == ["# Note\nThe green turtle nests on the beaches of Jiquilisco Bay."]
    assert not old_ids & {p.id for p in passages}
    # Nothing of the old version is left in Chroma either.
    assert all(
        pid.split(":")[1] != next(iter(old_ids)).split(":")[1]
        for pid in fresh_assistant.store.all_passage_ids()
    )


def test_prune_removes_documents_whose_source_is_gone(fresh_assistant: Assistant, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha report about prisons in Honduras.", encoding="utf-8")
    (folder / "b.txt").write_text("Beta report about prisons in Ecuador.", encoding="utf-8")
    fresh_assistant.ingest([folder])
    (folder / "b.txt").unlink()
    kept = fresh_assistant.ingest([folder])
    assert kept.removed == []  # without --prune nothing is removed
    report = fresh_assistant.ingest([folder], prune=True)
    assert report.removed == [document_id_for(str(folder / "b.txt"))]
    assert [d.title for d in fresh_assistant.documents()] == ["a"]


def test_bad_files_are_reported_and_good_ones_still_ingested(
    fresh_assistant: Assistant, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.md").write_text(
        "# Good\nThe Territorial Control Plan has seven phases.\n", encoding="utf-8"
    )
    (folder / "report.pdf").write_bytes(make_pdf(["Page one of the prison report.", "Page two: visits."]))
    (folder / "memo.docx").write_bytes(make_docx(["A memo about police reform in Costa Rica."]))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "fake.txt").write_bytes(b"\x00\x01\x02\x03" * 100)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\nnot really a pdf")
    (folder / "locked.pdf").write_bytes(make_pdf(["secret"], encrypt="pw"))
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    port = free_port()  # nothing listens there
    fresh_assistant.settings.allow_private_urls = True
    report = fresh_assistant.ingest([folder, f"http://127.0.0.1:{port}/gone.html", tmp_path / "missing.md"])
    reasons = {Path(f.source).name: f.reason for f in report.failed}
    assert reasons == {
        "empty.txt": "empty file",
        "fake.txt": "binary content, not text",
        "broken.pdf": reasons["broken.pdf"],
        "locked.pdf": "encrypted PDF (password required)",
        "photo.png": "unsupported file type .png",
        "gone.html": reasons["gone.html"],
        "missing.md": "file not found",
    }
    assert reasons["broken.pdf"].startswith("corrupt PDF")
    assert reasons["gone.html"].startswith("unreachable")
    assert sorted(d.title for d in fresh_assistant.documents()) == ["Good", "memo", "report"]


def test_pdf_passages_carry_page_numbers(fresh_assistant: Assistant, tmp_path: Path) -> None:
    pdf = tmp_path / "pages.pdf"
    pdf.write_bytes(
        make_pdf(["Prison visits were suspended in March.", "Mayor Lopez praised the crackdown."])
    )
    fresh_assistant.ingest([pdf])
    answer = fresh_assistant.ask("Who praised the crackdown?")
    assert answer.answered
    assert answer.citations[0].passage.page == 2
    assert "Lopez" in answer.citations[0].quote


def test_latin1_document_is_answerable(fresh_assistant: Assistant, tmp_path: Path) -> None:
    doc = tmp_path / "informe.txt"
    doc.write_bytes("El programa Operación Convivencia redujo la violencia en Medellín.".encode("latin-1"))
    fresh_assistant.ingest([doc])
    [passage] = fresh_assistant.retrieve("Operación Convivencia Medellín", top_k=3)
    assert passage.text == "El programa Operación Convivencia redujo la violencia en Medellín."


@pytest.fixture
def local_site(tmp_path: Path) -> Iterator[str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "page.html").write_text(
        "<html><head><title>Prison report</title><script>var tracker=1;</script></head><body>"
        "<nav>Menu</nav><main><p>The Izalco prison holds 5,000 inmates.</p></main></body></html>",
        encoding="utf-8",
    )
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(site), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_url_served_locally_is_fetched_when_private_urls_are_allowed(tmp_path: Path, local_site: str) -> None:
    assistant = Assistant(make_settings(tmp_path, allow_private_urls=True))
    report = assistant.ingest([f"{local_site}/page.html"])
    assert report.failed == [] and len(report.added) == 1
    [doc] = assistant.documents()
    assert doc.title == "Prison report" and doc.source == f"{local_site}/page.html"
    [passage] = assistant.retrieve("Izalco prison", top_k=2)
    assert passage.text == "The Izalco prison holds 5,000 inmates."
    assistant.release_writer()


def test_loopback_url_is_refused_by_default(fresh_assistant: Assistant, local_site: str) -> None:
    report = fresh_assistant.ingest([f"{local_site}/page.html"])
    assert len(report.failed) == 1 and "is not a public address" in report.failed[0].reason


def test_delete_removes_a_document_and_unknown_ids_raise(fresh_assistant: Assistant) -> None:
    fresh_assistant.ingest([fresh_assistant.settings.documents_dir])
    [doc] = fresh_assistant.documents()
    fresh_assistant.delete(doc.document_id)
    assert fresh_assistant.documents() == []
    assert fresh_assistant.retrieve("CECOT") == []
    assert fresh_assistant.store.all_passage_ids() == []
    with pytest.raises(DocumentNotFound):
        fresh_assistant.delete(doc.document_id)


def test_small_chroma_batches_are_respected(fresh_assistant: Assistant) -> None:
    fresh_assistant.store.chroma.batch_size = 3  # far below Chroma's real limit: many upserts per document
    report = fresh_assistant.ingest([fresh_assistant.settings.documents_dir])
    assert report.passages > 3
    assert len(fresh_assistant.store.all_passage_ids()) == report.passages


def test_empty_index_retrieves_nothing_and_abstains(fresh_assistant: Assistant) -> None:
    assert fresh_assistant.retrieve("What is CECOT?") == []
    answer = fresh_assistant.ask("What is CECOT?")
    assert not answer.answered and answer.citations == [] and answer.passages == []


def test_same_source_always_gets_the_same_document_id(tmp_path: Path) -> None:
    copy = tmp_path / "a.md"
    shutil.copy(ARTICLE, copy)
    assert document_id_for(str(copy)) == document_id_for(str(tmp_path / "." / "a.md"))
    assert document_id_for("https://example.org/a") != document_id_for("https://example.org/b")
