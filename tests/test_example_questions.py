"""The chat page's example questions (what a newcomer clicks first) are answered well.

Each is asked through Assistant.ask on the bundled article; the expected facts are written from
the article. A new example question without expected facts here fails the test on purpose.
"""

from __future__ import annotations

import pytest
from tests.test_answer_patterns import assert_quotes_are_whole_sentences
from tests.test_core_answers import assert_citations_are_checkable

from cecot_rag import Assistant
from cecot_rag.settings import DEFAULT_EXAMPLE_QUESTIONS, Settings

EXPECTED_FACTS = {
    "How many inmates can CECOT hold?": ["40,000"],
    "What is Ecuador's president planning in response to Bukele?": ["Daniel Noboa", "ultra-secure"],
    "How many people have been arrested under Bukele's state of emergency?": ["75,000"],
}
# Earlier example questions the reader answers wrongly (a newcomer's first click should not show a
# known miss; README "Evaluation" lists them): kept here so a reader that learns them is noticed
# (strict: an unexpected pass fails).
READER_MISSES = {
    "What are the conditions for inmates inside CECOT?": (
        ["overcrowded cells", "metal bunks", "0.6 square meters"],
        "quotes the 40,000-capacity sentence: the reader scores the conditions sentence 0.04",
    ),
    "Which Latin American leaders want to copy Bukele's model?": (
        ["Daniel Noboa", "Xiomara Castro", "Rafael López Aliaga"],
        "quotes the general 'most influential model' sentence; each leader is in its own sentence",
    ),
}


def test_every_example_question_has_expected_facts() -> None:
    assert Settings().example_questions == list(DEFAULT_EXAMPLE_QUESTIONS)
    assert set(DEFAULT_EXAMPLE_QUESTIONS) <= set(EXPECTED_FACTS)


@pytest.mark.parametrize("question", DEFAULT_EXAMPLE_QUESTIONS)
def test_an_example_question_is_answered_with_its_facts(bundled_assistant: Assistant, question: str) -> None:
    answer = bundled_assistant.ask(question)
    assert answer.answered, answer.text
    for fact in EXPECTED_FACTS[question]:
        assert fact in answer.text, f"{fact!r} missing from: {answer.text}"
    assert len(answer.citations) <= bundled_assistant.settings.max_answer_sentences
    assert_citations_are_checkable(answer)
    assert_quotes_are_whole_sentences(answer)


@pytest.mark.parametrize(
    "question",
    [pytest.param(q, marks=pytest.mark.xfail(strict=True, reason=r)) for q, (_, r) in READER_MISSES.items()],
)
def test_an_earlier_example_question_is_a_known_reader_miss(
    bundled_assistant: Assistant, question: str
) -> None:
    answer = bundled_assistant.ask(question)
    facts, _ = READER_MISSES[question]
    assert answer.answered and all(fact in answer.text for fact in facts), answer.text
