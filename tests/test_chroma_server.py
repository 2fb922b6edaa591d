"""Scale-out on a real `chroma run` server: replicas (in-process and two `cecot-rag serve` processes)
share documents, changes show without restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cecot_rag import Assistant, Settings
from cecot_rag.assistant import DocumentNotFound
from cecot_rag.maintenance import check_index, rebuild_index
from conftest import ARTICLE, free_port
from helpers_quotes import assert_citation
from helpers_reliability import ChromaServer, cli_env, run_cli
from helpers_server import running_server

pytestmark = pytest.mark.slow

ZORBLAT = "# Zorblat annex\n\nThe Zorblat annex of the prison holds 412 cells built in 2031 near Tecoluca.\n"


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path_factory.mktemp("chroma-data"), free_port()).start()
    yield server
    server.stop()


def replica(tmp: Path, chroma: ChromaServer, name: str, collection: str) -> Assistant:
    """An app replica: its own local folder, the shared Chroma server."""
    return Assistant(
        Settings(
            index_dir=tmp / name, documents_dir=tmp / "docs", chroma_url=chroma.url, collection=collection
        )
    )


def test_document_ingested_through_one_replica_is_answerable_through_the_other(
    tmp_path: Path, chroma: ChromaServer
) -> None:
    first = replica(tmp_path, chroma, "a", "share_ingest")
    second = replica(tmp_path, chroma, "b", "share_ingest")
    assert second.documents() == []  # the second replica has read (and cached) the empty index
    report = first.ingest([ARTICLE])
    assert report.failed == [] and len(report.added) == 1
    assert [d.document_id for d in second.documents()] == report.added
    answer = second.ask("How many inmates can CECOT hold?")
    assert answer.answered and "40,000" in answer.text
    assert not (tmp_path / "a" / "chroma").exists(), "server mode must not create a local store"


def test_lexical_index_of_another_replica_follows_additions_and_deletions(
    tmp_path: Path, chroma: ChromaServer
) -> None:
    first = replica(tmp_path, chroma, "a", "share_lexical")
    second = replica(tmp_path, chroma, "b", "share_lexical")
    first.ingest([ARTICLE])
    assert second.store.lexical.search("zorblat", 5) == []
    (note := tmp_path / "zorblat.md").write_text(ZORBLAT)
    added = first.ingest([note]).added
    second.store.sync()
    hits = second.store.lexical.search("zorblat", 5)
    assert hits and hits[0][0].startswith(added[0])
    assert "412 cells" in second.ask("How many cells does the Zorblat annex hold?").text
    second.delete(added[0])
    first.store.sync()
    assert first.store.lexical.search("zorblat", 5) == []
    assert all(p.document_id != added[0] for p in first.retrieve("Zorblat annex cells", top_k=10))
    with pytest.raises(DocumentNotFound):
        first.delete(added[0])


def test_replacing_a_document_on_one_replica_updates_the_other_without_duplicates(
    tmp_path: Path, chroma: ChromaServer
) -> None:
    first = replica(tmp_path, chroma, "a", "share_update")
    second = replica(tmp_path, chroma, "b", "share_update")
    (note := tmp_path / "zorblat.md").write_text(ZORBLAT)
    document_id = first.ingest([note]).added[0]
    assert "412 cells" in second.ask("How many cells does the Zorblat annex hold?").text
    note.write_text(ZORBLAT.replace("412", "977"))
    assert first.ingest([note]).updated == [document_id]
    passages = second.retrieve("How many cells does the Zorblat annex hold?", top_k=10)
    assert len({p.id.split(":")[1] for p in passages if p.document_id == document_id}) == 1
    assert "977 cells" in passages[0].text
    assert check_index(second.settings).ok


def test_separate_processes_share_the_server_without_a_writer_lock(
    tmp_path: Path, chroma: ChromaServer
) -> None:
    env = cli_env(tmp_path / "cli-index", tmp_path / "docs", CECOT_RAG_CHROMA_URL=chroma.url)
    env["CECOT_RAG_COLLECTION"] = "share_processes"
    in_process = replica(tmp_path, chroma, "a", "share_processes")
    in_process.claim_writer("serve")  # a server replica: no lock is taken in server mode
    (note := tmp_path / "zorblat.md").write_text(ZORBLAT)
    ingested = run_cli("ingest", str(note), env=env)
    assert ingested.returncode == 0, ingested.stderr
    assert "412 cells" in in_process.ask("How many cells does the Zorblat annex hold?").text
    in_process.ingest([ARTICLE])
    asked = run_cli("ask", "How many inmates can CECOT hold?", "--json", env=env)
    assert asked.returncode == 0, asked.stderr
    assert "40,000" in json.loads(asked.stdout)["text"]
    listed = run_cli("docs", "--json", env=env)
    assert len(json.loads(listed.stdout)) == 2


def test_rebuild_on_the_server_renames_the_old_collections_and_reingests(
    tmp_path: Path, chroma: ChromaServer
) -> None:
    first = replica(tmp_path, chroma, "a", "share_rebuild")
    (note := tmp_path / "zorblat.md").write_text(ZORBLAT)
    first.ingest([note, ARTICLE])
    result = rebuild_index(first.settings)
    assert result.ingest.failed == [] and len(result.ingest.added) == 2
    assert result.moved_to and "share_rebuild_broken_" in result.moved_to
    fresh = replica(tmp_path, chroma, "b", "share_rebuild")
    assert len(fresh.documents()) == 2
    assert check_index(fresh.settings).ok


def test_a_commit_on_one_replica_keeps_the_version_another_replica_is_still_writing(
    tmp_path: Path, chroma: ChromaServer
) -> None:
    first = replica(tmp_path, chroma, "a", "share_race")
    second = replica(tmp_path, chroma, "b", "share_race")
    (note := tmp_path / "zorblat.md").write_text(ZORBLAT)
    document_id = first.ingest([note]).added[0]
    # The second replica is half-way through writing its own new version of the same document.
    record = second.store.record(document_id)
    assert record is not None
    passages = [
        p.model_copy(update={"id": f"{document_id}:slowver:00000"}) for p in second.retrieve("Zorblat", 1)
    ]
    second.store.begin(document_id, "slowver")
    second.store.write_passages(passages, "slowver", second.embedder.embed([p.text for p in passages]))
    note.write_text(ZORBLAT.replace("412", "977"))
    assert first.ingest([note]).updated == [document_id]
    assert f"{document_id}:slowver:00000" in first.store.all_passage_ids(), (
        "the other writer's passages were lost"
    )
    # The slow writer commits last and wins, with its passages; the first replica follows.
    record.version, record.passages = "slowver", 1
    second.store.commit(record)
    assert [p.id for p in first.retrieve("Zorblat annex cells", top_k=5) if p.document_id == document_id] == [
        f"{document_id}:slowver:00000"
    ]
    assert check_index(first.settings).ok


def test_two_serve_processes_on_one_chroma_server_upload_through_one_answer_through_the_other(
    tmp_path: Path, chroma: ChromaServer
) -> None:
    shared = {"chroma_url": chroma.url, "collection": "share_serve"}
    # The first server ingests the bundled article into the empty collection; the second starts
    # on a collection that is no longer empty and ingests nothing.
    with (
        running_server(tmp_path / "first", **shared) as first,
        running_server(tmp_path / "second", **shared) as second,
    ):
        listed = httpx.get(f"{second.base_url}/api/v1/documents", timeout=60).json()
        assert [d["title"] for d in listed] == [
            d["title"] for d in httpx.get(f"{first.base_url}/api/v1/documents", timeout=60).json()
        ]
        assert len(listed) == 1
        uploaded = httpx.post(
            f"{first.base_url}/api/v1/documents",
            files={"file": ("zorblat.md", ZORBLAT.encode(), "text/markdown")},
            timeout=300,
        )
        assert uploaded.status_code == 200, uploaded.text
        added = uploaded.json()["added"]
        assert len(added) == 1
        answer = httpx.post(
            f"{second.base_url}/api/v1/ask",
            json={"question": "How many cells does the Zorblat annex hold?"},
            timeout=300,
        ).json()
        assert answer["answered"] and "412 cells" in answer["text"]
        assert answer["citations"][0]["passage"]["document_id"] == added[0]
        assert_citation(answer["citations"][0], answer["text"])
        titles = [d["title"] for d in httpx.get(f"{second.base_url}/api/v1/documents", timeout=60).json()]
        assert "Zorblat annex" in titles and len(titles) == 2
        question = {"question": "How many inmates can CECOT hold?"}
        after = httpx.post(f"{second.base_url}/api/v1/ask", json=question, timeout=300).json()
        assert "40,000" in after["text"]
        for server in (first, second):
            assert not (server.index_dir / "chroma").exists(), "server mode must not create a local store"
