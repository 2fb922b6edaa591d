"""Mutation checks: plant known bugs in a copy of src/ and require a test to catch each one.

Each mutant is one textual patch (the old text must occur exactly once, so a refactor that moves
the code fails here loudly instead of silently testing nothing). The tree is copied to a
temporary folder, patched, and the chosen test files run with PYTHONPATH pointing at the copy
(subprocesses such as `cecot-rag ingest` inherit it). A mutant is killed when pytest reports
failures (exit 1); it survives on exit 0; any other exit is an error. Stdlib only.

    python tests/mutation/run.py              # every mutant
    python tests/mutation/run.py quote-offset # some, by name
    python tests/mutation/run.py --list

The last line is "mutation: N passed, M failed" (passed = killed); exit 1 if any mutant survived
or errored.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# The pipeline's two steps for one document, swapped by the commit-order mutant.
_WRITE_PASSAGES = """            self.store.write_passages(
                item.passages,
                item.version,
                embeddings[offset : offset + count],
                packed[offset : offset + count] if packed is not None else None,
                self.embedder.model_name,
            )
            offset += count
            fault_point("after-passages-written")
"""
_COMMIT_RECORD = """            record = DocumentRecord(
                document_id=item.document_id,
                title=item.document.title,
                source=item.document.source,
                version=item.version,
                file_hash=item.document.content_hash,
                passages=count,
                ingested_at=now_iso(),
                author=item.document.metadata.get("author", ""),
                pipeline=self.pipeline_key,
            )
            self.store.commit(record)
