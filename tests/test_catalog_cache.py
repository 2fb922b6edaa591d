"""The catalog snapshot beside the index: a fast cold start that is never stale and never required."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from cecot_rag import Assistant
from cecot_rag.lexical import LexicalIndex
from cecot_rag.models import Passage
from cecot_rag.store import SNAPSHOT_FILE, DocumentRecord, mirror
from cecot_rag.store.catalog import Catalog
from cecot_rag.store.chroma import ChromaCollections
from cecot_rag.store.snapshot import OLD_PICKLE_FILE, MirrorState, load_snapshot, save_snapshot

QUESTION = "How many inmates can CECOT hold?"


@pytest.fixture
def cached_assistant(fresh_assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> Assistant:
    # The bundled corpus is small; lower the size at which a snapshot is kept so it is exercised.
    monkeypatch.setattr(mirror, "SNAPSHOT_MIN_PASSAGES", 1)
    fresh_assistant.ingest([fresh_assistant.settings.documents_dir])
    fresh_assistant.ask(QUESTION)
    return fresh_assistant


def _reopen(assistant: Assistant) -> Assistant:
    return Assistant(assistant.settings)


def test_a_new_process_answers_from_the_snapshot_without_scanning_chroma(
    cached_assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (cached_assistant.settings.index_dir / SNAPSHOT_FILE).is_file()
    expected = cached_assistant.ask(QUESTION)

    def no_scan(self: ChromaCollections, document_ids: list[str] | None) -> None:
        raise AssertionError("the catalog was rebuilt from Chroma instead of the snapshot")

    monkeypatch.setattr(ChromaCollections, "scan", no_scan)
    reopened = _reopen(cached_assistant)
    answer = reopened.ask(QUESTION)
    assert answer.answered and "40,000" in answer.text
    assert answer.text == expected.text
    assert [c.passage.id for c in answer.citations] == [c.passage.id for c in expected.citations]


def test_a_snapshot_from_an_older_revision_is_brought_up_to_date(
    cached_assistant: Assistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new process starts from the older snapshot and loads only what changed since."""
    extra = tmp_path / "extra.md"
    extra.write_text(
        "# Island prison\n\nHonduras announced an island prison for 2,000 gang leaders in June 2023.\n",
        encoding="utf-8",
    )
    path = cached_assistant.settings.index_dir / SNAPSHOT_FILE
    older = path.read_bytes()
    report = cached_assistant.ingest([extra])  # bumps the revision
    path.write_bytes(older)  # as if the ingest had run on another replica: the snapshot is older
    (extra_id,) = report.added
    scanned: list[list[str] | None] = []
    real_scan = ChromaCollections.scan

    def recording_scan(self: ChromaCollections, document_ids: list[str] | None):
        scanned.append(document_ids)
        return real_scan(self, document_ids)

    monkeypatch.setattr(ChromaCollections, "scan", recording_scan)
    reopened = _reopen(cached_assistant)
    assert {d.title for d in reopened.documents()} >= {"Island prison"}
    assert scanned == [[extra_id]]  # not a scan of the whole collection
    answer = reopened.ask("How many gang leaders will the Honduran island prison hold?")
    assert answer.answered and "2,000" in answer.text
    assert reopened.ask(QUESTION).text == cached_assistant.ask(QUESTION).text

    # Removed after the snapshot was written (the reopened process saved one with the island):
    cached_assistant.delete(extra_id)
    scanned.clear()
    again = _reopen(cached_assistant)
    assert "Island prison" not in {d.title for d in again.documents()}
    assert scanned == []  # nothing to load: the removal is applied to the snapshot's catalog
    assert all(p.document_id != extra_id for p in again.retrieve("island prison gang leaders Honduras"))
    cached_assistant.store.sync()  # passage_count() reads the mirror as last synced
    assert again.store.passage_count() == cached_assistant.store.passage_count()


