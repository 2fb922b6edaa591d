"""The store's in-memory mirror: synced once per question and on request, never as a side effect."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cecot_rag import Assistant
from cecot_rag.ingest.pipeline import IngestPipeline
from cecot_rag.store import PassageStore, mirror
from cecot_rag.store.writes import VersionedWrites

QUESTION = "How many inmates can CECOT hold?"
ZORBLAT = "# Zorblat annex\n\nThe Zorblat annex of the prison holds 412 cells built in 2031 near Tecoluca.\n"


@pytest.fixture
def ingested(fresh_assistant: Assistant) -> Assistant:
    fresh_assistant.ingest([fresh_assistant.settings.documents_dir])
    fresh_assistant.release_writer()
    return fresh_assistant


def count_revision_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the reads of Chroma's revision record, the read every sync() makes."""
    reads: list[int] = []
    real = VersionedWrites.revision

    def counting(self: VersionedWrites) -> str:
        reads.append(1)
        return real(self)

    monkeypatch.setattr(VersionedWrites, "revision", counting)
    return reads


def write_elsewhere(assistant: Assistant, folder: Path) -> str:
    """Ingest a note through a second store on the same index, as another process would."""
    (note := folder / "zorblat.md").write_text(ZORBLAT, encoding="utf-8")
    settings, embedder = assistant.settings, assistant.embedder
    other = PassageStore(settings, embedder.model_name, embedder.dimension)
    try:
        (added,) = IngestPipeline(settings, other, embedder).run([note]).added
    finally:
        other.close()
    return added


@pytest.mark.parametrize(
    "action",
    [
        lambda a: a.ask(QUESTION),
        lambda a: list(a.ask_stream(QUESTION)),
        lambda a: a.ask("And its capacity?", history=[{"role": "user", "content": QUESTION}]),
        lambda a: a.retrieve(QUESTION),
    ],
    ids=["ask", "ask_stream", "follow-up", "retrieve"],
)
def test_a_question_reads_the_revision_once(
    ingested: Assistant, monkeypatch: pytest.MonkeyPatch, action: Callable[[Assistant], object]
) -> None:
    action(ingested)  # warm: the answerer exists and the mirror is in step
    reads = count_revision_reads(monkeypatch)
    action(ingested)
    assert len(reads) == 1


def test_reads_of_the_mirror_do_not_sync(ingested: Assistant, tmp_path: Path) -> None:
    store = ingested.store
    before = store.passage_count()
    assert before > 0
    added = write_elsewhere(ingested, tmp_path)
    new_ids = [p.id for p in store.document_passages(added)]
    assert new_ids
    # Counts, passages and BM25 stay as of the last sync ...
    assert store.passage_count() == before
    assert all(store.catalog_passage(pid) is None for pid in new_ids)
    assert store.lexical.search("zorblat", 5) == []
    assert all(p.document_id != added for p in ingested.retriever.rank("Zorblat annex cells", 5))
    # ... until a question syncs.
    answer = ingested.ask("How many cells does the Zorblat annex hold?")
    assert answer.answered and "412 cells" in answer.text
    assert store.passage_count() == before + len(new_ids)
    assert store.lexical.search("zorblat", 5)[0][0] in new_ids


def test_documents_and_is_empty_sync_themselves(fresh_assistant: Assistant, tmp_path: Path) -> None:
    assert fresh_assistant.store.is_empty()
    added = write_elsewhere(fresh_assistant, tmp_path)
    assert not fresh_assistant.store.is_empty()
    assert [d.document_id for d in fresh_assistant.documents()] == [added]


def test_the_answerer_weighs_terms_with_the_index_a_snapshot_brought(
    fresh_assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answerer is built before the first sync, which replaces the BM25 index with the
    snapshot's: its IDF must come from the index in use, not the one it was built with."""
    monkeypatch.setattr(mirror, "SNAPSHOT_MIN_PASSAGES", 1)
    fresh_assistant.ingest([fresh_assistant.settings.documents_dir])  # syncs: saves a snapshot
    reopened = Assistant(fresh_assistant.settings)
    path = reopened.path
    assert len(reopened.store.lexical) == 0  # nothing synced yet
    answer = reopened.ask(QUESTION)
    assert answer.answered and "40,000" in answer.text
    known = reopened.store.lexical.idf("cecot")
    assert known < reopened.store.lexical.idf("zzzz")  # a term the passages hold is not rare
    assert path.extractor.idf("cecot") == known


def test_document_passages_are_the_committed_version_in_order(ingested: Assistant) -> None:
    store = ingested.store
    [document] = ingested.documents()
    passages = store.document_passages(document.document_id)
    assert len(passages) == document.passages
    assert [p.start_char for p in passages] == sorted(p.start_char for p in passages)
    assert passages == [store.catalog_passage(p.id) for p in passages]
    # A version being written (not committed) is left out.
    store.begin(document.document_id, "unfinished")
    draft = [p.model_copy(update={"id": p.id.replace(":", ":x", 1)}) for p in passages[:2]]
    vectors = store.embeddings([p.id for p in passages[:2]])
    store.write_passages(draft, "unfinished", np.vstack([vectors[p.id] for p in passages[:2]]))
    assert store.document_passages(document.document_id) == passages
    assert store.document_passages("no-such-document") == []
