"""The naive llama-index pipeline (the benchmark's yardstick) with the real model and real Chroma."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cecot_rag.bench.baseline import NaiveLlamaIndexPipeline
from conftest import ARTICLE


@pytest.fixture(scope="module")
def naive(tmp_path_factory: pytest.TempPathFactory) -> NaiveLlamaIndexPipeline:
    pipeline = NaiveLlamaIndexPipeline(tmp_path_factory.mktemp("naive"))
    assert pipeline.ingest([ARTICLE]) > 0
    return pipeline


def test_ingesting_the_bundled_article_splits_it_into_overlapping_nodes(
    naive: NaiveLlamaIndexPipeline,
) -> None:
    stored = naive.vector_store.client.get(include=["documents"])
    # The default SentenceSplitter (1024 tokens, 200 overlap) cuts the ~1,250-word article in two.
    assert len(stored["ids"]) == 2
    joined = " ".join(stored["documents"])
    assert "40,000 inmates" in joined and "Operación Convivencia" in joined


def test_retrieve_returns_stored_passage_texts_best_first(naive: NaiveLlamaIndexPipeline) -> None:
    question = "Which Colombian program in Medellín reduced crime through community interventions?"
    passages = naive.retrieve(question, top_k=2)
    stored = naive.vector_store.client.get(include=["documents", "embeddings"])
    vectors = {
        text: np.asarray(vec) for text, vec in zip(stored["documents"], stored["embeddings"], strict=True)
    }
    assert len(passages) == 2 and set(passages) == set(vectors)
    query = np.asarray(naive.embed_model.get_query_embedding(question))
    similarities = [float(vectors[text] @ query) for text in passages]
    assert similarities == sorted(similarities, reverse=True)


def test_answer_is_the_top_passage_text(naive: NaiveLlamaIndexPipeline) -> None:
    question = "Which Colombian program in Medellín reduced crime through community interventions?"
    assert naive.answer(question) == naive.retrieve(question, top_k=1)[0]
    assert "Operación Convivencia" in naive.answer(question)


def test_ingest_texts_indexes_each_text_and_reopens_from_disk(tmp_path: Path) -> None:
    pipeline = NaiveLlamaIndexPipeline(tmp_path / "naive")
    written = pipeline.ingest_texts(
        [
            ("report-1", "The prison in Tecoluca holds inmates in cells with metal bunks."),
            ("report-2", "Honduras announced a new island prison for gang leaders in 2023."),
        ]
    )
    assert written == 2
    reopened = NaiveLlamaIndexPipeline(tmp_path / "naive")
    assert "Honduras" in reopened.answer("Which country announced an island prison?", top_k=1)


def test_the_pipeline_sets_no_process_wide_llm(tmp_path: Path) -> None:
    """llama_index.core.Settings.llm is process-wide: a MockLLM left there by the baseline was offered
    as the "llama-index" generator by every Assistant created after it in the same process."""
    from llama_index.core import Settings as LlamaIndexSettings

    from cecot_rag import Assistant, Settings

    before = LlamaIndexSettings._llm
    pipeline = NaiveLlamaIndexPipeline(tmp_path / "naive")
    assert pipeline.ingest([ARTICLE]) > 0 and pipeline.answer("How many inmates can CECOT hold?")
    assert LlamaIndexSettings._llm is before
    if before is None:
        assistant = Assistant(Settings(index_dir=tmp_path / "index", documents_dir=tmp_path / "docs"))
        assert "llama-index" not in assistant.generators()
