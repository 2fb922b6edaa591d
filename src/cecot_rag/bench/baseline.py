"""A naive llama-index pipeline with library defaults: the yardstick for speed and answer quality.

It is what a user would write from the llama-index quick start: read files, split with the default
SentenceSplitter, embed with HuggingFaceEmbedding (the same packaged model as cecot-rag), store in
an embedded Chroma collection, retrieve by similarity. With no LLM, the "answer" is the top passage.

Its llama-index integrations come with the `bench` extra; importing this module without them
raises MissingExtra, which the command line reports in one line (exit status 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import chromadb
from chromadb.config import Settings as ChromaSettings
from llama_index.core import Document, SimpleDirectoryReader, StorageContext, VectorStoreIndex
from llama_index.core.schema import TextNode

from cecot_rag.embedding import resolve_model_path
from cecot_rag.errors import MissingExtra
from cecot_rag.settings import PACKAGED_MODEL

try:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore
except ImportError:
    raise MissingExtra("cecot-rag eval --baseline", "bench") from None

COLLECTION = "naive_baseline"


class NaiveLlamaIndexPipeline:
    """Ingest and retrieve the way the llama-index documentation shows, over persistent Chroma."""

    def __init__(self, persist_dir: Path, model_name: str = PACKAGED_MODEL) -> None:
        self.persist_dir = Path(persist_dir)
        self.persist_dir.mkdir(parents=True, exist_ok=True)
        # The only departures from the defaults: the packaged model instead of a hub name, and CPU,
        # so the comparison with cecot-rag is like for like. No LLM is needed (retrieval only) and
        # none is set: llama_index.core.Settings.llm is process-wide, and a MockLLM left there
        # would be offered as the "llama-index" generator by every Assistant in this process.
        self.embed_model = HuggingFaceEmbedding(model_name=resolve_model_path(model_name), device="cpu")
        client = chromadb.PersistentClient(
            path=str(self.persist_dir), settings=ChromaSettings(anonymized_telemetry=False)
        )
        collection = client.get_or_create_collection(COLLECTION)
        self.vector_store = ChromaVectorStore(chroma_collection=collection)
        self._storage = StorageContext.from_defaults(vector_store=self.vector_store)
        self.index = VectorStoreIndex.from_vector_store(self.vector_store, embed_model=self.embed_model)

    def _insert(self, documents: list[Any]) -> int:
        before = self.vector_store.client.count()
        self.index = VectorStoreIndex.from_documents(
            documents, storage_context=self._storage, embed_model=self.embed_model
        )
        return int(self.vector_store.client.count() - before)

    def ingest(self, paths: list[Path]) -> int:
        """Read the files with SimpleDirectoryReader and index them; returns the nodes written."""
        documents = SimpleDirectoryReader(input_files=[str(p) for p in paths]).load_data()
        return self._insert(documents)

    def ingest_texts(self, texts: list[tuple[str, str]]) -> int:
        """Index (id, text) pairs as Documents; returns the nodes written."""
        return self._insert([Document(text=text, id_=doc_id) for doc_id, text in texts])

    def add_embedded(self, passages: list[tuple[str, str, Sequence[float]]]) -> int:
        """Store (id, text, embedding) nodes without embedding them (large benchmark corpora)."""
        nodes = [TextNode(id_=pid, text=text, embedding=list(map(float, vec))) for pid, text, vec in passages]
        return len(self.vector_store.add(nodes))

    def retrieve(self, question: str, top_k: int = 5) -> list[str]:
        """Passage texts nearest to the question, best first."""
        nodes = self.index.as_retriever(similarity_top_k=top_k).retrieve(question)
        return [n.node.get_content() for n in nodes]

    def answer(self, question: str, top_k: int = 5) -> str:
        """What a user gets from the retriever with no LLM: the top passage ("" if none)."""
        passages = self.retrieve(question, top_k)
        return passages[0] if passages else ""
