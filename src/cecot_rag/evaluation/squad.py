"""SQuAD v2.0 JSON as an evaluation set: one case per question, the paragraphs as the corpus.

Layout: {"version": "v2.0", "data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}.
An answerable question becomes one expected fact whose `|`-separated alternatives are the
annotators' answer texts (a `|` inside a text is escaped as `\\|`); its reference contexts are the
sentences of the paragraph that hold an answer (located by `answer_start`). An `is_impossible`
question is an unanswerable case. Every case carries its paragraph, so `--corpus-from-set` indexes
one document per paragraph.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cecot_rag.evaluation.schema import SquadQuestion, problems
from cecot_rag.text import sentence_spans


def is_squad(data: Any) -> bool:
    """Whether parsed JSON has SQuAD's layout (articles holding paragraphs holding qas)."""
    articles = data.get("data") if isinstance(data, dict) else None
    return (
        isinstance(articles, list)
        and bool(articles)
        and all(isinstance(a, dict) and isinstance(a.get("paragraphs"), list) for a in articles)
    )


def escape_alternative(text: str) -> str:
    """An answer text as one alternative of an expected fact (its own `|` kept literal)."""
    return text.replace("\\", "\\\\").replace("|", "\\|")


def squad_records(data: dict[str, Any], where: str) -> list[tuple[str, dict[str, Any]]]:
    """SQuAD articles as records in our own case format, each with the paragraph it was asked on."""
    records: list[tuple[str, dict[str, Any]]] = []
    for a, article in enumerate(data["data"], start=1):
        for p, paragraph in enumerate(article["paragraphs"], start=1):
            context = paragraph.get("context")
            if not isinstance(context, str) or not isinstance(paragraph.get("qas"), list):
                raise ValueError(f"{where}: article {a} paragraph {p} needs 'context' and 'qas'")
            for q, qa in enumerate(paragraph["qas"], start=1):
                here = f"article {a} paragraph {p} question {q}"
                records.append((here, _record(qa, context, here)))
    return records


def _record(qa: Any, context: str, where: str) -> dict[str, Any]:
    if not isinstance(qa, dict):
        raise ValueError(f"{where}: a question must be a JSON object")
    try:
        parsed = SquadQuestion.model_validate(qa)
    except ValidationError as exc:
        raise ValueError(f"{where}: " + "; ".join(problems(exc, SquadQuestion))) from None
    answers = [{"text": a.text, "answer_start": a.answer_start} for a in parsed.answers if a.text.strip()]
    impossible = parsed.is_impossible or not answers
    record: dict[str, Any] = {
        "id": parsed.id if parsed.id is not None else where,
        "question": parsed.question,
        "answerable": not impossible,
        "set_passages": [context],
    }
    if not impossible:
        texts = list(dict.fromkeys(a["text"].strip() for a in answers))
        record["expected_facts"] = ["|".join(escape_alternative(t) for t in texts)]
        record["reference_answer"] = texts[0]
        record["reference_contexts"] = _answer_sentences(context, answers)
    return record


def _answer_sentences(context: str, answers: list[dict[str, Any]]) -> list[str]:
    """The sentences of context where an answer starts (the whole context when no offset fits)."""
    spans = sentence_spans(context)
    found: dict[str, None] = {}
    for answer in answers:
        start = answer.get("answer_start")
        text = answer["text"].strip()
        if not isinstance(start, int) or context[start : start + len(text)] != text:
            start = context.find(text)
        for span in spans:
            if span.start <= start < span.end:
                # An answer running past its sentence's end takes the following sentences too.
                end = max(span.end, start + len(text))
                last = next((s for s in spans if s.start < end <= s.end), span)
                found.setdefault(context[span.start : last.end], None)
                break
    return list(found) or [context]
