"""Evaluation sets: our JSONL cases and RAGAS, amnesty_qa and SQuAD v2.0 records, read into one shape."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cecot_rag.evaluation.squad import is_squad, squad_records
from cecot_rag.text import terms

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SET = Path("eval") / "cecot.jsonl"
AMNESTY_QA = REPO_ROOT.parent / "shared" / "benchmarks" / "amnesty_qa" / "amnesty_qa.json"


class EvalSetError(ValueError):
    """An evaluation set that cannot be read: the message names the file, line and field."""


@dataclass
class EvalCase:
    """One question with what a good answer contains and the passages that support it."""

    id: str
    question: str
    reference_answer: str = ""
    expected_facts: list[str] = field(default_factory=list)
    reference_contexts: list[str] = field(default_factory=list)
    answerable: bool = True
    history: list[dict[str, str]] = field(default_factory=list)
    # Passages the set carries for its own corpus (amnesty_qa relevant_chunks, RAGAS contexts).
    set_passages: list[str] = field(default_factory=list)


@dataclass
class EvalSet:
    name: str
    path: Path
    format: str  # "cecot", "ragas", "amnesty_qa" or "squad"
    cases: list[EvalCase]

    def passages(self) -> list[str]:
        """The set's own passages, each once, in first-seen order (for --corpus-from-set)."""
        seen: dict[str, None] = {}
        for case in self.cases:
            for text in case.set_passages:
                if text.strip():
                    seen.setdefault(text.strip(), None)
        return list(seen)


def resolve_set_path(value: str | Path | None) -> Path:
    """The set to run: as given, else eval/cecot.jsonl here, else the repository's bundled one."""
    if value is not None:
        path = Path(value).expanduser()
        if not path.is_file():
            raise EvalSetError(f"evaluation set not found: {path}")
        return path
    for candidate in (Path.cwd() / DEFAULT_SET, REPO_ROOT / DEFAULT_SET):
        if candidate.is_file():
            return candidate
    raise EvalSetError(f"no evaluation set given and {DEFAULT_SET} was not found")


def load_set(path: str | Path) -> EvalSet:
    """Read a JSONL file or a JSON list (or {"cases"|"data"|"samples": [...]}) in any known format."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalSetError(f"cannot read {path}: {exc}") from None
    squad = _squad(raw, path)
    records = squad if squad is not None else _records(raw, path)
    if not records:
        raise EvalSetError(f"{path}: the set holds no cases")
    cases: list[EvalCase] = []
    formats: set[str] = set()
    for number, (where, record) in enumerate(records, start=1):
        fmt, case = parse_record(record, default_id=f"case-{number}", where=f"{path}:{where}")
        if squad is not None:
            fmt, case.set_passages = "squad", record["set_passages"]
        formats.add(fmt)
        cases.append(case)
    ids = [c.id for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise EvalSetError(f"{path}: duplicate case ids: {', '.join(duplicates)}")
    fmt = formats.pop() if len(formats) == 1 else "mixed"
    return EvalSet(name=path.stem, path=path, format=fmt, cases=cases)


def _squad(raw: str, path: Path) -> list[tuple[str, dict[str, Any]]] | None:
    """The records of a SQuAD v2.0 file in our own format, None when the file is not one."""
    if path.suffix.lower() != ".json" or not raw.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return None  # _records reports the syntax error with its line
    if not is_squad(data):
        return None
    try:
        return squad_records(data, str(path))
    except ValueError as exc:
        raise EvalSetError(str(exc)) from None


def _records(raw: str, path: Path) -> list[tuple[str, dict[str, Any]]]:
    stripped = raw.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and path.suffix.lower() == ".json"):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise EvalSetError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
        if isinstance(data, dict):
            data = next(
                (data[k] for k in ("cases", "data", "samples") if isinstance(data.get(k), list)), None
            )
        if not isinstance(data, list):
            raise EvalSetError(f"{path}: expected a list of cases")
        return [(f"item {i}", _object(item, f"{path}: item {i}")) for i, item in enumerate(data, start=1)]
    records = []
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalSetError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from None
        records.append((f"line {lineno}", _object(item, f"{path}:{lineno}")))
    return records


def _object(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise EvalSetError(f"{where}: a case must be a JSON object")
    return item


def parse_record(record: dict[str, Any], default_id: str, where: str = "case") -> tuple[str, EvalCase]:
    """Recognise the record's format by its keys and convert it to an EvalCase."""
    if "question" in record:
        return "cecot", _ours(record, default_id, where)
    if "user_input" in record:
        return "ragas", _ragas(record, default_id, where)
    if "input" in record and ("relevant_chunks" in record or "ground_truth" in record):
        return "amnesty_qa", _amnesty(record, default_id, where)
    raise EvalSetError(
        f"{where}: unknown case format: expected 'question' (ours), 'user_input' (RAGAS) "
        "or 'input' with 'relevant_chunks' (amnesty_qa)"
    )


