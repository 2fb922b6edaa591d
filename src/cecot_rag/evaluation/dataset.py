"""Evaluation sets: our JSONL cases and RAGAS, amnesty_qa and SQuAD v2.0 records, read into one shape."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cecot_rag.evaluation.schema import (
    NOTHING_TO_CHECK,
    AmnestyRecord,
    CecotCase,
    RagasMessage,
    RagasRecord,
    problems,
    unknown_field_message,
)
from cecot_rag.evaluation.sources import (
    EvalSetError,
    is_json_document,
    json_records,
    jsonl_records,
    line_of,
    read_text,
)
from cecot_rag.evaluation.squad import is_squad, squad_records
from cecot_rag.text import terms

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SET = Path("eval") / "cecot.jsonl"


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
    where: str = ""  # "file:line" of the record, for messages about the case


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
    """Read a set in any known format; EvalSetError naming `file:line:` at the first problem."""
    eval_set, found = read_set(path)
    if found:
        more = (
            f" (and {len(found) - 1} more problem(s): run `cecot-rag eval --check-set`)"
            if len(found) > 1
            else ""
        )
        raise EvalSetError(found[0] + more, found)
    return eval_set


def read_set(path: str | Path) -> tuple[EvalSet, list[str]]:
    """The cases that could be read and every problem found, each as `file:line: ...`.

    A JSONL file or a JSON list (or {"cases"|"data"|"samples": [...]}) of our cases, RAGAS or
    amnesty_qa records, or a SQuAD v2.0 file. Raises EvalSetError when the file cannot be read at all.
    """
    path = Path(path)
    raw = read_text(path)
    squad = _squad(raw, path)
    found: list[str] = []
    if squad is not None:
        records = squad
    elif is_json_document(raw, path):
        records = [(f"{path}:{line}", item) for line, item in json_records(raw, path)]
    else:
        lines, found = jsonl_records(raw, path)
        records = [(f"{path}:{line}", item) for line, item in lines]
    if not records and not found:
        raise EvalSetError(f"{path}: the set holds no cases")
    cases, fmt, problems_found = _parse(records, "squad" if squad is not None else None)
    return EvalSet(name=path.stem, path=path, format=fmt, cases=cases), found + problems_found


def set_from_records(items: Sequence[Any], name: str = "cases") -> EvalSet:
    """An in-memory set from records in any known format (or EvalCase objects); EvalSetError at a problem.

    Records are located as `case N:` in messages.
    """
    cases = [item for item in items if isinstance(item, EvalCase)]
    records = [(f"case {n}", item) for n, item in enumerate(items, start=1) if not isinstance(item, EvalCase)]
    parsed, fmt, found = _parse(records, None)
    if found:
        raise EvalSetError(found[0], found)
    if not cases + parsed:
        raise EvalSetError(f"{name}: the set holds no cases")
    return EvalSet(name=name, path=Path(name), format=fmt if not cases else "mixed", cases=cases + parsed)


def _parse(records: list[tuple[str, Any]], fixed_format: str | None) -> tuple[list[EvalCase], str, list[str]]:
    """The cases, the set's format ("mixed" when records differ) and every problem, located."""
    cases: list[EvalCase] = []
    formats: set[str] = set()
    found: list[str] = []
    for number, (where, record) in enumerate(records, start=1):
        try:
            fmt, case = parse_record(record, default_id=f"case-{number}", where=where)
        except EvalSetError as exc:
            found.extend(exc.problems)
            continue
        formats.add(fixed_format or fmt)
        cases.append(case)
    found.extend(_duplicates(records))
    fmt = "mixed" if len(formats) > 1 else next(iter(formats), "unknown")
    return cases, fmt, found


def _duplicates(records: list[tuple[str, Any]]) -> list[str]:
    """Repeated ids, read from the raw records so that a case with another problem still counts."""
    first: dict[str, str] = {}
    found = []
    for number, (where, record) in enumerate(records, start=1):
        raw_id = record.get("id") if isinstance(record, dict) else None
        case_id = str(raw_id).strip() if raw_id is not None else f"case-{number}"
        if case_id in first:
            earlier = first[case_id]
            at = f"on line {earlier.rpartition(':')[2]}" if ":" in earlier else f"as {earlier}"
            found.append(f"{where}: duplicate case id {case_id!r} (first {at})")
        else:
            first[case_id] = where
    return found


def _squad(raw: str, path: Path) -> list[tuple[str, dict[str, Any]]] | None:
    """The records of a SQuAD v2.0 file in our own format (each located by its id), None if not SQuAD."""
    if path.suffix.lower() != ".json" or not raw.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return None  # json_records reports the syntax error with its line
    if not is_squad(data):
        return None
    try:
        records = squad_records(data, str(path))
    except ValueError as exc:
        raise EvalSetError(str(exc)) from None
    located = []
    for here, record in records:
        match = re.search(rf'"id"\s*:\s*{re.escape(json.dumps(record["id"]))}', raw)
        located.append((f"{path}:{line_of(raw, match.start())}" if match else f"{path}: {here}", record))
    return located


