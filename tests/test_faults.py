"""Faults: ingestion killed at any moment, readers during writes, damaged and incompatible indexes."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from cecot_rag import Assistant, Settings
from cecot_rag.maintenance import check_index, rebuild_index
from cecot_rag.store import IndexProblem
from helpers_reliability import (
    Snapshot,
    assert_consistent,
    cli_env,
    kill,
    passage_rows,
    pending_markers,
    run_cli,
    snapshot,
    start_cli,
    write_corpus,
)

pytestmark = pytest.mark.slow


def clean_ingest(tmp: Path, corpus: Path) -> Snapshot:
    settings = Settings(index_dir=tmp, documents_dir=corpus)
    assistant = Assistant(settings)
    report = assistant.ingest([corpus])
    assistant.release_writer()
    assistant.store.close()
    assert report.failed == []
    return snapshot(settings)


def kill_when(process, condition, timeout: float = 240) -> bool:
    """SIGKILL the process as soon as condition() holds; False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            kill(process)
            return True
        time.sleep(0.01)
    kill(process)
    return False


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus") / "reports"
    write_corpus(folder, documents=30, sentences=16)
    return folder


@pytest.fixture(scope="module")
def clean(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    shot = clean_ingest(tmp_path_factory.mktemp("clean") / "index", corpus)
    assert len(shot.records) == 30 and len(shot.passages) >= 60
    return shot


def test_ingest_killed_at_several_moments_then_rerun_equals_a_clean_ingest(
    corpus: Path, clean: Snapshot, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    env = cli_env(index, corpus)
    moments = []
    for delay in (0.5, 2.0, 5.0):
        process = start_cli("ingest", str(corpus), env=env)
        time.sleep(delay)
        moments.append(process.poll() is None)
        kill(process)
    # While writing, after some documents are committed: passages of the document in progress may be
    # in Chroma without its record (a pending marker shows that moment when the poll catches it).
    half = len(clean.passages) // 2
    process = start_cli("ingest", str(corpus), env=env)
    moments.append(
        kill_when(
            process,
            lambda: passage_rows(index) >= half or (pending_markers(index) > 0 and passage_rows(index) > 8),
        )
    )
    assert moments[-1], "the ingest finished before it could be killed while writing"
    done = run_cli("ingest", str(corpus), env=env)
    assert done.returncode == 0, done.stderr
    shot = snapshot(Settings(index_dir=index, documents_dir=corpus))
    assert_consistent(shot)
    assert shot.records == clean.records
    assert shot.passages == clean.passages


def test_file_changed_between_killed_run_and_rerun_ends_with_the_new_version(
    corpus: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "reports"
    shutil.copytree(corpus, folder)
    index = tmp_path / "index"
    env = cli_env(index, folder)
    process = start_cli("ingest", str(folder), env=env)
    assert kill_when(process, lambda: passage_rows(index) >= 20)
    first, last = sorted(folder.glob("*.md"))[0], sorted(folder.glob("*.md"))[-1]
    first.write_text("# Field report 00\n\nRevised: the visit was cancelled by the authorities.\n")
    last.write_text("# Field report 29\n\nRevised: the inspection found overcrowded cells.\n")
    done = run_cli("ingest", str(folder), env=env)
    assert done.returncode == 0, done.stderr
    shot = snapshot(Settings(index_dir=index, documents_dir=folder))
    assert_consistent(shot)
    expected = clean_ingest(tmp_path / "clean", folder)
    assert shot.records == expected.records
    assert shot.passages == expected.passages
    assert any("cancelled by the authorities" in text for text in shot.passages.values())
    assert not any("Report 0 note" in text for text in shot.passages.values())


def test_readers_never_see_two_versions_of_a_document_being_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    write_corpus(folder, documents=3, sentences=30)
    target = folder / "report-01.md"
    assistant = Assistant(Settings(index_dir=tmp_path / "index", documents_dir=folder))
    assistant.ingest([folder])
    document_id = next(d.document_id for d in assistant.documents() if d.title == "Field report 01")
    stop = threading.Event()
    seen_versions: list[set[str]] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                for passages in (
                    assistant.retrieve("observer during visit of the monitoring mission", top_k=20),
                    assistant.ask("What did report 1 discuss about Tecoluca?", top_k=20).passages,
                ):
                    versions = {p.id.split(":")[1] for p in passages if p.document_id == document_id}
                    seen_versions.append(versions)
                    assert len({p.id for p in passages}) == len(passages), "duplicate passages"
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    original = target.read_text()
    for round_ in range(4):
        target.write_text(original.replace("monitoring mission", f"monitoring mission round {round_}"))
        assistant.ingest([target])
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    assistant.release_writer()
    assert errors == []
    assert len(seen_versions) >= 4
    assert all(len(versions) <= 1 for versions in seen_versions), "a result mixed two versions"
    assert len({v for versions in seen_versions for v in versions}) >= 2, "replacement never observed"


def _small_index(tmp_path: Path) -> Settings:
    folder = tmp_path / "docs"
    write_corpus(folder, documents=2, sentences=12)
    settings = Settings(index_dir=tmp_path / "index", documents_dir=folder)
    assistant = Assistant(settings)
    assert assistant.ingest([folder]).failed == []
    assistant.release_writer()
    assistant.store.close()
    return settings


def test_damaged_sqlite_is_reported_with_the_rebuild_command_and_rebuild_restores_answers(
    tmp_path: Path,
) -> None:
    settings = _small_index(tmp_path)
    database = settings.index_dir / "chroma" / "chroma.sqlite3"
    data = database.read_bytes()
    database.write_bytes(data[:4096] + b"\xff" * 8192 + data[12288:])
    failed = run_cli("docs", env=cli_env(settings.index_dir, settings.documents_dir))
    assert failed.returncode == 1
    assert "damaged" in failed.stderr and "cecot-rag index rebuild" in failed.stderr
    assert "Traceback" not in failed.stderr
    rebuilt = run_cli("index", "rebuild", env=cli_env(settings.index_dir, settings.documents_dir))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "2 added" in rebuilt.stdout
    assert list(settings.index_dir.glob("chroma.broken-*")), "the damaged store was not kept"
    check = check_index(settings)
    assert check.ok and check.documents == 2
    answer = Assistant(settings).retrieve("observer number 105 visit", top_k=1)
    assert "observer number 105" in answer[0].text


def test_index_built_with_another_embedding_model_is_refused_then_rebuilt(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    (source := folder / "note.md").parent.mkdir(parents=True)
    source.write_text("# Note\n\nThe CECOT prison opened in January 2023 in Tecoluca.\n")
    settings = Settings(index_dir=tmp_path / "index", documents_dir=tmp_path / "elsewhere")
    (settings.index_dir / "chroma").mkdir(parents=True)
    client = chromadb.PersistentClient(
        path=str(settings.index_dir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    other = {"schema": 1, "embedding_model": "some-768-dim-model", "dimension": 768}
    client.create_collection(settings.collection, metadata=other, embedding_function=None)
    records = client.create_collection(
        f"{settings.collection}_documents", metadata=other, embedding_function=None
    )
    records.add(
        ids=["doc1"],
        embeddings=[[1.0]],
        metadatas=[{"kind": "document", "source": str(source.resolve()), "version": "x", "passages": 1}],
    )
    client.close()
    with pytest.raises(IndexProblem, match=r"embedding_model=.*cecot-rag index rebuild"):
        Assistant(settings).documents()
    result = rebuild_index(settings)
    assert result.ingest.failed == [] and len(result.ingest.added) == 1
    assert result.moved_to and Path(result.moved_to).exists()
    assistant = Assistant(settings)
    assert [d.title for d in assistant.documents()] == ["Note"]
    assert "January 2023" in assistant.ask("When did CECOT open?").text


def test_rebuild_reports_sources_that_are_gone(tmp_path: Path) -> None:
    settings = _small_index(tmp_path)
    gone = sorted(settings.documents_dir.glob("*.md"))[0]
    gone.unlink()
    result = rebuild_index(settings)
    assert result.gone == [str(gone.resolve())]
    assert len(result.ingest.added) == 1
    assert "gone, not re-ingested" in result.render()


def test_index_check_finds_leftover_passages_of_a_crashed_ingest(tmp_path: Path) -> None:
    settings = _small_index(tmp_path)
    assistant = Assistant(settings)
    document = assistant.documents()[0]
    # What a writer killed between writing passages and committing leaves behind.
    assistant.store.begin(document.document_id, "deadbeef")
    passage = assistant.retrieve("observer", top_k=1)[0]
    assistant.store.passages.add(
        ids=[f"{document.document_id}:deadbeef:00000"],
        embeddings=[assistant.embedder.embed_one(passage.text)],
        documents=[passage.text],
        metadatas=[{"document_id": document.document_id, "version": "deadbeef"}],
    )
    report = check_index(settings)
    assert not report.ok
    assert any("an ingest that did not finish" in p for p in report.problems)
    assert all(
        p.document_id != document.document_id or "deadbeef" not in p.id
        for p in assistant.retrieve("observer", 20)
    )
    assistant.ingest([settings.documents_dir])  # the next ingest recovers
    assistant.release_writer()
    assert check_index(settings).ok