def _ours(record: dict[str, Any], default_id: str, where: str) -> EvalCase:
    answerable = record.get("answerable", True)
    if not isinstance(answerable, bool):
        raise EvalSetError(f"{where}: 'answerable' must be true or false")
    case = EvalCase(
        id=_text(record.get("id", default_id), "id", where),
        question=_text(record["question"], "question", where),
        reference_answer=_optional_text(record.get("reference_answer"), "reference_answer", where),
        expected_facts=_strings(record.get("expected_facts", []), "expected_facts", where),
        reference_contexts=_strings(record.get("reference_contexts", []), "reference_contexts", where),
        answerable=answerable,
        history=_history(record.get("history", []), where),
    )
    if not case.answerable and (case.expected_facts or case.reference_contexts):
        raise EvalSetError(f"{where}: an unanswerable case has no expected facts or reference contexts")
    return case


def _ragas(record: dict[str, Any], default_id: str, where: str) -> EvalCase:
    contexts = _strings(record.get("reference_contexts") or [], "reference_contexts", where)
    retrieved = _strings(record.get("retrieved_contexts") or [], "retrieved_contexts", where)
    reference = _optional_text(record.get("reference"), "reference", where)
    return EvalCase(
        id=_text(record.get("id", default_id), "id", where),
        question=_text(record["user_input"], "user_input", where),
        reference_answer=reference,
        reference_contexts=contexts,
        answerable=bool(reference or contexts),
        set_passages=contexts + retrieved,
    )


def _amnesty(record: dict[str, Any], default_id: str, where: str) -> EvalCase:
    chunks = _strings(record.get("relevant_chunks") or [], "relevant_chunks", where)
    truth = record.get("ground_truth", "")
    if isinstance(truth, list):  # some amnesty_qa copies keep ground_truths as a list
        truth = " ".join(str(t) for t in truth)
    truth = _optional_text(truth, "ground_truth", where)
    gold = gold_chunk(chunks, truth)
    return EvalCase(
        id=_text(record.get("id", default_id), "id", where),
        question=_text(record["input"], "input", where),
        reference_answer=truth,
        reference_contexts=[gold] if gold else [],
        answerable=True,
        set_passages=chunks,
    )


def gold_chunk(chunks: list[str], ground_truth: str) -> str | None:
    """The chunk sharing the most content words with the ground truth (first one on a tie)."""
    if not chunks:
        return None
    wanted = set(terms(ground_truth))
    return max(chunks, key=lambda chunk: len(wanted & set(terms(chunk))))


def _text(value: Any, name: str, where: str) -> str:
    if not isinstance(value, str | int) or not str(value).strip():
        raise EvalSetError(f"{where}: {name!r} must be a non-empty string")
    return str(value).strip()


def _optional_text(value: Any, name: str, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EvalSetError(f"{where}: {name!r} must be a string")
    return value.strip()


def _strings(value: Any, name: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EvalSetError(f"{where}: {name!r} must be a list of strings")
    return [v for v in value if v.strip()]


def _history(value: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise EvalSetError(f"{where}: 'history' must be a list of {{role, content}} turns")
    turns = []
    for turn in value:
        if (
            not isinstance(turn, dict)
            or turn.get("role") not in {"user", "assistant"}
            or not isinstance(turn.get("content"), str)
        ):
            raise EvalSetError(f"{where}: each history turn needs role user|assistant and text content")
        turns.append({"role": turn["role"], "content": turn["content"]})
    return turns


PROJECT_THRESHOLDS = REPO_ROOT / "eval" / "thresholds.txt"


def project_threshold_items(path: Path = PROJECT_THRESHOLDS) -> list[str]:
    """The CI gate's METRIC=VALUE lines (comments and blank lines skipped); [] when the file is absent."""
    if not path.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]
