"""The evaluation metrics on hand-made cases whose values are known."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cecot_rag.evaluation.metrics import (
    CaseResult,
    aggregate,
    alternatives,
    answer_recall,
    below_threshold,
    citation_supported,
    citation_supported_by_passage,
    fact_present,
    hit_rank,
    normalize,
    parse_thresholds,
    percentile,
    score_case,
    text_supports,
    token_f1,
)

CONTEXT = "Inmates sleep on metal bunks without mattresses and have 0.6 square meters each."


def test_normalize_ignores_case_accents_quotes_spacing_and_digit_grouping() -> None:
    assert normalize("  Operación   CONVIVENCIA ") == "operacion convivencia"
    assert normalize("40,000") == normalize("40000") == normalize("40 000")
    assert normalize("El Salvador\u2019s \u201cwar\u201d") == 'el salvador\'s "war"'


@pytest.mark.parametrize(
    ("fact", "answer", "present"),
    [
        ("40,000|40000", "a mega-prison for 40 000 inmates [1]", True),
        ("Operacion Convivencia", "Programs such as Operación Convivencia in Medellín", True),
        ("metal bunk", "they sleep on metal bunks", True),
        ("81st|81", "elected in 1981", False),
        ("MS-13|Mara Salvatrucha", "the Mara Salvatrucha gang", True),
        ("Barrio 18", "Barrio 180 is another place", True),  # only the start is anchored
        ("safer", "a promise of safety", False),
        ("2019", "in 2019 [1]", True),
    ],
)
def test_fact_matching(fact: str, answer: str, present: bool) -> None:
    assert fact_present(fact, answer) is present


def test_citation_markers_are_not_part_of_the_answer() -> None:
    assert fact_present("1 in 3", "One in three [1]") is False
    assert token_f1("Bukele won [1] [2,3]", "Bukele won") == 1.0


def test_token_f1_known_values() -> None:
    # predicted {cat, sat}, reference {cat, sat, down}: precision 1, recall 2/3, F1 0.8
    assert token_f1("The cat sat", "cat sat down") == pytest.approx(0.8)
    assert token_f1("dogs bark", "cats purr") == 0.0
    assert token_f1("", "something") == 0.0


@given(st.text(alphabet="abc de", max_size=30), st.text(alphabet="abc de", max_size=30))
def test_token_f1_is_a_symmetric_score_between_zero_and_one(left: str, right: str) -> None:
    score = token_f1(left, right)
    assert 0.0 <= score <= 1.0
    assert score == pytest.approx(token_f1(right, left))


def test_answer_recall_counts_stemmed_content_words_of_the_reference() -> None:
    # reference content words: gang, recruit, prison; the answer has prison and gang
    assert answer_recall("Prisons held the gangs", "Gangs recruit in prisons") == pytest.approx(2 / 3)
    assert answer_recall("anything", "the of and") is None


def test_hit_rank_is_the_first_passage_holding_a_reference_context() -> None:
    passages = ["Nothing relevant here.", f"Before. {CONTEXT} After.", CONTEXT]
    assert hit_rank([CONTEXT], passages) == 2
    assert hit_rank(["a sentence no passage holds at all, long enough"], passages) is None


def test_a_context_split_across_passages_counts_where_most_of_it_is() -> None:
    head, tail = CONTEXT[:60], CONTEXT[60:]
    assert text_supports(CONTEXT, f"Earlier text. {head}")  # 60 of 81 characters
    assert not text_supports(CONTEXT, f"{tail} Later text.")  # 21 characters


def test_passage_level_support_counts_any_quote_of_a_passage_holding_the_context() -> None:
    assert citation_supported_by_passage("Inmates sleep on metal bunks.", f"x {CONTEXT} y", [CONTEXT])
    assert citation_supported_by_passage(CONTEXT, "a passage with other words entirely", [CONTEXT[:50]])
    assert citation_supported_by_passage("Bukele was elected.", f"Bukele was elected. {CONTEXT}", [CONTEXT])
    assert not citation_supported_by_passage("Bukele was elected.", "Bukele was elected in 2019.", [CONTEXT])


def test_quote_level_support_judges_the_cited_sentence_only() -> None:
    other = "Bukele was elected in 2019."
    # The quote lies inside the context, or holds it, or holds one of its sentences.
    assert citation_supported(CONTEXT, [CONTEXT])
    assert citation_supported(f"{CONTEXT[:-1]}, it says.", [CONTEXT[:50]])
    assert citation_supported(CONTEXT, [f"{other} {CONTEXT}"])
    # A sentence of the right passage that is not the context does not support.
    assert not citation_supported(other, [CONTEXT])
    # A quote holding an expected fact supports even without a matching context.
    assert citation_supported(other, [CONTEXT], ["2019"])
    assert not citation_supported(other, [CONTEXT], ["2015|2023"])


def test_a_pipe_inside_an_alternative_is_escaped() -> None:
    assert alternatives("a|b") == ["a", "b"]
    assert alternatives(r"P \| NP|P vs NP") == ["P | NP", "P vs NP"]
    assert fact_present(r"P \| NP", "whether P | NP holds")
    assert not fact_present(r"P \| NP", "whether P holds")


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile(list(range(101)), 95) == 95
    assert percentile([], 50) is None


def _case(
    answerable: bool, answered: bool, answer: str, passages: list[str], citations: list[tuple[str, str]]
) -> CaseResult:
    result = CaseResult(
        id=f"case-{answer[:8]}",
        question="q",
        answerable=answerable,
        answer=answer,
        answered=answered,
        expected_facts=["40,000", "mega-prison"] if answerable else [],
        reference_answer="CECOT holds 40,000 inmates" if answerable else "",
        reference_contexts=["capacity to hold 40,000 inmates"] if answerable else [],
    )
    score_case(
        result,
        passages,
        [{"number": i + 1, "quote": q, "passage_text": p} for i, (q, p) in enumerate(citations)],
    )
    return result


def test_aggregate_on_hand_made_cases() -> None:
    gold = "CECOT, a mega-prison with the capacity to hold 40,000 inmates."
    other = "Bukele was elected in 2019."
    results = [
        # answerable, answered with both facts, gold passage first, one supporting citation of two
        _case(
            True,
            True,
            "A mega-prison for 40,000 inmates [1] [2]",
            [gold, other],
            [(gold, gold), (other, other)],
        ),
        # answerable, answered with one fact of two, gold passage second, no supporting citation
        _case(True, True, "It holds 40000 people [1]", [other, gold], [(other, other)]),
        # answerable but abstained; gold not retrieved
        _case(True, False, "The documents do not say.", [other], []),
        # unanswerable: one abstained, one answered
        _case(False, False, "The documents do not say.", [other], []),
        _case(False, True, "Bukele was elected in 2019. [1]", [other], [(other, other)]),
    ]
    metrics = aggregate(results)
    assert metrics["hit_rate"] == pytest.approx(2 / 3)
    assert metrics["mrr"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert metrics["fact_recall"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert metrics["citation_precision"] == pytest.approx(1 / 3)  # 3 citations on answerable cases
    assert metrics["citation_precision_passage"] == pytest.approx(1 / 3)
    # The first quote holds an expected fact in the first case only (the third abstained).
    assert metrics["first_quote_fact_recall"] == pytest.approx(1 / 3)
    assert metrics["citation_recall"] == pytest.approx(1 / 3)
    assert metrics["abstention_accuracy"] == 0.5
    assert metrics["false_abstention_rate"] == pytest.approx(1 / 3)
    assert [r.passed for r in results] == [True, False, False, True, False]
    assert results[1].reason == "missing: mega-prison"
    assert results[2].reason == "abstained on an answerable question"


def test_metrics_without_material_are_none_not_zero() -> None:
    only_unanswerable = [_case(False, False, "The documents do not say.", [], [])]
    metrics = aggregate(only_unanswerable)
    assert metrics["hit_rate"] is None and metrics["fact_recall"] is None
    assert metrics["abstention_accuracy"] == 1.0


def test_thresholds_are_floors_except_for_lower_is_better_metrics() -> None:
    assert below_threshold("fact_recall", 0.5, 0.6)
    assert not below_threshold("fact_recall", 0.6, 0.6)
    assert below_threshold("false_abstention_rate", 0.3, 0.2)
    assert not below_threshold("latency_p95_ms", 900, 1000)
    assert below_threshold("hit_rate", None, 0.1)  # not measured counts as missed


def test_parse_thresholds_accepts_known_metrics_and_rejects_the_rest() -> None:
    assert parse_thresholds(["fact_recall=0.5", "latency_p95_ms=8000"]) == {
        "fact_recall": 0.5,
        "latency_p95_ms": 8000.0,
    }
    for bad, message in [
        ("recall=0.5", "unknown metric"),
        ("fact_recall", "METRIC=VALUE"),
        ("fact_recall=high", "not a number"),
        ("fact_recall=1.5", "out of range"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_thresholds([bad])


def test_citation_precision_is_judged_on_the_quote_not_on_its_passage() -> None:
    # The cited passage holds the reference context, but the quoted sentence is another one: the
    # passage-level figure counts it, the quote-level one (the gated citation_precision) does not.
    passage = "Bukele was elected in 2019. CECOT, a mega-prison with the capacity to hold 40,000 inmates."
    wrong_quote = "Bukele was elected in 2019."
    result = CaseResult(
        id="q",
        question="How many inmates can CECOT hold?",
        answerable=True,
        answer=f"{wrong_quote} [1]",
        answered=True,
        expected_facts=["40,000"],
        reference_contexts=["CECOT, a mega-prison with the capacity to hold 40,000 inmates."],
    )
    score_case(result, [passage], [{"number": 1, "quote": wrong_quote, "passage_text": passage}])
    metrics = aggregate([result])
    assert metrics["citation_precision_passage"] == 1.0
    assert metrics["citation_precision"] == 0.0
