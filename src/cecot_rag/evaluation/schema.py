"""The record formats an evaluation set may use, as strict pydantic models, and their error messages.

One model per format: our JSONL cases, RAGAS samples (single- and multi-turn), amnesty_qa records
and SQuAD v2.0 questions. Every model forbids unknown fields, because a misspelled key silently
changes what a case tests ("answerabel": false would leave the case answerable). Validation errors
become one sentence per problem naming the field, with the nearest known field for an unknown one.
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr, ValidationError

# A case whose only check is that the system answers says so with this field (see CecotCase).
NOTHING_TO_CHECK = "nothing_to_check"


class _Strict(BaseModel):
    # strict: "yes" is not a boolean and 3 is not a string; a set says what it means.
    model_config = ConfigDict(extra="forbid", strict=True)


class Turn(_Strict):
    """One earlier turn of a conversation in our format."""

    role: Literal["user", "assistant"]
    content: StrictStr


class CecotCase(_Strict):
    """Our JSONL case. An answerable case must check something: facts, contexts or a reference
    answer; a case that only checks that the system answers says `"nothing_to_check": true`."""

    id: StrictStr | StrictInt | None = None
    question: StrictStr
    reference_answer: StrictStr | None = None
    expected_facts: list[StrictStr] = []
    reference_contexts: list[StrictStr] = []
    answerable: StrictBool = True
    history: list[Turn] = []
    nothing_to_check: StrictBool = False


class RagasMessage(_Strict):
    """A message of a RAGAS multi-turn sample (`type`: human/ai/tool) or an OpenAI-style one (`role`)."""

    content: StrictStr
    type: Literal["human", "ai", "tool"] | None = None
    role: Literal["user", "assistant", "tool"] | None = None
    tool_calls: list[Any] | None = None
    metadata: dict[str, Any] | None = None


class RagasRecord(_Strict):
    """A RAGAS SingleTurnSample or MultiTurnSample; fields RAGAS defines but we do not score are allowed."""

    id: StrictStr | StrictInt | None = None
    user_input: StrictStr | list[RagasMessage]
    reference: StrictStr | None = None
    reference_contexts: list[StrictStr] | None = None
    retrieved_contexts: list[StrictStr] | None = None
    response: StrictStr | None = None
    multi_responses: list[StrictStr] | None = None
    rubrics: dict[str, Any] | None = None
    reference_topics: list[StrictStr] | None = None
    reference_tool_calls: list[Any] | None = None


class AmnestyRecord(_Strict):
    """An amnesty_qa record: the question, its chunks and the ground truth (a text or a list of texts)."""

    id: StrictStr | StrictInt | None = None
    input: StrictStr
    relevant_chunks: list[StrictStr] | None = None
    ground_truth: StrictStr | list[StrictStr] | None = None
    output: StrictStr | None = None


class SquadAnswer(_Strict):
    text: StrictStr
    answer_start: StrictInt | None = None


class SquadQuestion(_Strict):
    """One entry of a SQuAD v2.0 paragraph's `qas`."""

    id: StrictStr | StrictInt | None = None
    question: StrictStr
    answers: list[SquadAnswer] = []
    plausible_answers: list[SquadAnswer] = []
    is_impossible: StrictBool = False


# What a wrong value of each field means, in the words the set's author needs.
_FIELD_MESSAGES = {
    "id": "'id' must be a non-empty string",
    "question": "'question' must be a non-empty string",
    "user_input": "'user_input' must be a non-empty string or a list of {type|role, content} messages",
    "input": "'input' must be a non-empty string",
    "answerable": "'answerable' must be true or false",
    "nothing_to_check": "'nothing_to_check' must be true or false",
    "is_impossible": "'is_impossible' must be true or false",
    "history": "each history turn needs role user|assistant and text content",
    "ground_truth": "'ground_truth' must be a string or a list of strings",
}


def known_fields(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def unknown_field_message(name: str, known: list[str]) -> str:
    """ "unknown field 'answerabel' (did you mean 'answerable'?)", or the known fields when none is near."""
    near = get_close_matches(name, known, n=1, cutoff=0.6)
    if near:
        return f"unknown field {name!r} (did you mean {near[0]!r}?)"
    return f"unknown field {name!r} (known fields: {', '.join(known)})"


def problems(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    """One sentence per validation error, each field named once."""
    found: dict[str, None] = {}
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        field = loc[0] if loc else ""
        if error["type"] == "extra_forbidden" and len(loc) == 1:
            found.setdefault(unknown_field_message(field, known_fields(model)), None)
        elif error["type"] == "missing" and len(loc) == 1:
            found.setdefault(f"{field!r} is required", None)
        elif field == "history" and len(loc) > 1:
            found.setdefault(f"history turn {int(loc[1]) + 1}: {_FIELD_MESSAGES['history']}", None)
        elif field in _FIELD_MESSAGES:
            found.setdefault(_FIELD_MESSAGES[field], None)
        else:
            found.setdefault(f"{field!r} must be {_expected(model, field)}", None)
    return list(found)


def _expected(model: type[BaseModel], field: str) -> str:
    info = model.model_fields.get(field)
    if info is not None and "list" in str(info.annotation):
        return "a list of strings"
    if info is not None and "dict" in str(info.annotation):
        return "an object"
    return "a string"
