"""Shared fixtures: the real embedding model, real embedded Chroma, free loopback ports.

Area-specific fixtures live in the test modules that use them (or in tests/helpers_*.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
for _name in [k for k in os.environ if k.startswith("CECOT_RAG_")]:
    del os.environ[_name]  # tests choose their settings explicitly

from cecot_rag import Assistant, Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ROOT / "documents"
ARTICLE = next(DOCUMENTS.glob("*.md"))
# Shared data beside the checkout (benchmark sets); never copied into the repository.
SHARED = ROOT.parent / "shared"


def skips_fail() -> bool:
    """Under CI=true every test must run: a missing chromium, playwright, gradio_client, llama.cpp
    server or benchmark file is a broken CI machine, not a reason to pass. One exception: a clone
    with no ../shared at all (see shared_file)."""
    return os.environ.get("CI") == "true"


class SharedAbsent(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """The one skip CI=true allows: ../shared is not beside this checkout at all."""


def shared_file(relative: str, shared: Path = SHARED) -> Path:
    """The file ../shared/<relative>, for every test that reads one.

    Where ../shared is absent entirely (a clone elsewhere) the test is skipped with a message, even
    under CI=true; where ../shared exists, as on the project's own CI, a missing file fails the
    test (and a wrong one fails the test's own assertions). eval/gate.sh follows the same rule.
    """
    if not shared.is_dir():
        raise SharedAbsent(f"{shared} is absent (a clone without ../shared), so {relative} cannot be read")
    path = shared / relative
    if not path.is_file():
        pytest.fail(f"{path} is missing: {shared} exists, so it must hold {relative}", pytrace=False)
    return path


def _as_failure(report: pytest.CollectReport | pytest.TestReport) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, where every test must run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    allowed = call.excinfo is not None and call.excinfo.errisinstance(SharedAbsent)
    if skips_fail() and report.skipped and not hasattr(report, "wasxfail") and not allowed:
        _as_failure(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if skips_fail() and report.skipped:  # a module-level importorskip
        _as_failure(report)


# Debian's chromium, driven by Playwright (which never downloads a browser).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless chromium per test module (the browser tests' modules skip without it)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http_ok(
    process: subprocess.Popen,  # type: ignore[type-arg]
    url: str,
    seconds: float,
    what: str,
    log: Callable[[], str] = lambda: "",
) -> None:
    """Poll url until it answers 200; RuntimeError (with the log) if the process exits or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log()}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer {url} within {seconds:g} s:\n{log()}")


def stop_process(process: subprocess.Popen, grace: float = 30) -> None:  # type: ignore[type-arg]
    """Ask a server process to stop; kill it if it has not within grace seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


def make_settings(tmp: Path, **overrides: object) -> Settings:
    """Settings for a fresh index under tmp, documents from a copy of the bundled corpus."""
    docs = tmp / "documents"
    if not docs.exists():
        shutil.copytree(DOCUMENTS, docs)
    values: dict[str, object] = {"index_dir": tmp / "index", "documents_dir": docs}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def bundled_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    """One Assistant with the bundled corpus ingested once per test session (read-only use)."""
    tmp = tmp_path_factory.mktemp("bundled")
    assistant = Assistant(make_settings(tmp))
    report = assistant.ingest([assistant.settings.documents_dir])
    assert report.failed == [] and len(report.added) == 1
    yield assistant
    assistant.release_writer()


@pytest.fixture
def fresh_assistant(tmp_path: Path) -> Iterator[Assistant]:
    """An Assistant on an empty index in this test's own folder."""
    assistant = Assistant(make_settings(tmp_path))
    yield assistant
    assistant.release_writer()