def parse_record(record: Any, default_id: str, where: str = "case") -> tuple[str, EvalCase]:
    """Recognise the record's format by its keys, validate it strictly and convert it to an EvalCase."""
    if not isinstance(record, dict):
        raise EvalSetError(f"{where}: a case must be a JSON object")
    if "question" in record:
        fmt, model = "cecot", CecotCase
    elif "user_input" in record:
        fmt, model = "ragas", RagasRecord
    elif "input" in record:
        fmt, model = "amnesty_qa", AmnestyRecord
    else:
        known = ("question", "user_input", "input")
        near = [unknown_field_message(k, list(known)) for k in record if k not in known]
        hint = "; " + near[0] if near and "did you mean" in near[0] else ""
        raise EvalSetError(
            f"{where}: unknown case format: expected 'question' (ours), 'user_input' (RAGAS) "
            f"or 'input' with 'relevant_chunks' (amnesty_qa){hint}"
        )
    passages = record.get("set_passages", []) if fmt == "cecot" else []
    fields = {k: v for k, v in record.items() if k != "set_passages"} if fmt == "cecot" else record
    try:
        parsed = model.model_validate(fields)
    except ValidationError as exc:
        found = [f"{where}: {problem}" for problem in problems(exc, model)]
        raise EvalSetError(found[0], found) from None
    convert = {"cecot": _ours, "ragas": _ragas, "amnesty_qa": _amnesty}[fmt]
    case = convert(parsed, default_id, where)  # type: ignore[operator]
    case.where = where
    case.set_passages = case.set_passages or list(passages)
    return fmt, case


def _id(value: str | int | None, default_id: str, where: str) -> str:
    if value is None:
        return default_id
    if not str(value).strip():
        raise EvalSetError(f"{where}: 'id' must be a non-empty string")
    return str(value).strip()


def _question(value: str, name: str, where: str) -> str:
    if not value.strip():
        raise EvalSetError(f"{where}: {name!r} must be a non-empty string")
    return value.strip()


def _ours(record: CecotCase, default_id: str, where: str) -> EvalCase:
    case = EvalCase(
        id=_id(record.id, default_id, where),
        question=_question(record.question, "question", where),
        reference_answer=(record.reference_answer or "").strip(),
        expected_facts=_nonblank(record.expected_facts),
        reference_contexts=_nonblank(record.reference_contexts),
        answerable=record.answerable,
        history=[{"role": t.role, "content": t.content} for t in record.history],
    )
    if not case.answerable and (case.expected_facts or case.reference_contexts):
        raise EvalSetError(f"{where}: an unanswerable case has no expected facts or reference contexts")
    if (
        case.answerable
        and not (case.expected_facts or case.reference_contexts or case.reference_answer)
        and not record.nothing_to_check
    ):
        # Such a case passes whenever the system answers: say so explicitly, or it is a mistake.
        raise EvalSetError(
            f"{where}: case {case.id!r} has nothing to check: give expected_facts, reference_contexts "
            f'or reference_answer, set "answerable": false, or say "{NOTHING_TO_CHECK}": true'
        )
    return case


def _ragas(record: RagasRecord, default_id: str, where: str) -> EvalCase:
    contexts = _nonblank(record.reference_contexts or [])
    retrieved = _nonblank(record.retrieved_contexts or [])
    reference = (record.reference or "").strip()
    question, history = _conversation(record.user_input, where)
    return EvalCase(
        id=_id(record.id, default_id, where),
        question=question,
        reference_answer=reference,
        reference_contexts=contexts,
        # RAGAS has no answerable flag: a sample with neither reference nor contexts expects none.
        answerable=bool(reference or contexts),
        history=history,
        set_passages=contexts + retrieved,
    )


def _conversation(user_input: str | list[RagasMessage], where: str) -> tuple[str, list[dict[str, str]]]:
    """A single-turn question, or a multi-turn sample as (last user message, the turns before it)."""
    if isinstance(user_input, str):
        return _question(user_input, "user_input", where), []
    roles = []
    for number, message in enumerate(user_input, start=1):
        role = {"human": "user", "ai": "assistant"}.get(message.type or "", message.role or "")
        if role not in ("user", "assistant"):
            raise EvalSetError(
                f"{where}: message {number} of 'user_input': only human/user and ai/assistant "
                "messages are supported (tool calls are not)"
            )
        roles.append(role)
    if not roles or roles[-1] != "user" or not user_input[-1].content.strip():
        raise EvalSetError(f"{where}: a multi-turn 'user_input' must end with the user's (human) question")
    history = [{"role": r, "content": m.content} for r, m in zip(roles[:-1], user_input[:-1], strict=True)]
    return user_input[-1].content.strip(), history


def _amnesty(record: AmnestyRecord, default_id: str, where: str) -> EvalCase:
    chunks = _nonblank(record.relevant_chunks or [])
    truth = record.ground_truth or ""
    if isinstance(truth, list):  # some amnesty_qa copies keep ground_truths as a list
        truth = " ".join(truth)
    truth = truth.strip()
    if not truth and not chunks:
        raise EvalSetError(
            f"{where}: the record has nothing to check: give 'ground_truth' or 'relevant_chunks'"
        )
    gold = gold_chunk(chunks, truth)
    return EvalCase(
        id=_id(record.id, default_id, where),
        question=_question(record.input, "input", where),
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


def _nonblank(values: list[str]) -> list[str]:
    return [v for v in values if v.strip()]


PROJECT_THRESHOLDS = REPO_ROOT / "eval" / "thresholds.txt"


def project_threshold_items(path: Path = PROJECT_THRESHOLDS) -> list[str]:
    """The CI gate's METRIC=VALUE lines (comments and blank lines skipped); [] when the file is absent."""
    if not path.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]
