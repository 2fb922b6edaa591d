"""Under CI=true a skipped test fails the run (conftest), so a CI machine without chromium,
playwright, gradio_client, the llama.cpp server or a benchmark file cannot pass by skipping."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

SKIPPING = """
import pytest

@pytest.mark.skipif(True, reason="needs Debian chromium")
def test_browser(): pass

def test_benchmark(): pytest.skip("benchmark file missing")

def test_gradio_client(): pytest.importorskip("no_such_module_for_this_test")

def test_plain(): pass
"""


def run_with_the_suite_hooks(folder: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    """pytest on folder with this suite's conftest loaded as a plugin (and nothing else of it);
    the summary lists skip reasons (-rs)."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), *sys.path])
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "conftest",
            "-c",
            os.devnull,
            "--rootdir",
            str(folder),
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_skips_fail_under_ci_and_stay_skips_elsewhere(tmp_path: Path) -> None:
    (tmp_path / "test_skipping.py").write_text(SKIPPING, encoding="utf-8")
    ci = run_with_the_suite_hooks(tmp_path, "true")
    assert ci.returncode == 1, ci.stdout
    assert "2 failed, 1 passed, 1 error" in ci.stdout
    assert "skipped under CI=true" in ci.stdout and "needs Debian chromium" in ci.stdout
    local = run_with_the_suite_hooks(tmp_path, None)
    assert local.returncode == 0, local.stdout
    assert "1 passed, 3 skipped" in local.stdout


def test_a_module_level_importorskip_fails_the_collection_under_ci(tmp_path: Path) -> None:
    (tmp_path / "test_module_skip.py").write_text(
        'import pytest\n\npytest.importorskip("playwright_missing_here")\n\n\ndef test_page(): pass\n',
        encoding="utf-8",
    )
    ci = run_with_the_suite_hooks(tmp_path, "true")
    assert ci.returncode != 0, ci.stdout
    assert "skipped under CI=true" in ci.stdout and "playwright_missing_here" in ci.stdout
    assert "1 skipped" in run_with_the_suite_hooks(tmp_path, "false").stdout


READS_SHARED = """
from pathlib import Path

from conftest import shared_file


def test_reads_shared():
    assert shared_file("sets/one.json", Path(__file__).parent / "shared").read_text() == "ok"
"""


def test_a_test_that_reads_shared_skips_where_it_is_absent_and_fails_where_its_file_is_missing(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_reads_shared.py").write_text(READS_SHARED, encoding="utf-8")
    absent = run_with_the_suite_hooks(tmp_path, "true")
    assert absent.returncode == 0, absent.stdout  # the one skip CI=true allows
    assert "1 skipped" in absent.stdout and "a clone without ../shared" in absent.stdout

    (tmp_path / "shared").mkdir()
    missing = run_with_the_suite_hooks(tmp_path, None)  # a failure whether or not CI=true
    assert missing.returncode == 1, missing.stdout
    assert "1 failed" in missing.stdout and "so it must hold sets/one.json" in missing.stdout

    (tmp_path / "shared" / "sets").mkdir()
    (tmp_path / "shared" / "sets" / "one.json").write_text("ok", encoding="utf-8")
    present = run_with_the_suite_hooks(tmp_path, "true")
    assert present.returncode == 0 and "1 passed" in present.stdout, present.stdout
