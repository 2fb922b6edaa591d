"""The answer path as stages (issue 20): one decision per answer, readings retrieved once, fusion order.

Real model, real Chroma, the bundled article; the questions are written for these tests, not
taken from eval/cecot.jsonl.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from llama_index.core.bridge.pydantic import Field
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle
from tests.conftest import make_settings

from cecot_rag import Assistant
from cecot_rag.answer.path import AnswerPath
from cecot_rag.answer.scorers import PostprocessorScorer
from cecot_rag.retrieve import reciprocal_rank_fusion

QUESTIONS = [
    "How many inmates can CECOT hold?",
    "Which gangs drove the violence in El Salvador?",
    "Who wrote the article?",
    "Which presidents want to copy Bukele?",
    "How do Ecuador and Honduras compare?",
    "How many judges sit on El Salvador's Supreme Court?",
    "What is the capital of Australia?",
    "What is the annual operating budget of CECOT?",
]


def _turns(*questions: str) -> list[dict[str, str]]:
    history: list[dict[str, str]] = []
    for question in questions:
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": "(answer)"}]
    return history


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_answer_carries_one_decision_that_it_obeys(bundled_assistant: Assistant, question: str) -> None:
    answer = bundled_assistant.ask(question)
    decision = answer.decision
    assert decision is not None
    assert answer.answered == (decision.score >= decision.threshold)
    assert decision.stage == bundled_assistant.scorer.name
    assert answer.evidence_score == decision.score  # the alias
    if answer.answered:  # every quoted sentence clears the same threshold: no path answers below it
        found = bundled_assistant.prepare(question, [], None)
        quoted = {c.text: c.score for c in found.chosen}
        assert {c.quote for c in answer.citations} == set(quoted)
        assert all(score >= decision.threshold for score in quoted.values())
        assert max(quoted.values()) == pytest.approx(decision.score)
    else:
        assert answer.citations == []


def test_an_empty_index_abstains_with_a_retrieval_decision(fresh_assistant: Assistant) -> None:
    answer = fresh_assistant.ask("How many inmates can CECOT hold?")
    assert not answer.answered
    assert answer.decision is not None
    assert (answer.decision.stage, answer.decision.score) == ("retrieval", 0.0)


def test_the_decision_is_in_the_json_of_ask(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    env = {
        "CECOT_RAG_INDEX_DIR": str(settings.index_dir),
        "CECOT_RAG_DOCUMENTS_DIR": str(settings.documents_dir),
    }
    done = subprocess.run(
        [sys.executable, "-m", "cecot_rag.cli", "ask", "How many inmates can CECOT hold?", "--json"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, **env},
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    decision = answer["decision"]
    assert set(decision) >= {"stage", "score", "threshold"}
    assert answer["answered"] == (decision["score"] >= decision["threshold"])
    assert answer["evidence_score"] == decision["score"]


class _CountingRetrieve:
    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.queries: list[str] = []

    def __call__(self, text: str, vector, top_k: int):  # type: ignore[no-untyped-def]
        self.queries.append(text)
        return self.assistant.retriever.rank(text, top_k, vector)


def _counting_path(assistant: Assistant) -> tuple[AnswerPath, _CountingRetrieve]:
    real = assistant.path
    spy = _CountingRetrieve(assistant)
    path = AnswerPath(spy, real.embed_query, real.extractor, real.scorer, real.first_stage, real.threshold)
    return path, spy


def test_a_follow_up_is_retrieved_once_per_reading(bundled_assistant: Assistant) -> None:
    path, spy = _counting_path(bundled_assistant)
    bundled_assistant.store.sync()
    path.find("How many inmates can CECOT hold?", [], 5)
    assert spy.queries == ["How many inmates can CECOT hold?"]
    spy.queries.clear()
    # Elliptical: decided by form, one retrieval with the joined text.
    found = path.find("And in Honduras?", _turns("What is Ecuador planning?"), 5)
    assert spy.queries == ["What is Ecuador planning? And in Honduras?"]
    assert found.question.retrieval_query == spy.queries[0]
    spy.queries.clear()
    # Short, not elliptical: both readings are scored, each retrieved exactly once.
    path.find("Who built that prison?", _turns("What is Ecuador planning?"), 5)
    assert sorted(spy.queries) == sorted(
        ["Who built that prison?", "What is Ecuador planning? Who built that prison?"]
    )


def test_a_follow_up_changes_what_is_retrieved_and_answered(bundled_assistant: Assistant) -> None:
    alone = bundled_assistant.prepare("How many inmates will it hold?", [], None)
    joined = bundled_assistant.prepare("How many inmates will it hold?", _turns("What is CECOT?"), None)
    assert alone.question.retrieval_query == "How many inmates will it hold?"
    assert joined.question.retrieval_query == "What is CECOT? How many inmates will it hold?"
    answer = bundled_assistant.ask("How many inmates will it hold?", history=_turns("What is CECOT?"))
    assert answer.answered and "40,000" in answer.text


def test_fusion_ranks_by_summed_reciprocal_rank_best_first() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "b", "d"]], k=60)
    ids = [pid for pid, _ in fused]
    # b is 2nd in both (2/62), a and c are 1st in one and 3rd/1st ...: c = 1/63 + 1/61, a = 1/61.
    assert ids[0] in ("b", "c") and ids[-1] == "d"
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)
    assert dict(fused)["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert dict(fused)["b"] == pytest.approx(2 / 62)


def test_the_passage_both_rankings_agree_on_comes_first(bundled_assistant: Assistant) -> None:
    passages = bundled_assistant.retrieve("CECOT capacity 40,000 inmates mega-prison", top_k=5)
    assert "40,000" in passages[0].text
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


class _KeywordReranker(BaseNodePostprocessor):
    """A real llama-index postprocessor: keeps nodes holding the keyword, scored 0.9, drops the rest."""

    keyword: str = Field(default="")

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        kept = [n for n in nodes if self.keyword in n.node.get_content()]
        for n in kept:
            n.score = 0.9
        return kept


def test_a_llama_index_postprocessor_can_be_the_scorer(tmp_path: Path) -> None:
    scorer = PostprocessorScorer(_KeywordReranker(keyword="40,000"), threshold=0.5)
    assistant = Assistant(make_settings(tmp_path), scorer=scorer)
    try:
        assistant.ingest([assistant.settings.documents_dir])
        answer = assistant.ask("How many inmates can CECOT hold?")
        assert answer.answered and "40,000" in answer.citations[0].quote
        assert answer.decision is not None and answer.decision.stage == "_KeywordReranker"
        assert answer.decision.score == pytest.approx(0.9)
        # A postprocessor that keeps nothing leaves every candidate unscored: the path abstains.
        real = assistant.path
        empty = PostprocessorScorer(_KeywordReranker(keyword="no such words"), threshold=0.5)
        path = AnswerPath(real.retrieve, real.embed_query, real.extractor, empty, real.first_stage)
        found = path.find("How many inmates can CECOT hold?", [], 5)
        assert not found.answered and found.decision.stage == "candidates"
    finally:
        assistant.release_writer()
