"""Sentence vectors stored at ingestion: a passage's vector is their mean, and a question embeds
only itself (the answerer reads the stored vectors instead of embedding sentences)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cecot_rag import Assistant
from cecot_rag.answer.features import FeatureExtractor
from cecot_rag.answer.path import AnswerPath
from cecot_rag.ingest.pipeline import Progress
from cecot_rag.sentence_vectors import MODEL_KEY, VECTORS_KEY, pack, passage_sentences, unpack
from conftest import ROOT, make_settings

QUESTIONS = [
    json.loads(line)["question"]
    for line in (ROOT / "eval" / "cecot.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip() and not json.loads(line).get("history")
][:20]


class EmbedSpy:
    """Wraps a real Embedder's two ways in (questions and passages), recording every text it is
    asked to embed; stop() puts the class's methods back."""

    def __init__(self, assistant: Assistant) -> None:
        self.texts: list[str] = []
        self._embedder = embedder = assistant.embedder
        real_passages, real_query = embedder.embed_passages, embedder.embed_query

        def embed_passages(texts, progress=None):
            self.texts.extend(texts)
            return real_passages(texts, progress=progress)

        def embed_query(text):
            self.texts.append(text)
            return real_query(text)

        embedder.embed_passages = embed_passages  # type: ignore[method-assign]
        embedder.embed_query = embed_query  # type: ignore[method-assign]

    def stop(self) -> None:
        del self._embedder.embed_passages, self._embedder.embed_query


def _passages(assistant: Assistant) -> tuple[list[str], list[str], list[dict]]:
    got = assistant.store.passages.get(include=["documents", "metadatas"])
    return got["ids"], got["documents"], got["metadatas"]


@pytest.fixture(scope="module")
def whole_passages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    """The bundled corpus ingested the old way: passages embedded whole, no stored sentences."""
    assistant = Assistant(make_settings(tmp_path_factory.mktemp("whole"), sentence_vectors=False))
    assistant.ingest([assistant.settings.documents_dir])
    yield assistant
    assistant.release_writer()


def test_pack_round_trip_and_refusals() -> None:
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(7, 384)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    back = unpack(pack(rows))
    assert back is not None and back.shape == (7, 384)
    assert np.min(np.sum(back * rows, axis=1)) > 0.9999
    assert len(pack(rows)) < 7 * 384 * 1.4 + 64  # about one byte a dimension, base64
    empty = unpack(pack(np.zeros((0, 384), dtype=np.float32)))
    assert empty is not None and empty.shape == (0, 384)
    packed = pack(rows)
    for bad in [None, "", 42, "sv0:" + packed[4:], "sv1:not base64!", packed[:-8], "sv1:" + "A" * 8]:
        assert unpack(bad) is None, bad


def test_ingestion_stores_every_sentence_and_the_passage_vector_is_their_mean(
    bundled_assistant: Assistant,
) -> None:
    assistant = bundled_assistant
    ids, texts, metas = _passages(assistant)
    assert len(ids) >= 8
    stored = assistant.store.sentence_vectors(ids, assistant.embedder.model_name)
    assert set(stored) == set(ids)
    vectors = assistant.store.embeddings(ids)
    for pid, text, meta in zip(ids, texts, metas, strict=True):
        sentences = passage_sentences(text)
        assert meta[MODEL_KEY] == assistant.embedder.model_name
        assert stored[pid].shape == (len(sentences), 384)
        fresh = assistant.embedder.embed(sentences)
        assert np.min(np.sum(fresh * stored[pid], axis=1)) > 0.999
        mean = fresh.sum(axis=0) / np.linalg.norm(fresh.sum(axis=0))
        assert float(mean @ vectors[pid]) > 0.9999
    # Vectors another model made are never used.
    assert assistant.store.sentence_vectors(ids, "some/other-model") == {}


def test_a_question_embeds_only_itself(bundled_assistant: Assistant) -> None:
    spy = EmbedSpy(bundled_assistant)
    try:
        bundled_assistant.embedder.clear_cache()
        answer = bundled_assistant.ask("How many inmates can CECOT hold?")
    finally:
        spy.stop()
    assert answer.answered and "40,000" in answer.text
    assert spy.texts == ["How many inmates can CECOT hold?"]


def test_passages_embedded_whole_still_answer_by_embedding_sentences(whole_passages: Assistant) -> None:
    ids, texts, metas = _passages(whole_passages)
    assert all(VECTORS_KEY not in meta for meta in metas)
    vectors = whole_passages.store.embeddings(ids)
    whole = whole_passages.embedder.embed(texts)
    assert min(float(v @ vectors[pid]) for pid, v in zip(ids, whole, strict=True)) > 0.9999
    spy = EmbedSpy(whole_passages)
    try:
        whole_passages.embedder.clear_cache()
        answer = whole_passages.ask("How many inmates can CECOT hold?")
    finally:
        spy.stop()
    assert answer.answered and "40,000" in answer.text
    assert len(spy.texts) > 10  # the question, then the retrieved passages' sentences


def test_stored_and_freshly_embedded_sentences_give_the_same_answers(bundled_assistant: Assistant) -> None:
    """Stored vectors are int8: the answers they give must be those full precision gives."""
    assistant = bundled_assistant
    stored = assistant.path
    # The same path, but every sentence embedded now in full precision instead of read from Chroma.
    fresh = AnswerPath(
        stored.retrieve,
        stored.embed_query,
        FeatureExtractor(assistant.embedder, assistant.store.idf, stored=None),
        stored.scorer,
        stored.first_stage,
        stored.threshold,
        stored.max_sentences,
    )
    answered = 0
    assistant.store.sync()
    for text in QUESTIONS:
        a, b = stored.find(text, [], 5), fresh.find(text, [], 5)
        assert (a.answered, [c.text for c in a.chosen]) == (b.answered, [c.text for c in b.chosen]), text
        answered += a.answered
    assert answered >= len(QUESTIONS) // 2


def test_switching_the_setting_re_embeds_and_progress_counts_passages(tmp_path: Path) -> None:
    counted: list[int] = []
    assistant = Assistant(make_settings(tmp_path))
    try:
        first = assistant.ingest(
            [assistant.settings.documents_dir], progress=Progress(on_passages=counted.append)
        )
        assert sum(counted) == first.passages > 0
        assert all(n > 0 for n in counted)
    finally:
        assistant.release_writer()
    other = Assistant(make_settings(tmp_path, sentence_vectors=False))
    try:
        again = other.ingest([other.settings.documents_dir])
        assert len(again.updated) == 1 and again.unchanged == []
        _, _, metas = _passages(other)
        assert metas and all(VECTORS_KEY not in meta for meta in metas)
    finally:
        other.release_writer()
