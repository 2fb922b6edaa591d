"""The catalog snapshot beside the index: a fast cold start that is never stale and never required."""

from __future__ import annotations

from pathlib import Path

import pytest

from cecot_rag import Assistant
from cecot_rag import store as store_module
from cecot_rag.store import CATALOG_CACHE, PassageStore

QUESTION = "How many inmates can CECOT hold?"


@pytest.fixture
def cached_assistant(fresh_assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> Assistant:
    # The bundled corpus is small; lower the size at which a snapshot is kept so it is exercised.
    monkeypatch.setattr(store_module, "CATALOG_CACHE_MIN_PASSAGES", 1)
    fresh_assistant.ingest([fresh_assistant.settings.documents_dir])
    fresh_assistant.ask(QUESTION)
    return fresh_assistant


def _reopen(assistant: Assistant) -> Assistant:
    return Assistant(assistant.settings)


def test_a_new_process_answers_from_the_snapshot_without_scanning_chroma(
    cached_assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (cached_assistant.settings.index_dir / CATALOG_CACHE).is_file()
    expected = cached_assistant.ask(QUESTION)

    def no_scan(self: PassageStore, document_ids: list[str] | None) -> None:
        raise AssertionError("the catalog was rebuilt from Chroma instead of the snapshot")

    monkeypatch.setattr(PassageStore, "_scan", no_scan)
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
    report = cached_assistant.ingest([extra])  # bumps the revision; the snapshot on disk is now older
    (extra_id,) = report.added
    scanned: list[list[str] | None] = []
    real_scan = PassageStore._scan

    def recording_scan(self: PassageStore, document_ids: list[str] | None):
        scanned.append(document_ids)
        return real_scan(self, document_ids)

    monkeypatch.setattr(PassageStore, "_scan", recording_scan)
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
    assert again.store.passage_count() == cached_assistant.store.passage_count()


def test_a_damaged_snapshot_falls_back_to_chroma(cached_assistant: Assistant) -> None:
    (cached_assistant.settings.index_dir / CATALOG_CACHE).write_bytes(b"not a pickle")
    reopened = _reopen(cached_assistant)
    answer = reopened.ask(QUESTION)
    assert answer.answered and "40,000" in answer.text
    assert reopened.store.passage_count() == cached_assistant.store.passage_count()
