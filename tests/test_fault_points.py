"""Ingestion killed at each named fault point: readers see exactly the last committed version.

CECOT_RAG_FAULT makes `cecot-rag ingest` SIGKILL itself at one stage of writing a document (see
cecot_rag.faults), so every stage is hit deterministically instead of by a timer. After each kill
a reader (no writer lock, so no recovery) must see the previous committed index, passage for
passage, and its nearest passages must be the same ones; a writer's start must then leave the
index as a clean ingest of that version would (no leftovers), and the next ingest must finish it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from cecot_rag import Assistant, Settings
from cecot_rag.faults import FAULT_ENV, FAULT_POINTS
from cecot_rag.maintenance import check_index
from helpers_reliability import assert_consistent, cli_env, run_cli, snapshot, write_corpus

pytestmark = pytest.mark.slow

QUESTION = "What did observer number 40 record about Tecoluca during the monitoring mission?"
# Stages before the record names the new version: the old version must still be what readers see.
BEFORE_COMMIT_POINT = {"after-begin", "after-passages-written", "before-commit-record"}


@dataclass
class Visible:
    """What a reader sees: committed records, committed passages, and the nearest passages."""

    records: dict[str, tuple[str, int]]
    passages: dict[str, str]
    nearest: list[str]


def visible(settings: Settings) -> Visible:
    """Read the index as a reader process would (no writer lock held: nothing is recovered)."""
    assistant = Assistant(settings)
    try:
        store = assistant.store
        store.sync()
        records = {r.document_id: (r.version, r.passages) for r in store.records_by_id().values()}
        passages = {pid: row[-1] for pid, row in store.mirror.catalog.items()}
        nearest = [pid for pid, _ in store.dense_search(assistant.embedder.embed_one(QUESTION), 10)]
        return Visible(records, passages, nearest)
    finally:
        assistant.store.close()


def settings_for(index: Path, folder: Path) -> Settings:
    return Settings(index_dir=index, documents_dir=folder)


def fresh_ingest(index: Path, folder: Path) -> None:
    """Ingest in this process (the model is loaded once), then let go of the index."""
    assistant = Assistant(settings_for(index, folder))
    try:
        assert assistant.ingest([folder]).failed == []
    finally:
        assistant.release_writer()
        assistant.store.close()


@dataclass
class Versions:
    folder: Path
    old: Path  # index of the old corpus (the starting point of every crash)
    mixed: Path  # a clean index of report-00 new, report-01 old
    new: Path  # a clean index of the new corpus (which the crashed ingest was writing)


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Versions:
    """The same folder at three moments, each ingested into its own clean index."""
    tmp = tmp_path_factory.mktemp("versions")
    folder = tmp / "reports"
    # report-00 is large: its new version alone has more passages than dense search asks for, so
    # leftovers of a dead write can crowd every committed passage out of the nearest ones.
    big, small, other = write_corpus(folder, documents=3, sentences=16)
    write_corpus(tmp / "big", documents=1, sentences=240)
    shutil.copy(tmp / "big" / "report-00.md", big)
    fresh_ingest(tmp / "old", folder)
    for path in (big, small):
        path.write_text(path.read_text().replace("monitoring mission", "monitoring mission (revised)"))
        if path == big:
            fresh_ingest(tmp / "mixed", folder)
    fresh_ingest(tmp / "new", folder)
    assert other.exists()
    return Versions(folder, tmp / "old", tmp / "mixed", tmp / "new")


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_ingest_killed_at_a_fault_point_leaves_the_last_committed_version(
    versions: Versions, tmp_path: Path, point: str
) -> None:
    index = tmp_path / "index"
    shutil.copytree(versions.old, index)
    folder = versions.folder
    killed = run_cli("ingest", str(folder), env=cli_env(index, folder, **{FAULT_ENV: point}))
    assert killed.returncode == -9, f"not killed at {point}: {killed.returncode} {killed.stderr}"

    expected_index = versions.old if point in BEFORE_COMMIT_POINT else versions.mixed
    expected = visible(settings_for(expected_index, folder))
    seen = visible(settings_for(index, folder))
    assert seen.records == expected.records
    assert seen.passages == expected.passages  # the same passages: not fewer, not none, no others
    assert seen.nearest == expected.nearest  # leftovers never crowd committed passages out
    assert len(seen.nearest) == 10

    # A writer's start (serve claims the lock, then opens the store) recovers.
    writer = Assistant(settings_for(index, folder))
    writer.claim_writer("serve")
    assert len(writer.retrieve(QUESTION, top_k=5)) == 5
    writer.release_writer()
    writer.store.close()
    shot, clean = snapshot(settings_for(index, folder)), snapshot(settings_for(expected_index, folder))
    assert_consistent(shot)
    assert shot.records == clean.records and shot.passages == clean.passages
    assert check_index(settings_for(index, folder)).ok

    # The next ingest writes what the killed one could not.
    fresh_ingest(index, folder)
    final, new = snapshot(settings_for(index, folder)), snapshot(settings_for(versions.new, folder))
    assert_consistent(final)
    assert final.records == new.records and final.passages == new.passages
