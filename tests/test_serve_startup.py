"""`cecot-rag serve` as a new user starts it (issue 24 item 2): the real console script says it is
starting before its heavy imports, `ready after N s` counts from the process's start, and the
empty-index line appears only when the index is empty."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import DOCUMENTS, free_port, stop_process
from helpers_server import STARTUP_LIMIT_SECONDS, server_env

pytestmark = pytest.mark.slow

CONSOLE_SCRIPT = Path(sys.executable).with_name("cecot-rag")
HEAVY = ("gradio", "torch", "chromadb", "onnxruntime", "fastapi", "uvicorn")
READY = re.compile(r"^cecot-rag: ready after (\d+) s: ")


def process_age(pid: int) -> float:
    """Seconds since process pid started, from /proc (as the server itself measures it)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()
    uptime = float(Path("/proc/uptime").read_text(encoding="ascii").split()[0])
    return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")


@dataclass
class Startup:
    lines: list[str] = field(default_factory=list)
    reported: int = 0  # N of `ready after N s`
    age_when_seen: float = 0.0  # the process's age when this test read that line


def start_and_wait_for_ready(tmp: Path, **env: str) -> Startup:
    """Run the console script until it prints its ready line (read every 50 ms), then stop it."""
    log_path = tmp / f"serve-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(CONSOLE_SCRIPT), "serve", "--port", str(free_port())],
            env={**server_env(tmp), **env},
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    startup = Startup()
    try:
        deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            age = process_age(process.pid)
            startup.lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
            ready = [m for m in map(READY.match, startup.lines) if m]
            if ready:
                startup.reported, startup.age_when_seen = int(ready[0].group(1)), age
                return startup
            time.sleep(0.05)
        raise AssertionError("no ready line:\n" + "\n".join(startup.lines[-40:]))
    finally:
        stop_process(process)


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the cecot-rag console script is not installed")
def test_serve_says_it_is_starting_at_once_and_counts_ready_from_the_process_start(tmp_path: Path) -> None:
    shutil.copytree(DOCUMENTS, tmp_path / "documents")
    # Python's own import log shows what had been imported when the first line was printed.
    first = start_and_wait_for_ready(tmp_path, PYTHONPROFILEIMPORTTIME="1")
    ours = [i for i, line in enumerate(first.lines) if line.startswith("cecot-rag: ")]
    assert first.lines[ours[0]].startswith("cecot-rag: starting cecot-rag"), first.lines[ours[0]]
    imported_before = [line for line in first.lines[: ours[0]] if line.startswith("import time:")]
    heavy = [line for line in imported_before if any(f" {name}" in line for name in HEAVY)]
    assert heavy == [], heavy
    assert "cecot-rag: the index is empty: ingesting the 1 file in" in "\n".join(first.lines)
    # Counted from the process's start, imports included (the line is read within 50 ms).
    assert abs(first.reported - first.age_when_seen) <= 2, (first.reported, first.age_when_seen)

    again = start_and_wait_for_ready(tmp_path)  # the same index, now holding the article
    assert not any("empty" in line for line in again.lines), again.lines
    assert abs(again.reported - again.age_when_seen) <= 2, (again.reported, again.age_when_seen)
