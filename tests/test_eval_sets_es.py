"""Sanity checks for the two cross-language evaluation sets of issue 23: Spanish questions over the
bundled English article (eval/cecot_es.jsonl) and English questions over the Spanish test document
(eval/plan_escudo_en.jsonl).

Both are read by the project's own loader and their facts matched by the evaluation's own rule, so a
set that passes here is one `cecot-rag eval` can score.
"""

from __future__ import annotations

import pytest
from tests.test_eval_set import ARTICLE, DOCS_DIR, ROOT, strip_front_matter

from cecot_rag.evaluation.check import check_set
from cecot_rag.evaluation.dataset import EvalCase, EvalSet, load_set
from cecot_rag.evaluation.metrics import alternatives, fact_present
from cecot_rag.language import ENGLISH, SPANISH, detect_language

SPANISH_SET = ROOT / "eval" / "cecot_es.jsonl"
ENGLISH_SET = ROOT / "eval" / "plan_escudo_en.jsonl"
TEST_DATA = ROOT / "tests" / "data"
PLAN_ESCUDO = strip_front_matter((TEST_DATA / "plan_escudo_es.md").read_text(encoding="utf-8"))

# (set, corpus folder, the corpus text, at least: cases, unanswerable cases, follow-ups)
SETS = {
    "cecot_es": (load_set(SPANISH_SET), DOCS_DIR, ARTICLE, 45, 14, 6),
    "plan_escudo_en": (load_set(ENGLISH_SET), TEST_DATA, PLAN_ESCUDO, 12, 4, 0),
}


def _answerable(name: str) -> list[EvalCase]:
    return [case for case in SETS[name][0].cases if case.answerable]


ANSWERABLE = [(name, case) for name in SETS for case in _answerable(name)]
ANSWERABLE_IDS = [f"{name}:{case.id}" for name, case in ANSWERABLE]


@pytest.mark.parametrize("name", SETS)
def test_set_holds_enough_cases_of_each_kind(name: str) -> None:
    eval_set, _, _, cases, unanswerable, followups = SETS[name]
    assert len(eval_set.cases) >= cases
    assert sum(not case.answerable for case in eval_set.cases) >= unanswerable
    assert sum(bool(case.history) for case in eval_set.cases) >= followups


def test_spanish_set_has_answerable_and_unanswerable_follow_ups() -> None:
    followups = [case for case in SETS["cecot_es"][0].cases if case.history]
    assert sum(case.answerable for case in followups) >= 6
    assert any(not case.answerable for case in followups)


@pytest.mark.parametrize("name", SETS)
def test_check_set_finds_no_problem_against_its_corpus(name: str) -> None:
    eval_set, corpus, *_ = SETS[name]
    found = check_set(eval_set.path, corpus)
    assert found.problems == []


@pytest.mark.parametrize(("name", "case"), ANSWERABLE, ids=ANSWERABLE_IDS)
def test_reference_contexts_are_verbatim_sentences_of_the_document(name: str, case: EvalCase) -> None:
    document = SETS[name][2]
    assert case.reference_contexts
    for context in case.reference_contexts:
        assert context in document, f"not verbatim in the document: {context!r}"


@pytest.mark.parametrize(("name", "case"), ANSWERABLE, ids=ANSWERABLE_IDS)
def test_every_alternative_of_every_fact_occurs_in_the_document(name: str, case: EvalCase) -> None:
    # Every alternative, not just one: an answer quotes the document, so a spelling the document
    # never uses would only ever match by accident.
    document = SETS[name][2]
    assert case.expected_facts
    for fact in case.expected_facts:
        for alternative in alternatives(fact):
            assert fact_present(alternative, document), f"{alternative!r} (of {fact!r}) is not in it"


def _questions(eval_set: EvalSet) -> list[str]:
    return [case.question for case in eval_set.cases]


def test_spanish_questions_are_never_read_as_english() -> None:
    found = {question: detect_language(question) for question in _questions(SETS["cecot_es"][0])}
    assert [q for q, language in found.items() if language == ENGLISH] == []
    assert sum(language == SPANISH for language in found.values()) >= 0.9 * len(found)


def test_english_questions_over_the_spanish_document_are_never_read_as_spanish() -> None:
    found = {question: detect_language(question) for question in _questions(SETS["plan_escudo_en"][0])}
    assert [q for q, language in found.items() if language == SPANISH] == []


def test_the_spanish_test_document_is_spanish_and_the_article_english() -> None:
    # The sets cross languages only if their documents are what their names say.
    assert detect_language(PLAN_ESCUDO) == SPANISH
    assert detect_language(ARTICLE) == ENGLISH
