"""Every extractive answer carries its decision; evidence_score is the decision's score."""

from __future__ import annotations

from cecot_rag import Assistant


def test_an_answer_and_an_abstention_report_the_score_compared_with_the_threshold(
    bundled_assistant: Assistant,
) -> None:
    threshold = bundled_assistant.path.threshold
    answered = bundled_assistant.ask("How many inmates can CECOT hold?")
    abstained = bundled_assistant.ask("Can you give me a recipe for Salvadoran pupusas?")
    assert answered.answered and answered.evidence_score is not None
    assert answered.evidence_score >= threshold
    assert answered.decision is not None and answered.decision.threshold == threshold
    assert not abstained.answered and abstained.evidence_score is not None
    assert abstained.evidence_score < threshold
