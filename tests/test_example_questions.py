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
    "What are the conditions for inmates inside CECOT?": [
        "overcrowded cells",
        "metal bunks",
        "0.6 square meters",
    ],
    "Which Latin American leaders want to copy Bukele's model?": [
        "Daniel Noboa",
        "Xiomara Castro",
        "Rafael López Aliaga",
    ],
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
