"""The lab outside the runtime: without the `bench` extra, the bench and the baseline say so in one
line (exit status 2), and importing cecot_rag.bench needs neither the extra nor torch.

A missing extra is simulated in a fresh interpreter by a meta-path finder that refuses the extra's
modules, the way Python reports a package that is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

BENCH_MESSAGE = "cecot-rag bench needs the 'bench' extra: pip install 'cecot-rag[bench]'"
BASELINE_MESSAGE = "cecot-rag eval --baseline needs the 'bench' extra: pip install 'cecot-rag[bench]'"

# argv[1]: comma-separated module names this interpreter behaves as if they were not installed.
BLOCKER = """
import sys

class NotInstalled:
    def __init__(self, names):
        self.names = names

    def find_spec(self, name, path=None, target=None):
        if any(name == n or name.startswith(n + ".") for n in self.names):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled(sys.argv[1].split(",")))
"""

RUN_BENCH = """
from pathlib import Path
from cecot_rag.bench import BenchOptions, run_bench
from cecot_rag.errors import UsageError
try:
    run_bench(BenchOptions(sizes=[200, 1000], repeat=1, out=Path(sys.argv[2]), quick=True))
except UsageError as exc:
    print(f"UsageError: {exc}", file=sys.stderr)
    sys.exit(2)
"""

CLI = "from cecot_rag.cli import main\nsys.exit(main(sys.argv[2:]))\n"


def without(modules: str, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter in which the given modules cannot be imported."""
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code, modules, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("missing", ["matplotlib", "llama_index.vector_stores.chroma"])
def test_run_bench_without_the_extra_raises_the_one_line_message_before_measuring(
    tmp_path: Path, missing: str
) -> None:
    out = tmp_path / "out"
    done = without(missing, RUN_BENCH, str(out))
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"UsageError: {BENCH_MESSAGE}\n"  # nothing measured, nothing logged
    assert not out.exists()


def test_the_baseline_module_without_the_extra_raises_the_one_line_message() -> None:
    code = (
        "from cecot_rag.errors import MissingExtra\n"
        "try:\n"
        "    from cecot_rag.bench.baseline import NaiveLlamaIndexPipeline\n"
        "except MissingExtra as exc:\n"
        "    print(exc.extra, exc)\n"
    )
    done = without("llama_index.embeddings.huggingface", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"bench {BASELINE_MESSAGE}\n"


def test_the_plot_without_matplotlib_raises_the_one_line_message(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path\n"
        "from cecot_rag.bench.report import plot\n"
        "from cecot_rag.errors import MissingExtra\n"
        "try:\n"
        "    plot({'latency': [], 'machine': {'cpus': 2}}, Path(sys.argv[2]))\n"
        "except MissingExtra as exc:\n"
        "    print(exc)\n"
    )
    done = without("matplotlib", code, str(tmp_path / "latency.png"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{BENCH_MESSAGE}\n"
    assert not (tmp_path / "latency.png").exists()


def test_importing_the_bench_package_needs_neither_the_extra_nor_torch() -> None:
    code = (
        "import json, sys\n"
        "import cecot_rag.bench, cecot_rag.bench.corpus, cecot_rag.bench.measure, cecot_rag.bench.report\n"
        "heavy = ('torch', 'matplotlib', 'llama_index.embeddings', 'llama_index.vector_stores')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_cli_bench_quick_without_the_extra_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = without("matplotlib", CLI, "bench", "--quick", "--out", str(out))
    assert (done.returncode, done.stderr) == (2, f"cecot-rag: error: {BENCH_MESSAGE}\n")
    assert done.stdout == "" and not out.exists()


def test_cli_eval_baseline_without_the_extra_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    set_path = tmp_path / "tiny.jsonl"
    case = {
        "id": "capacity",
        "question": "How many inmates can CECOT hold?",
        "reference_answer": "CECOT can hold 40,000 inmates.",
        "expected_facts": ["40,000"],
        "reference_contexts": ["40,000 inmates"],
    }
    set_path.write_text(json.dumps(case) + "\n", encoding="utf-8")
    done = without(
        "llama_index.vector_stores.chroma",
        CLI,
        "eval",
        "--set",
        str(set_path),
        "--corpus",
        str(ROOT / "documents"),
        "--baseline",
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == f"cecot-rag: error: {BASELINE_MESSAGE}"
    assert "Traceback" not in done.stderr
