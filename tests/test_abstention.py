"""Abstention at its edge: near misses are not answered, answers close to the bar still are.

The near misses ask about the article's subjects with one thing changed (another year, another
country, a figure the article does not give). Those the trained reader (the default scorer, its
threshold chosen on held-out SQuAD training articles) still answers are strict expected failures:
they record what the reader does not yet read (a changed year or country in an otherwise matching
sentence), and a change that fixes one, or breaks another, shows here.
"""

from __future__ import annotations

import pytest

from cecot_rag import Assistant

# Written apart from every evaluation set.
_KNOWN_MISS = pytest.mark.xfail(
    strict=True,
    reason="the reader scores the nearest sentence above its threshold: it misses the changed condition",
)
_BELOW_BAR = pytest.mark.xfail(
    strict=True, reason="the reader scores the answering sentence below its threshold"
)
NEAR_MISSES = [
    pytest.param("How many inmates did CECOT hold in 2010?", marks=_KNOWN_MISS),  # only its capacity
    pytest.param("When did Bukele first come into office in Honduras?", marks=_KNOWN_MISS),  # another country
    pytest.param("How many inmates can Ecuador's new prison hold?", marks=_KNOWN_MISS),  # only plans
    "How many cells does CECOT have?",  # a figure not given
    pytest.param("What is the budget of the Territorial Control Plan?", marks=_KNOWN_MISS),  # not given
    "When did CECOT open?",  # a date the article does not give
    "How many gang members were arrested in Guatemala?",  # another country
    "What is the capacity of Peru's largest prison?",  # another country: only CECOT's is given
    "How long is the average sentence at CECOT?",  # a figure the article does not give
    "How many detainees have died in custody under the state of emergency?",  # not reported
]

CLOSE_TO_THE_BAR = [
    ("What grim nickname did El Salvador have before Bukele?", "murder capital of the world"),
    pytest.param(
        "What did gang dominance mean for ordinary Salvadorans?",
        "extortion, forced displacement",
        marks=_BELOW_BAR,
    ),
]


@pytest.mark.parametrize("question", NEAR_MISSES)
def test_near_misses_are_abstained(bundled_assistant: Assistant, question: str) -> None:
    answer = bundled_assistant.ask(question)
    assert not answer.answered, answer.text
    assert answer.text.startswith("The documents do not say")
    # A near miss may quote what the documents do say, after saying what they do not.
    assert len(answer.citations) <= 1


@pytest.mark.parametrize(("question", "fact"), CLOSE_TO_THE_BAR)
def test_answers_just_above_the_bar_are_given(bundled_assistant: Assistant, question: str, fact: str) -> None:
    answer = bundled_assistant.ask(question)
    assert answer.answered, answer.text
    assert fact in answer.citations[0].quote
