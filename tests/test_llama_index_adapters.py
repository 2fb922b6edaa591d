"""The assistant inside llama-index: a retriever and a query engine over the real model and Chroma."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.llms import MockLLM
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import MetadataMode, QueryBundle

from cecot_rag import Assistant
from cecot_rag.assistant import InvalidQuestion
from cecot_rag.ingest.loaders import load_file
from conftest import ARTICLE

QUESTION = "How many inmates can CECOT hold?"
UNANSWERABLE = "What is the capital of Australia?"


def test_the_retriever_gives_the_passages_as_nodes_with_their_metadata(bundled_assistant: Assistant) -> None:
    retriever = bundled_assistant.as_retriever(top_k=3)
    assert isinstance(retriever, BaseRetriever)
    nodes = retriever.retrieve(QUESTION)
    passages = bundled_assistant.retrieve(QUESTION, top_k=3)
    assert len(nodes) == 3
    assert [n.node.node_id for n in nodes] == [p.id for p in passages]
    assert [n.score for n in nodes] == [p.score for p in passages]
    article = load_file(ARTICLE)
    for node, passage in zip(nodes, passages, strict=True):
        assert node.node.get_content() == passage.text
        assert node.node.metadata == {
            "title": article.title,
            "source": passage.source,
            "page": None,
            "start_char": passage.start_char,
            "end_char": passage.end_char,
            "document_id": passage.document_id,
            "similarity": passage.similarity,
        }
        assert article.text[passage.start_char : passage.end_char] == node.node.get_content()
        # What an LLM sees: the text with its title and source, not the bookkeeping.
        for_llm = node.node.get_content(metadata_mode=MetadataMode.LLM)
        assert f"title: {article.title}" in for_llm and "start_char" not in for_llm
    assert len(bundled_assistant.as_retriever().retrieve(QUESTION)) == bundled_assistant.settings.top_k


def test_the_retriever_works_async_and_refuses_bad_questions(bundled_assistant: Assistant) -> None:
    retriever = bundled_assistant.as_retriever(top_k=2)
    nodes = asyncio.run(retriever.aretrieve(QueryBundle(QUESTION)))
    assert [n.node.node_id for n in nodes] == [p.id for p in bundled_assistant.retrieve(QUESTION, top_k=2)]
    with pytest.raises(InvalidQuestion):
        retriever.retrieve("what\x00 is this")


def test_the_retriever_composes_with_a_llama_index_query_engine(bundled_assistant: Assistant) -> None:
    retriever = bundled_assistant.as_retriever(top_k=4)
    nodes = retriever.retrieve(QUESTION)
    cutoff = nodes[0].score  # a postprocessor keeping only the best-scored node(s)
    kept = [n for n in nodes if n.score is not None and n.score >= cutoff]
    assert 0 < len(kept) < len(nodes)
    # MockLLM is llama-index's own test LLM: it answers with the prompt it was given.
    engine = RetrieverQueryEngine.from_args(
        retriever,
        llm=MockLLM(),
        node_postprocessors=[SimilarityPostprocessor(similarity_cutoff=cutoff)],
    )
    response = engine.query(QUESTION)
    assert [n.node.node_id for n in response.source_nodes] == [n.node.node_id for n in kept]
    for node in nodes:  # only the kept passages reached the prompt
        assert (node.node.get_content() in str(response)) == (node in kept)


def test_the_query_engine_answers_like_ask_with_the_cited_passages_as_sources(
    bundled_assistant: Assistant,
) -> None:
    engine = bundled_assistant.as_query_engine()
    assert isinstance(engine, BaseQueryEngine)
    response = engine.query(QUESTION)
    answer = bundled_assistant.ask(QUESTION)
    assert answer.answered and answer.citations
    assert response.response == answer.text
    assert "40,000" in str(response)
    assert [n.node.node_id for n in response.source_nodes] == [c.passage.id for c in answer.citations]
    for node, citation in zip(response.source_nodes, answer.citations, strict=True):
        meta = node.node.metadata
        assert node.node.get_content() == citation.passage.text
        assert node.score == citation.passage.score
        assert (meta["citation"], meta["quote"]) == (citation.number, citation.quote)
        assert node.node.get_content()[meta["quote_start"] : meta["quote_end"]] == citation.quote
        assert (meta["start_char"], meta["end_char"]) == (
            citation.passage.start_char,
            citation.passage.end_char,
        )
    assert response.metadata == {
        "answered": True,
        "generator": "extractive",
        "citations": [c.model_dump() for c in answer.citations],
        "notice": None,
    }
    asynchronous = asyncio.run(bundled_assistant.as_query_engine(top_k=3).aquery(QUESTION))
    assert asynchronous.response == bundled_assistant.ask(QUESTION, top_k=3).text


def test_an_unanswerable_question_gives_the_abstention_and_no_sources(bundled_assistant: Assistant) -> None:
    response = bundled_assistant.as_query_engine(generator="extractive").query(UNANSWERABLE)
    answer = bundled_assistant.ask(UNANSWERABLE)
    assert response.response == answer.text
    assert "do not say" in str(response)
    assert response.source_nodes == []
    assert response.metadata is not None
    assert response.metadata["answered"] is False and response.metadata["citations"] == []
