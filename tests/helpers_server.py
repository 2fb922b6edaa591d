"""Start a real `cecot-rag serve` process on a free loopback port with a temporary index."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from conftest import DOCUMENTS, free_port, stop_process, wait_for_http_ok

STARTUP_LIMIT_SECONDS = 300  # the model loads and the bundled corpus is ingested first, on a busy CI box


@dataclass
class RunningServer:
    base_url: str
    index_dir: Path
    documents_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cecot_rag.cli", "serve", *args]


def server_env(tmp: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CECOT_RAG_")}
    env.update(
        CECOT_RAG_INDEX_DIR=str(tmp / "index"),
        CECOT_RAG_DOCUMENTS_DIR=str(tmp / "documents"),
        HF_HUB_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
        GRADIO_ANALYTICS_ENABLED="False",
    )
    env.update({f"CECOT_RAG_{k.upper()}": v for k, v in settings.items()})
    return env


@contextmanager
def running_server(tmp: Path, *args: str, **settings: str) -> Iterator[RunningServer]:
    """`cecot-rag serve` on a copy of the bundled documents; yields once /healthz answers 200."""
    documents = tmp / "documents"
    if not documents.exists():
        shutil.copytree(DOCUMENTS, documents)
    port = free_port()
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            serve_command("--port", str(port), *args),
            env=server_env(tmp, **settings),
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = RunningServer(f"http://127.0.0.1:{port}", tmp / "index", documents, process, log_path)
    try:
        wait_for_http_ok(
            process, f"{server.base_url}/healthz", STARTUP_LIMIT_SECONDS, "cecot-rag serve", server.log
        )
        yield server
    finally:
        stop_process(process, grace=30)