"""


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # under src/cecot_rag/
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments that must catch it


MUTANTS = [
    Mutant(
        "quote-offset",
        "answer/candidates.py",
        "return Evidence(self.passage, self.start, self.end)",
        "return Evidence(self.passage, self.start + 1, self.end)",
        ("tests/test_core_answers.py",),
    ),
    Mutant(
        "commit-before-passages",
        "ingest/pipeline.py",
        _WRITE_PASSAGES + _COMMIT_RECORD,
        _COMMIT_RECORD + _WRITE_PASSAGES,
        ("tests/test_fault_points.py", "-k", "after-passages-written"),
    ),
    Mutant(
        "threshold-lowered",
        "answer/path.py",
        "self.threshold = scorer.threshold if threshold is None else threshold",
        "self.threshold = scorer.threshold - 0.1 if threshold is None else threshold",
        ("tests/test_abstention.py",),
    ),
    Mutant(
        "threshold-raised",
        "answer/path.py",
        "self.threshold = scorer.threshold if threshold is None else threshold",
        "self.threshold = scorer.threshold + 0.1 if threshold is None else threshold",
        ("tests/test_abstention.py",),
    ),
    Mutant(
        "answers-below-threshold",
        "answer/select.py",
        "    if not decision.answers:\n",
        "    if decision.score < 0.5 * threshold:\n",
        ("tests/test_answer_path.py", "-k", "decision"),
    ),
    Mutant(
        "follow-up-not-joined",
        "answer/followup.py",
        'joined = Reading(f"{previous[-1]} {question}", True)',
        "joined = Reading(question, True)",
        ("tests/test_answer_path.py", "-k", "follow_up"),
    ),
    Mutant(
        "citation-precision-by-passage",
        "evaluation/metrics.py",
        '"citation_precision": _share(bool(c.get("supported")) for c in cited),',
        '"citation_precision": _share(bool(c.get("supported_passage")) for c in cited),',
        ("tests/test_evaluation_metrics.py", "-k", "quote_not"),
    ),
    Mutant(
        "citation-renumbering-dropped",
        "answer/base.py",
        "        numbers.append(seen[key])",
        "        numbers.append(len(numbers) + 1)",
        ("tests/test_verify.py", "-k", "renumbered"),
    ),
    Mutant(
        "chunk-offset-off-by-one",
        "ingest/chunking.py",
        "chunks.append(Chunk(start, end, text[start:end]))",
        "chunks.append(Chunk(start + 1, end, text[start:end]))",
        ("tests/test_chunking.py",),
    ),
    Mutant(
        "fusion-order-swapped",
        "retrieve.py",
        "return sorted(scores.items(), key=lambda kv: -kv[1])",
        "return sorted(scores.items(), key=lambda kv: kv[1])",
        ("tests/test_answer_path.py", "-k", "fusion or rankings_agree"),
    ),
    Mutant(
        "no-recovery-at-start",
        "store/facade.py",
        "        if settings.chroma_url or holds_writer_lock(settings.index_dir):\n",
        "        if False:\n",
        ("tests/test_fault_points.py", "-k", "after-passages-written"),
    ),
    Mutant(
        "leftovers-crowd-dense-search",
        "store/facade.py",
        "found = self.chroma.query(query_embedding, n + uncommitted)",
        "found = self.chroma.query(query_embedding, n)",
        ("tests/test_fault_points.py", "-k", "after-passages-written"),
    ),
    Mutant(
        "uploads-not-reconciled-at-start",
        "store/facade.py",
        "reconcile_uploads(settings.uploads_dir,",
        "(lambda *_: None)(settings.uploads_dir,",
        ("tests/test_upload_recovery.py", "-k", "new_upload"),
    ),
    Mutant(
        "committed-upload-not-rolled-forward",
        "store/uploads.py",
        "            staged.replace(target)  # committed, killed before the move: finish it",
        "            staged.unlink()",
        ("tests/test_upload_recovery.py", "-k", "after-commit-record"),
    ),
    Mutant(
        "upload-replaced-before-commit",
        "ingest/pipeline.py",
        "            self.store.commit(record)\n            _move_into_place(item.staged)",
        "            _move_into_place(item.staged)\n            self.store.commit(record)",
        ("tests/test_upload_recovery.py", "-k", "before-commit-record"),
    ),
    Mutant(
        "no-sync-per-question",
        "assistant.py",
        "        self.store.sync()\n        path = self.path",
        "        path = self.path",
        ("tests/test_chroma_server.py", "-k", "two_serve"),
    ),
    Mutant(
        "recovery-leaves-old-versions",
        "store/writes.py",
        "                finished = True\n",
        "                finished = True\n                continue\n",
        ("tests/test_fault_points.py", "-k", "after-commit-record"),
    ),
]


def plant(mutant: Mutant, copy: Path) -> None:
    target = copy / "src" / "cecot_rag" / mutant.path
    text = target.read_text(encoding="utf-8")
    found = text.count(mutant.old)
    if found != 1:
        raise RuntimeError(f"{mutant.name}: the text to mutate occurs {found} times in {mutant.path}")
    target.write_text(text.replace(mutant.old, mutant.new), encoding="utf-8")


def run_mutant(mutant: Mutant) -> tuple[str, float, str]:
    """('killed' | 'SURVIVED' | 'error', seconds, the failing test and why, or pytest's last line)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as tmp:
        copy = Path(tmp)
        shutil.copytree(ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__"))
        plant(mutant, copy)
        env = dict(os.environ, PYTHONPATH=str(copy / "src"), PYTHONDONTWRITEBYTECODE="1")
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutant.tests],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    # pytest's short summary (-ra in pyproject) names the test that failed and its first error line.
    failures = [line.removeprefix("FAILED ") for line in lines if line.startswith("FAILED ")]
    summary = failures[0][:160] if failures else (lines[-1] if lines else done.stderr.strip()[-200:])
    outcome = {1: "killed", 0: "SURVIVED"}.get(done.returncode, "error")
    return outcome, time.monotonic() - started, summary


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests")
    args = parser.parse_args()
    known = {m.name: m for m in MUTANTS}
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:32} {m.path:24} {' '.join(m.tests)}")
        return 0
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown mutant(s): {', '.join(unknown)}")
    chosen = [known[n] for n in args.names] if args.names else MUTANTS
    killed = failed = 0
    print(f"{'mutant':32} {'result':9} {'seconds':>7}  test run (first failure)")
    for mutant in chosen:
        outcome, seconds, summary = run_mutant(mutant)
        killed += outcome == "killed"
        failed += outcome != "killed"
        tests = " ".join(mutant.tests)
        print(f"{mutant.name:32} {outcome:9} {seconds:7.0f}  {tests}  ({summary})", flush=True)
    print(f"mutation: {killed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
