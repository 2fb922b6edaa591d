"""`cecot-rag eval --check-set`: validate a set without running it.

Reports every problem, one `file:line: ...` per line: unknown fields, cases with nothing to check,
duplicate ids, history roles (all from the set's strict reading, see dataset.read_set), and, when a
corpus is given, reference contexts and expected facts that appear nowhere in it (a context the
corpus does not hold can never be retrieved: hit rate silently drops to 0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from cecot_rag.evaluation.dataset import EvalSet, read_set
from cecot_rag.evaluation.metrics import alternatives, normalize
from cecot_rag.ingest.loaders import SUPPORTED_SUFFIXES, load_file

SKIPPED = (
    "corpus checks skipped: give --corpus DIR or --corpus-from-set to check that reference "
    "contexts and expected facts occur in the corpus"
)


@dataclass
class SetCheck:
    """What --check-set found: problems (each `file:line: ...`) and notes on what was not checked."""

    eval_set: EvalSet
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        cases = f"{self.eval_set.path}: {len(self.eval_set.cases)} cases ({self.eval_set.format})"
        if not self.problems:
            return f"{cases}, no problems"
        return f"{cases}, {len(self.problems)} problem(s)"


def check_set(path: Path, corpus: Path | None = None, corpus_from_set: bool = False) -> SetCheck:
    """Validate the set at path; with a corpus folder (or the set's own passages), check it holds the gold."""
    eval_set, found = read_set(path)
    result = SetCheck(eval_set, problems=list(found))
    if corpus is not None:
        texts, unreadable = corpus_texts(corpus)
        result.notes += unreadable
    elif corpus_from_set:
        texts = eval_set.passages()
    else:
        result.notes.append(SKIPPED)
        return result
    if not texts:
        result.problems.append(f"{corpus or path}: the corpus holds no readable documents")
        return result
    result.problems += missing_from_corpus(eval_set, [normalize(t) for t in texts])
    return result


def corpus_texts(folder: Path) -> tuple[list[str], list[str]]:
    """The extracted text of every document ingestion would take from folder, and notes on failures."""
    texts, notes = [], []
    for path in sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
    ):
        try:
            texts.append(load_file(path).text)
        except Exception as exc:  # one unreadable document must not stop the check
            notes.append(f"{path}: not read ({type(exc).__name__}: {exc})")
    return texts, notes


def missing_from_corpus(eval_set: EvalSet, documents: list[str]) -> list[str]:
    """Reference contexts (verbatim, up to case and spacing) and facts (any alternative) the corpus lacks."""
    found = []
    for case in eval_set.cases:
        for number, context in enumerate(case.reference_contexts, start=1):
            wanted = normalize(context)
            if not any(wanted in document for document in documents):
                found.append(
                    f"{case.where}: case {case.id!r}: reference context {number} appears nowhere in the "
                    f"corpus: {_clip(context)}"
                )
        for fact in case.expected_facts:
            if not any(_fact_in(fact, document) for document in documents):
                found.append(
                    f"{case.where}: case {case.id!r}: expected fact {fact!r} appears nowhere in the corpus"
                )
    return found


def _fact_in(fact: str, document: str) -> bool:
    # The same rule as metrics.fact_present, on a document normalised once instead of per fact.
    for alternative in alternatives(fact):
        needle = normalize(alternative)
        if needle and re.search(rf"(?<![a-z0-9]){re.escape(needle)}", document):
            return True
    return False


def _clip(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= width else text[: width - 1] + "\u2026")
