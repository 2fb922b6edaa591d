"""The benchmark's measurements: ingestion throughput, question latency, cold start and peak memory
of cecot-rag, beside the naive llama-index pipeline and the bare cost of the embedding model; and
`run`, the whole benchmark in one process.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cecot_rag.bench.corpus import Fact, ScaledIndex, pieces_of, synthetic_corpus, write_corpus
from cecot_rag.bench.models import measure_models
from cecot_rag.bench.report import growth_exponent, targets, write_report
from cecot_rag.settings import PACKAGED_MODEL, Settings
from cecot_rag.stats import percentile

BUNDLED = Path(__file__).resolve().parents[3] / "documents"
INGEST_CORPUS = "ingest-corpus"  # the synthetic reports, under the run's work folder


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def _rounded_percentile(values: list[float], q: float) -> float:
    """To 0.1 ms. Never empty here: every size asks at least one question (each report has a fact)."""
    value = percentile(values, q)
    assert value is not None
    return round(value, 1)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem_kb = 0
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def measure_ingestion(work: Path, documents: int, repeat: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Project vs naive llama-index vs bare SentenceTransformer.encode, on the same synthetic files."""
    from cecot_rag import Assistant
    from cecot_rag.bench.baseline import NaiveLlamaIndexPipeline
    from cecot_rag.embedding import Embedder

    corpus = synthetic_corpus(documents)
    corpus_dir = work / INGEST_CORPUS
    paths = write_corpus(corpus, corpus_dir)
    text = [doc.text for doc in corpus]
    megabytes = sum(len(t.encode("utf-8")) for t in text) / 1e6
    pieces = [piece for t in text for piece in pieces_of(t)]
    model = Embedder().model
    model.encode(pieces[:8], batch_size=32)  # warm-up: first forward pass allocates

    bare, project, naive = [], [], []
    passages = nodes = 0
    for run in range(repeat):
        seconds, _ = timed(
            lambda: model.encode(pieces, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        )
        bare.append(seconds)
        assistant = Assistant(
            Settings(index_dir=work / f"ingest-project-{run}", documents_dir=corpus_dir, chroma_url=None)
        )
        assistant.store  # noqa: B018 - open Chroma outside the timer, as the naive side does
        seconds, report = timed(lambda a=assistant: a.ingest([corpus_dir]))
        assistant.release_writer()
        project.append(seconds)
        passages = report.passages
        pipeline = NaiveLlamaIndexPipeline(work / f"ingest-naive-{run}")
        seconds, nodes = timed(lambda p=pipeline: p.ingest(paths))
        naive.append(seconds)
        log(
            f"ingestion run {run + 1}/{repeat}: bare {bare[-1]:.1f}s, "
            f"project {project[-1]:.1f}s, naive {seconds:.1f}s"
        )

    def rates(seconds: float, units: int) -> dict[str, float]:
        return {
            "seconds": round(seconds, 3),
            "passages_per_s": round(units / seconds, 2),
            "mb_per_min": round(megabytes / seconds * 60, 4),
        }

    result = {
        "documents": documents,
        "megabytes": round(megabytes, 4),
        "project": {**rates(statistics.median(project), passages), "passages": passages},
        "naive_llama_index": {**rates(statistics.median(naive), nodes), "passages": nodes},
        "bare_encode": {**rates(statistics.median(bare), len(pieces)), "passages": len(pieces)},
    }
    result["project_over_bare"] = round(result["project"]["seconds"] / result["bare_encode"]["seconds"], 3)
    result["project_over_naive"] = round(
        result["project"]["seconds"] / result["naive_llama_index"]["seconds"], 3
    )
    result["index_dir"] = str(work / "ingest-project-0")
    return result


def measure_bundled_ingestion(work: Path, repeat: int) -> dict[str, Any]:
    from cecot_rag import Assistant

    seconds, passages = [], 0
    for run in range(repeat):
        assistant = Assistant(
            Settings(index_dir=work / f"bundled-{run}", documents_dir=BUNDLED, chroma_url=None)
        )
        assistant.store  # noqa: B018 - open Chroma outside the timer
        elapsed, report = timed(lambda a=assistant: a.ingest([BUNDLED]))
        assistant.release_writer()
        seconds.append(elapsed)
        passages = report.passages
    median = statistics.median(seconds)
    return {"passages": passages, "seconds": round(median, 3), "passages_per_s": round(passages / median, 2)}


def measure_latency(
    index: ScaledIndex, facts: list[Fact], repeat: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Warm p50/p95 of Assistant.ask and of the naive retriever on the same questions and index."""
    from cecot_rag import Assistant

    assistant = Assistant(index.settings)
    for fact in facts:  # warm-up: first questions build the lexical index and the catalog
        assistant.ask(fact.question)
        index.naive.retrieve(fact.question)
    ask_ms, retrieve_ms, naive_ms = [], [], []
    correct = naive_correct = 0
    for _ in range(repeat):
        for fact in facts:
            # A new question's sentences are not in the answerer's embedding cache yet: measure
            # that case, not a repeat of the warm-up.
            assistant.embedder.clear_cache()
            seconds, answer = timed(lambda q=fact.question: assistant.ask(q))
            ask_ms.append(seconds * 1000)
            correct += answer.answered and fact.answer in answer.text
            seconds, _ = timed(lambda q=fact.question: assistant.retrieve(q))
            retrieve_ms.append(seconds * 1000)
            seconds, top = timed(lambda q=fact.question: index.naive.retrieve(q))
            naive_ms.append(seconds * 1000)
            naive_correct += bool(top) and fact.answer in top[0]
    asked = len(facts) * repeat
    row = {
        "passages": assistant.store.passage_count(),
        "questions": asked,
        "ask_p50_ms": _rounded_percentile(ask_ms, 50),
        "ask_p95_ms": _rounded_percentile(ask_ms, 95),
        "retrieve_p50_ms": _rounded_percentile(retrieve_ms, 50),
        "naive_retrieve_p50_ms": _rounded_percentile(naive_ms, 50),
        "naive_retrieve_p95_ms": _rounded_percentile(naive_ms, 95),
        "fact_accuracy": round(correct / asked, 3),
        "naive_top_passage_accuracy": round(naive_correct / asked, 3),
    }
    row["ask_over_naive_p50"] = round(row["ask_p50_ms"] / max(row["naive_retrieve_p50_ms"], 1e-6), 2)
    log(
        f"{row['passages']} passages: ask p50 {row['ask_p50_ms']} ms p95 {row['ask_p95_ms']} ms, "
        f"naive {row['naive_retrieve_p50_ms']} ms, accuracy {row['fact_accuracy']}"
    )
    return row


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "cecot-rag"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cecot_rag.cli"]


def measure_cold_start(index_dir: Path, documents_dir: Path, fact: Fact, repeat: int) -> dict[str, Any]:
    """Wall time of `cecot-rag ask` as a fresh process on an existing index (median of repeat)."""
    env = {
        **os.environ,
        "CECOT_RAG_INDEX_DIR": str(index_dir),
        "CECOT_RAG_DOCUMENTS_DIR": str(documents_dir),
    }
    env.pop("CECOT_RAG_CHROMA_URL", None)
    runs, answered = [], False
    for _ in range(repeat):
        seconds, done = timed(
            lambda: subprocess.run(
                [*cli_command(), "ask", fact.question],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        )
        if done.returncode != 0:
            raise RuntimeError(f"cecot-rag ask failed: {done.stderr.strip()[-500:]}")
        answered = fact.answer in done.stdout
        runs.append(seconds)
    return {"seconds": round(statistics.median(runs), 2), "answer_correct": answered}


def rss_probe(index_dir: str, questions_file: str) -> None:
    """Run in a fresh process: open the index, answer the questions, print peak RSS as JSON."""
    from cecot_rag import Assistant

    questions = json.loads(Path(questions_file).read_text(encoding="utf-8"))
    assistant = Assistant(Settings(index_dir=Path(index_dir), documents_dir=Path(index_dir), chroma_url=None))
    for question in questions:
        assistant.ask(question)
    print(
        json.dumps(
            {"peak_rss_mb": round(peak_rss_kb() / 1024, 1), "passages": assistant.store.passage_count()}
        )
    )


def peak_rss_kb() -> int:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: Linux carries
    ru_maxrss across fork and exec, so a probe started by a big parent reported the parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # kilobytes on Linux


def measure_rss(index_dir: Path, facts: list[Fact], work: Path) -> dict[str, Any]:
    questions = work / "rss-questions.json"
    questions.write_text(json.dumps([f.question for f in facts]), encoding="utf-8")
    code = "import sys; from cecot_rag.bench.measure import rss_probe; rss_probe(sys.argv[1], sys.argv[2])"
    done = subprocess.run(
        [sys.executable, "-c", code, str(index_dir), str(questions)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(
    sizes: list[int],
    repeat: int,
    out: Path,
    quick: bool,
    log: Callable[[str], None] = print,
    documents: int | None = None,
) -> dict[str, Any]:
    """The whole benchmark in this process; documents is the size of the ingestion corpus."""
    started = time.perf_counter()
    result: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "repeat": repeat,
        "quick": quick,
        "model": PACKAGED_MODEL,
    }
    work = Path(tempfile.mkdtemp(prefix="cecot-bench-"))
    try:
        documents = documents or (8 if quick else 80)
        result["ingestion"] = measure_ingestion(work, documents, repeat, log)
        result["bundled_ingestion"] = measure_bundled_ingestion(work, repeat)
        result["models"] = measure_models(work / "models", work / INGEST_CORPUS, BUNDLED, repeat, log)
        facts = [doc.fact for doc in synthetic_corpus(documents) if doc.fact][:20]
        index = ScaledIndex(work, Path(result["ingestion"].pop("index_dir")), 64 if quick else 256, log)
        result["latency"] = []
        for size in sizes:
            index.grow_to(size)
            result["latency"].append(measure_latency(index, facts, repeat, log))
        result["growth_exponent"] = growth_exponent(result["latency"])
        bundled_index = work / "bundled-0"
        result["cold_start"] = {
            "bundled": measure_cold_start(
                bundled_index, BUNDLED, Fact("How many inmates can CECOT hold?", "40,000"), repeat
            ),
            "largest": {
                "passages": index.count,
                **measure_cold_start(index.settings.index_dir, work / "none", facts[0], repeat),
            },
        }
        log(f"cold start: {result['cold_start']}")
        result["rss_questions"] = len(facts)
        result["rss"] = measure_rss(index.settings.index_dir, facts, work)
        log(f"peak RSS: {result['rss']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["duration_s"] = round(time.perf_counter() - started, 1)
    result["targets"] = targets(result)
    write_report(result, out)
    return result
