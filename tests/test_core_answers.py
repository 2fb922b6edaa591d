"""Cited extractive answers on the bundled article: facts, verbatim quotes, abstention, follow-ups."""

from __future__ import annotations

import pytest

from cecot_rag import Answer, Assistant, InvalidQuestion
from helpers_quotes import EXPECTED_QUOTES, assert_answer_quotes

ARTICLE_FACTS = [
    ("How many inmates can CECOT hold?", "40,000"),
    ("How many people have been arrested under the state of emergency?", "75,000"),
    ("What was El Salvador's homicide rate in 2015?", "103 homicides per 100,000"),
    ("What did the mayor of Lima call Bukele's crackdown?", "miracle"),
    ("Which gangs drove the violence?", "MS-13"),
    ("What is Ecuador's president planning?", "ultra-secure"),
    ("What do CECOT inmates sleep on?", "metal bunks"),
    ("What does building lasting security require?", "rebuilding trust"),
]


def assert_citations_are_checkable(answer: Answer) -> None:
    assert [c.number for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    retrieved = {p.id for p in answer.passages}
    for citation in answer.citations:
        assert citation.passage.id in retrieved
        assert citation.passage.text[citation.quote_start : citation.quote_end] == citation.quote
        assert f"{citation.quote} [{citation.number}]" in answer.text
    markers = {int(n) for n in __import__("re").findall(r"\[(\d+)\]", answer.text)}
    assert markers == {c.number for c in answer.citations}
    # Whole sentences of their passages, and for a known question the expected sentence.
    assert_answer_quotes(answer.question, answer.text, answer.model_dump()["citations"])


@pytest.mark.parametrize(("question", "fact"), ARTICLE_FACTS)
def test_article_facts_come_back_quoted_and_cited(
    bundled_assistant: Assistant, question: str, fact: str
) -> None:
    answer = bundled_assistant.ask(question)
    assert answer.answered, answer.text
    assert answer.generator == "extractive"
    assert fact in answer.text
    assert any(fact in c.quote for c in answer.citations)
    assert question in EXPECTED_QUOTES
    assert_citations_are_checkable(answer)


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of Australia?",
        "How does photosynthesis work?",
        pytest.param(
            "How much did CECOT cost to build?",
            marks=pytest.mark.xfail(
                strict=True,
                reason="reader limit: quotes the Honduras 'CECOT-style mega-prison' plans sentence "
                "(score 0.12, threshold 0.07); a cost never given is not yet told from a plan to build",
            ),
        ),
    ],
)
def test_questions_the_documents_do_not_answer_are_abstained(
    bundled_assistant: Assistant, question: str
) -> None:
    answer = bundled_assistant.ask(question)
    assert not answer.answered
    assert answer.citations == []
    assert "do not say" in answer.text
    assert len(answer.passages) == bundled_assistant.settings.top_k  # the closest ones are still shown


def test_follow_up_uses_the_previous_question(bundled_assistant: Assistant) -> None:
    history = [
        {"role": "user", "content": "What is Ecuador's president planning in response to Bukele?"},
        {"role": "assistant", "content": "Daniel Noboa plans ultra-secure facilities."},
    ]
    answer = bundled_assistant.ask("And in Honduras?", history=history)
    assert answer.answered
    assert "Xiomara Castro" in answer.text
    assert_citations_are_checkable(answer)


@pytest.mark.parametrize("follow_up", ["What about Guatemala?", "And in Chile?"])
def test_an_elliptical_follow_up_about_a_place_the_documents_never_name_is_abstained(
    bundled_assistant: Assistant, follow_up: str
) -> None:
    """What the follow-up names is what changes: a sentence about Ecuador does not answer it."""
    history = [
        {"role": "user", "content": "What is Ecuador's president planning in response to Bukele?"},
        {"role": "assistant", "content": "Daniel Noboa plans ultra-secure facilities."},
    ]
    answer = bundled_assistant.ask(follow_up, history=history)
    assert not answer.answered and "Noboa" not in answer.text, answer.text
    peru = bundled_assistant.ask("What about Peru?", history=history)
    assert peru.answered and "López Aliaga" in peru.text, peru.text


def test_without_history_a_bare_follow_up_is_not_answered_from_ecuador(bundled_assistant: Assistant) -> None:
    answer = bundled_assistant.ask("And in Honduras?")
    assert "Noboa" not in answer.text


def test_top_k_bounds_the_passages(bundled_assistant: Assistant) -> None:
    assert len(bundled_assistant.ask("Who is Nayib Bukele?", top_k=2).passages) == 2


def test_ask_stream_yields_text_then_the_final_answer(bundled_assistant: Assistant) -> None:
    items = list(bundled_assistant.ask_stream("How many inmates can CECOT hold?"))
    final = items[-1]
    assert isinstance(final, Answer) and final.answered
    assert "".join(i for i in items[:-1] if isinstance(i, str)) == final.text


def test_answers_are_json_serialisable(bundled_assistant: Assistant) -> None:
    answer = bundled_assistant.ask("How many inmates can CECOT hold?")
    assert Answer.model_validate_json(answer.model_dump_json()) == answer


@pytest.mark.parametrize("question", ["", "   \n", "x" * 2001, "what\x00 is this", "bell\x07"])
def test_bad_questions_are_refused_with_a_reason(bundled_assistant: Assistant, question: str) -> None:
    with pytest.raises(InvalidQuestion):
        bundled_assistant.ask(question)
