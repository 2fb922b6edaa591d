"""Abstention at its edge: near misses are not answered, answers close to the bar still are.

The near misses ask about the article's subjects with one thing changed (another year, another
country, a figure the article does not give); their best evidence scores just under the default
abstain_threshold. The answerable questions score just above it. So moving the threshold either
way (0.42 -> 0.35 or -> 0.50) fails a test here, not only the evaluation gate.
"""

from __future__ import annotations

import pytest

from cecot_rag import Assistant

NEAR_MISSES = [
    "How many inmates did CECOT hold in 2010?",  # another year: only its capacity is given
    "When did Bukele first come into office in Honduras?",  # another country
    "How many inmates can Ecuador's new prison hold?",  # another country: only plans are mentioned
    "How many cells does CECOT have?",  # a figure the article does not give
    "What is the budget of the Territorial Control Plan?",  # a figure the article does not give
    "When did CECOT open?",  # a date the article does not give
    "How many detainees have died in custody under the state of emergency?",  # not reported
]

CLOSE_TO_THE_BAR = [
    ("What grim nickname did El Salvador have before Bukele?", "murder capital of the world"),
    ("What did gang dominance mean for ordinary Salvadorans?", "extortion, forced displacement"),
]


@pytest.mark.parametrize("question", NEAR_MISSES)
def test_near_misses_are_abstained(bundled_assistant: Assistant, question: str) -> None:
    answer = bundled_assistant.ask(question)
    assert not answer.answered, answer.text
    assert answer.citations == []
    assert answer.text.startswith("The documents do not say")


@pytest.mark.parametrize(("question", "fact"), CLOSE_TO_THE_BAR)
def test_answers_just_above_the_bar_are_given(bundled_assistant: Assistant, question: str, fact: str) -> None:
    answer = bundled_assistant.ask(question)
    assert answer.answered, answer.text
    assert fact in answer.citations[0].quote
