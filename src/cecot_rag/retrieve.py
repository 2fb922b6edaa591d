"""Hybrid retrieval: dense (Chroma, cosine) and lexical (BM25) rankings fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice

import numpy as np

from cecot_rag.embedding import Embedder
from cecot_rag.models import Passage
from cecot_rag.store import PassageStore

RRF_K = 60


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(id) = sum 1/(k + rank). Ties keep first-seen order."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        seen: set[str] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


class HybridRetriever:
    def __init__(self, store: PassageStore, embedder: Embedder, candidates: int = 30) -> None:
        self.store = store
        self.embedder = embedder
        self.candidates = candidates

    def retrieve(self, query: str, top_k: int, query_embedding: np.ndarray | None = None) -> list[Passage]:
        """Bring the store in step with Chroma, then rank (for a caller that has not synced)."""
        self.store.sync()
        return self.rank(query, top_k, query_embedding)

    def rank(self, query: str, top_k: int, query_embedding: np.ndarray | None = None) -> list[Passage]:
        """The top_k committed passages for the query, best first, as of the store's last sync()."""
        if self.store.passage_count() == 0:
            return []
        if query_embedding is None:
            query_embedding = self.embedder.embed_one(query)
        n = max(self.candidates, top_k * 4)
        dense = self.store.dense_search(query_embedding, n)
        lexical = self.store.lexical.search(query, n)
        fused = reciprocal_rank_fusion([[pid for pid, _ in dense], [pid for pid, _ in lexical]])
        similarity = dict(dense)
        found = ((self.store.catalog_passage(pid), score) for pid, score in fused)
        chosen = list(islice(((p, score) for p, score in found if p is not None), top_k))
        missing = [p.id for p, _ in chosen if p.id not in similarity]
        for pid, vector in self.store.embeddings(missing).items():
            similarity[pid] = float(np.dot(vector, query_embedding))
        return [
            p.model_copy(update={"score": round(score, 6), "similarity": similarity.get(p.id)})
            for p, score in chosen
        ]