def _answers_from_a_rebuilt_snapshot(cached_assistant: Assistant) -> Assistant:
    reopened = _reopen(cached_assistant)
    answer = reopened.ask(QUESTION)
    assert answer.answered and "40,000" in answer.text
    assert reopened.store.passage_count() == cached_assistant.store.passage_count()
    # The bad file was replaced by a snapshot a later process can start from.
    assert load_snapshot(reopened.settings.index_dir, reopened.store.mirror.identity) is not None
    return reopened


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped"])
def test_a_damaged_snapshot_falls_back_to_chroma(cached_assistant: Assistant, damage: str) -> None:
    path = cached_assistant.settings.index_dir / SNAPSHOT_FILE
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a snapshot")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # one byte of the texts changed: the zip's checksum no longer matches
        spot = data.index(b"CECOT")
        path.write_bytes(data[:spot] + b"X" + data[spot + 1 :])
    assert load_snapshot(path.parent, cached_assistant.store.mirror.identity) is None
    _answers_from_a_rebuilt_snapshot(cached_assistant)


class _Trap:
    """Unpickling this runs code: it creates the file named by path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def test_a_pickle_snapshot_is_never_loaded(cached_assistant: Assistant, tmp_path: Path) -> None:
    """The old catalog-cache.pkl, or a pickle under the new name, is ignored and replaced."""
    trap = tmp_path / "code-ran"
    folder = cached_assistant.settings.index_dir
    for name in (OLD_PICKLE_FILE, SNAPSHOT_FILE):
        (folder / name).write_bytes(pickle.dumps(_Trap(trap)))
    _answers_from_a_rebuilt_snapshot(cached_assistant)
    assert not trap.exists(), "a pickle was loaded"
    assert not (folder / OLD_PICKLE_FILE).exists()
    with np.load(folder / SNAPSHOT_FILE, allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)


def test_the_snapshot_holds_exactly_the_mirror(cached_assistant: Assistant) -> None:
    store = cached_assistant.store
    state = load_snapshot(store.settings.index_dir, store.mirror.identity)
    assert state is not None and state.revision == store.revision()
    assert state.records == store.records_by_id()
    assert list(state.catalog.items()) == list(store.mirror.catalog.items())
    for term in ("cecot", "bukel", "prison", "zzzz"):
        assert state.lexical.idf(term) == store.idf(term)
    for query in (QUESTION, "mano dura Honduras", "Operación Convivencia"):
        assert state.lexical.search(query, 10) == store.lexical.search(query, 10)
    other = {**store.mirror.identity, "model": "another-model"}
    assert load_snapshot(store.settings.index_dir, other) is None


def test_snapshot_round_trip_of_unusual_values(tmp_path: Path) -> None:
    passages = [
        Passage(
            id="d1:v:00000",
            document_id="d1",
            title="Ñandú “quoted” 🙂",
            source="/a b.md",
            page=None,
            start_char=0,
            end_char=12,
            text="Señor 40,000 🙂\nline",
        ),
        Passage(
            id="d1:v:00001",
            document_id="d1",
            title="Ñandú “quoted” 🙂",
            source="/a b.md",
            page=0,
            start_char=12,
            end_char=12,
            text="",
        ),
        Passage(
            id="d2:w:00000",
            document_id="d2",
            title="",
            source="https://example.org/x?y=1",
            page=7,
            start_char=3,
            end_char=40,
            text="Prisons in Ecuador",
        ),
    ]
    catalog, lexical = Catalog(), LexicalIndex()
    for p in passages:
        catalog.add(p)
    lexical.add_document("d1", [(p.id, p.text) for p in passages[:2]])
    lexical.add_document("d2", [(passages[2].id, passages[2].text)])
    record = DocumentRecord("d1", "Ñandú “quoted” 🙂", "/a b.md", "v", "h", 2, "2026-12-02T00:00:00+00:00")
    identity = {"location": str(tmp_path), "collection": "c", "model": "m"}
    save_snapshot(tmp_path, identity, MirrorState("rev1", {"d1": record}, catalog, lexical))
    state = load_snapshot(tmp_path, identity)
    assert state is not None and state.revision == "rev1" and state.records == {"d1": record}
    assert [state.catalog.get(p.id) for p in passages] == passages
    assert state.lexical.search("Ecuador señor", 5) == lexical.search("Ecuador señor", 5) != []
    state.lexical.remove_document("d2")  # a restored index still changes like the original
    lexical.remove_document("d2")
    assert state.lexical.search("Ecuador señor", 5) == lexical.search("Ecuador señor", 5)
