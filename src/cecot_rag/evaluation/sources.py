"""Reading a set file into raw JSON records, each with the line it starts on.

A JSONL file gives one record per line; a JSON file gives the items of its list (or of the list
under "cases", "data" or "samples"), located at the line where each item starts, so every problem
can be reported as `file:line: ...`. A UTF-8 byte-order mark is accepted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_SPACE = re.compile(r"\s*")
_DECODER = json.JSONDecoder()
WRAPPER_KEYS = ("cases", "data", "samples")
PRETTY_HINT = "this looks like pretty-printed JSON: one object per line, or use .json"


class EvalSetError(ValueError):
    """An evaluation set that cannot be read: the message names the file, line and field.

    `problems` holds every problem found (the message is the first).
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


def read_text(path: Path) -> str:
    try:
        # utf-8-sig: a byte-order mark (as some editors on Windows write) is not part of the JSON.
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalSetError(f"cannot read {path}: {exc}") from None


def line_of(raw: str, index: int) -> int:
    return raw.count("\n", 0, index) + 1


def is_json_document(raw: str, path: Path) -> bool:
    """Whether the file is one JSON document (a list, or an object in a .json file) rather than JSONL."""
    stripped = raw.lstrip()
    return stripped.startswith("[") or (stripped.startswith("{") and path.suffix.lower() == ".json")


def json_records(raw: str, path: Path) -> list[tuple[int, Any]]:
    """The items of a JSON document's case list, each with the line where it starts."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise EvalSetError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    start = _skip(raw, 0)
    if isinstance(data, dict):
        members = _members(raw, start)
        key = next((k for k in WRAPPER_KEYS if isinstance(data.get(k), list)), None)
        if key is None:
            raise EvalSetError(f"{path}:1: expected a list of cases (or one under {', '.join(WRAPPER_KEYS)})")
        start = members[key]
    elif not isinstance(data, list):
        raise EvalSetError(f"{path}:1: expected a list of cases")
    return _array_items(raw, start)


def jsonl_records(raw: str, path: Path) -> tuple[list[tuple[int, Any]], list[str]]:
    """One record per non-blank line (`//` lines are comments), and the lines that are not JSON."""
    records: list[tuple[int, Any]] = []
    problems: list[str] = []
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            records.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            if not records and not problems and _pretty_printed(raw, line):
                # The usual mistake: a JSON object laid out over many lines in a .jsonl file.
                raise EvalSetError(f"{path}:{lineno}: invalid JSON: {exc.msg}; {PRETTY_HINT}") from None
            problems.append(f"{path}:{lineno}: invalid JSON: {exc.msg}")
    return records, problems


def _pretty_printed(raw: str, first_line: str) -> bool:
    if first_line.strip() in ("{", "["):
        return True
    try:
        json.loads(raw)
    except json.JSONDecodeError:
        return False
    return True


def _skip(raw: str, index: int) -> int:
    match = _SPACE.match(raw, index)
    return match.end() if match else index


def _array_items(raw: str, index: int) -> list[tuple[int, Any]]:
    """The items of the (valid) JSON array starting at raw[index] == "["."""
    items: list[tuple[int, Any]] = []
    index = _skip(raw, index + 1)
    while raw[index] != "]":
        item, end = _DECODER.raw_decode(raw, index)
        items.append((line_of(raw, index), item))
        index = _skip(raw, end)
        if raw[index] == ",":
            index = _skip(raw, index + 1)
    return items


def _members(raw: str, index: int) -> dict[str, int]:
    """Where each member's value starts in the (valid) JSON object starting at raw[index] == "{"."""
    found: dict[str, int] = {}
    index = _skip(raw, index + 1)
    while raw[index] != "}":
        key, end = _DECODER.raw_decode(raw, index)
        index = _skip(raw, _skip(raw, end) + 1)  # past the ":"
        found[key] = index  # a repeated key: the last wins, as in json.loads
        _, end = _DECODER.raw_decode(raw, index)
        index = _skip(raw, end)
        if raw[index] == ",":
            index = _skip(raw, index + 1)
    return found
