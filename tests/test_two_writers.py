"""Never two writers on one embedded index: a second writer is refused clearly; a crash frees the lock."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cecot_rag.locking import LOCK_NAME
from helpers_reliability import cli_env, kill, run_cli, start_cli, write_corpus

pytestmark = pytest.mark.slow

HOLDER = """
import sys, time
from cecot_rag import Assistant, Settings
Assistant(Settings(index_dir=sys.argv[1])).claim_writer("serve")
print("holding", flush=True)
time.sleep(600)
"""


def wait_for_lock_holder(index: Path, pid: int, timeout: float = 120) -> None:
    lock = index / LOCK_NAME
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads(lock.read_text()).get("pid") == pid:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never took the writer lock")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "reports"
    write_corpus(folder, documents=12, sentences=30)
    return folder


def test_ingest_is_refused_while_another_process_holds_the_index_and_allowed_after_it_crashes(
    tmp_path: Path, corpus: Path
) -> None:
    index = tmp_path / "index"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(index)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        refused = run_cli("ingest", str(corpus), env=cli_env(index, corpus))
        assert refused.returncode == 1
        assert "in use by another cecot-rag process" in refused.stderr
        assert f"pid {holder.pid}: serve" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert not (index / "chroma").exists(), "the refused writer touched the index"
    finally:
        kill(holder)  # SIGKILL: no chance to clean up, the lock file stays behind
    assert (index / LOCK_NAME).exists()
    after = run_cli("ingest", str(corpus), env=cli_env(index, corpus))
    assert after.returncode == 0, after.stderr
    assert "12 added" in after.stdout


def test_two_ingest_commands_at_once_one_writes_and_the_other_is_refused(
    tmp_path: Path, corpus: Path
) -> None:
    index = tmp_path / "index"
    env = cli_env(index, corpus)
    first = start_cli("ingest", str(corpus), env=env)
    try:
        wait_for_lock_holder(index, first.pid)
        second = run_cli("ingest", str(corpus), env=env)
        assert first.poll() is None, "the first ingest ended before the second started: no overlap tested"
        assert second.returncode == 1
        assert f"pid {first.pid}: ingest" in second.stderr
        out, err = first.communicate(timeout=600)
    finally:
        kill(first)
    assert first.returncode == 0, err
    assert "12 added" in out
    check = run_cli("index", "check", env=env)
    assert check.returncode == 0 and "12 documents" in check.stdout, check.stdout + check.stderr
