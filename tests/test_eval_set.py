"""Sanity checks for the curated answer-quality evaluation set (eval/cecot.jsonl).

Facts are matched with the evaluation's own normaliser, so a fact that passes here can be found
in an answer by `cecot-rag eval`.
"""

import json
import re
from pathlib import Path

import pytest

from cecot_rag.evaluation.metrics import normalize

ROOT = Path(__file__).resolve().parents[1]
EVAL_PATH = ROOT / "eval" / "cecot.jsonl"
DOCS_DIR = ROOT / "documents"

REQUIRED_KEYS = {
    "id": str,
    "question": str,
    "reference_answer": str,
    "expected_facts": list,
    "reference_contexts": list,
    "answerable": bool,
    "history": list,
}


def strip_front_matter(text: str) -> str:
    if text.startswith("---"):
        match = re.match(r"---\s*\n.*?\n---\s*\n", text, flags=re.DOTALL)
        if match:
            return text[match.end() :]
    return text


def load_article_text() -> str:
    docs = sorted(DOCS_DIR.glob("*.md"))
    assert docs, f"no documents found in {DOCS_DIR}"
    return "\n".join(strip_front_matter(p.read_text(encoding="utf-8")) for p in docs)


def load_cases():
    cases = []
    with EVAL_PATH.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                cases.append(json.loads(line))
            except json.JSONDecodeError as exc:  # pragma: no cover - reported by test
                pytest.fail(f"{EVAL_PATH.name}:{lineno}: invalid JSON: {exc}")
    return cases


ARTICLE = load_article_text()
ARTICLE_NORM = normalize(ARTICLE)
CASES = load_cases()
ANSWERABLE = [c for c in CASES if c.get("answerable") is True]


def _ids(cases):
    return [str(c.get("id")) for c in cases]


def test_minimum_size():
    assert len(CASES) >= 95, f"only {len(CASES)} cases"


def test_enough_conversational_cases():
    # Issue 12: at least 20 conversational cases on top of the 8 the set had, and follow-ups
    # the article cannot answer as well as ones it can.
    with_history = [c for c in CASES if c["history"]]
    assert len(with_history) >= 28, f"only {len(with_history)} cases with history"
    assert sum(1 for c in with_history if c["answerable"] is False) >= 3
    assert sum(1 for c in with_history if c["answerable"] is True) >= 20


def test_ids_unique():
    ids = _ids(CASES)
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"duplicate ids: {dupes}"


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_required_keys_and_types(case):
    for key, typ in REQUIRED_KEYS.items():
        assert key in case, f"missing key {key!r}"
        assert isinstance(case[key], typ), f"{key!r} should be {typ.__name__}"
    for key in ("id", "question", "reference_answer"):
        assert case[key].strip(), f"{key!r} is empty"
    assert all(isinstance(f, str) and f.strip() for f in case["expected_facts"])
    assert all(isinstance(c, str) and c.strip() for c in case["reference_contexts"])


def test_enough_unanswerable():
    unanswerable = [c for c in CASES if c.get("answerable") is False]
    assert len(unanswerable) >= 8, f"only {len(unanswerable)} unanswerable cases"


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_history_shape(case):
    for turn in case["history"]:
        assert isinstance(turn, dict), "history items must be objects"
        assert turn.get("role") in {"user", "assistant"}, f"bad role: {turn.get('role')!r}"
        assert isinstance(turn.get("content"), str) and turn["content"].strip()


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_history_is_a_previous_exchange(case):
    # A history is whole exchanges: user then assistant, alternating, ending with the reply the
    # new question follows; a trailing user turn would be a second, unanswered question.
    roles = [turn.get("role") for turn in case["history"]]
    expected = ["user", "assistant"] * (len(roles) // 2)
    assert roles == expected, f"history roles {roles} are not user/assistant exchanges"


@pytest.mark.parametrize("case", ANSWERABLE, ids=_ids(ANSWERABLE))
def test_answerable_has_facts_and_contexts(case):
    assert len(case["expected_facts"]) >= 1, "answerable case needs >=1 expected fact"
    assert len(case["reference_contexts"]) >= 1, "answerable case needs >=1 reference context"


@pytest.mark.parametrize("case", ANSWERABLE, ids=_ids(ANSWERABLE))
def test_reference_contexts_verbatim(case):
    for ctx in case["reference_contexts"]:
        assert ctx in ARTICLE, f"context not found verbatim in article: {ctx!r}"


@pytest.mark.parametrize("case", ANSWERABLE, ids=_ids(ANSWERABLE))
def test_expected_facts_in_article(case):
    for fact in case["expected_facts"]:
        alternatives = [a for a in (normalize(x) for x in fact.split("|")) if a]
        assert alternatives, f"empty fact: {fact!r}"
        assert any(a in ARTICLE_NORM for a in alternatives), (
            f"no alternative of fact {fact!r} occurs in the article"
        )


def test_unanswerable_cases_have_no_gold():
    for case in CASES:
        if case.get("answerable") is False:
            assert case["expected_facts"] == [], case["id"]
            assert case["reference_contexts"] == [], case["id"]


def test_normalize_helpers():
    assert normalize("40,000") == normalize("40000") == normalize("40 000")
    assert normalize("Medellín") == "medellin"
    assert normalize("El Salvador\u2019s") == "el salvador's"
    assert normalize("  A\n  b ") == "a b"
