"""llama-index adapters: the assistant as a llama-index retriever and query engine.

cecot-rag keeps its own pipeline (hybrid retrieval, extractive or verified generated answers); these
adapters let it take part in llama-index pipelines. `CecotRetriever` returns the hybrid retriever's
passages as `NodeWithScore` nodes (postprocessors, fusion retrievers and `RetrieverQueryEngine`
accept it); `CecotQueryEngine` answers with `Assistant.ask`, so the response text is the cited
answer and the source nodes are the cited passages. The async methods run the sync path in a
worker thread: retrieval and answering are CPU work on the local model and index.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.callbacks import CallbackManager
from llama_index.core.prompts.mixin import PromptMixinType
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from cecot_rag.models import Answer, Citation, Passage


class Asks(Protocol):
    """What the adapters need of an Assistant (a Protocol, so this module does not import assistant.py)."""

    def retrieve(self, question: str, top_k: int | None = None) -> list[Passage]: ...

    def ask(
        self,
        question: str,
        history: Any = None,
        top_k: int | None = None,
        generator: str | None = None,
    ) -> Answer: ...


# Offsets, ids and scores locate a passage for a program; an LLM prompt or an embedding of the
# node is better off with only the title, source and page beside the text.
_BOOKKEEPING_KEYS = [
    "document_id",
    "start_char",
    "end_char",
    "similarity",
    "citation",
    "quote",
    "quote_start",
    "quote_end",
]


def passage_node(passage: Passage, citation: Citation | None = None) -> TextNode:
    """A passage as a llama-index node: same id and text; title, source, page and offsets as metadata.

    With a citation, the node also carries its number, the quoted sentence(s) and the quote's
    offsets into the passage text.
    """
    metadata: dict[str, Any] = {
        "title": passage.title,
        "source": passage.source,
        "page": passage.page,
        "start_char": passage.start_char,
        "end_char": passage.end_char,
        "document_id": passage.document_id,
        "similarity": passage.similarity,
    }
    if citation is not None:
        metadata.update(
            citation=citation.number,
            quote=citation.quote,
            quote_start=citation.quote_start,
            quote_end=citation.quote_end,
        )
    return TextNode(
        id_=passage.id,
        text=passage.text,
        metadata=metadata,
        start_char_idx=passage.start_char,
        end_char_idx=passage.end_char,
        excluded_llm_metadata_keys=list(_BOOKKEEPING_KEYS),
        excluded_embed_metadata_keys=list(_BOOKKEEPING_KEYS),
    )


def answer_response(answer: Answer) -> Response:
    """An Answer as a llama-index Response: the cited text, one source node per citation."""
    return Response(
        response=answer.text,
        source_nodes=[
            NodeWithScore(node=passage_node(c.passage, c), score=c.passage.score) for c in answer.citations
        ],
        metadata={
            "answered": answer.answered,
            "generator": answer.generator,
            "citations": [c.model_dump() for c in answer.citations],
            "notice": answer.notice,
        },
    )


class CecotRetriever(BaseRetriever):
    """cecot-rag's hybrid retrieval (dense + lexical, fused) as a llama-index retriever."""

    def __init__(
        self, assistant: Asks, top_k: int | None = None, callback_manager: CallbackManager | None = None
    ) -> None:
        super().__init__(callback_manager=callback_manager)
        self._assistant = assistant
        self._top_k = top_k

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        passages = self._assistant.retrieve(query_bundle.query_str, self._top_k)
        return [NodeWithScore(node=passage_node(p), score=p.score) for p in passages]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)


class CecotQueryEngine(BaseQueryEngine):
    """Assistant.ask as a llama-index query engine: the cited answer, or the abstention with no sources."""

    def __init__(
        self,
        assistant: Asks,
        top_k: int | None = None,
        generator: str | None = None,
        callback_manager: CallbackManager | None = None,
    ) -> None:
        super().__init__(callback_manager=callback_manager)
        self._assistant = assistant
        self._top_k = top_k
        self._generator = generator

    def _get_prompt_modules(self) -> PromptMixinType:
        return {}  # the prompts belong to the answerer, not to llama-index

    def _query(self, query_bundle: QueryBundle) -> Response:
        answer = self._assistant.ask(query_bundle.query_str, top_k=self._top_k, generator=self._generator)
        return answer_response(answer)

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return await asyncio.to_thread(self._query, query_bundle)
