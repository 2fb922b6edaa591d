"""`cecot-rag bench`: ingestion throughput, question latency, cold start and memory, beside a naive
llama-index pipeline and the bare cost of the embedding model. Writes JSON, Markdown and a PNG plot.

Large corpora are built without embedding every passage (that alone would take about an hour on
two cores): the passages that carry checkable facts have real embeddings; filler passages reuse the
real embeddings of a small pool of filler texts, each vector perturbed with a little Gaussian noise
and re-normalised, and each text is its pool text with the sentences shuffled and a serial added.
They go through the project's own store (PassageStore.write_passages + commit), so Chroma HNSW,
BM25 and the answerer work at the stated size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cecot_rag.settings import PACKAGED_MODEL, Settings

DEFAULT_SIZES = "1000,10000,100000"
QUICK_SIZES = [200, 1000]
BARE_PIECE_WORDS = 180
FILLER_PER_DOCUMENT = 1000
FILLER_NOISE = 0.02  # per dimension: perturbed vectors keep a cosine of about 0.93 to their source
ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "documents"

# -- the synthetic corpus --------------------------------------------------------------------
COUNTRIES = ["El Salvador", "Honduras", "Guatemala", "Ecuador", "Peru", "Costa Rica", "Colombia", "Mexico"]
CITIES = ["Tecoluca", "San Miguel", "Tegucigalpa", "Guayaquil", "Lima", "San José", "Medellín", "Quito"]
INSTITUTIONS = [
    "the national police",
    "the ombudsman's office",
    "the prison directorate",
    "the attorney general",
    "the legislative assembly",
    "a regional human rights commission",
    "the ministry of security",
    "an independent monitoring group",
]
TOPICS = [
    "pretrial detention",
    "overcrowding",
    "due process",
    "gang extortion",
    "community policing",
    "youth violence prevention",
    "emergency powers",
    "prison health care",
    "judicial independence",
    "forced displacement",
]
FACILITIES = ["mega-prison", "detention centre", "maximum-security wing", "women's prison", "juvenile centre"]
MONTHS = ["January", "March", "May", "July", "September", "November"]
SENTENCES = [
    "In {city}, {institution} reported new measures on {topic} during {year}.",
    "Observers in {country} noted that {topic} remained a central concern for {institution}.",
    "According to {institution}, the debate on {topic} intensified after the {year} elections.",
    "Families interviewed in {city} described delays linked to {topic} and limited access to lawyers.",
    "Analysts compared the policy on {topic} in {country} with earlier mano dura programmes.",
    "The report argues that {topic} cannot be addressed by incarceration alone.",
    "Local organisations in {city} asked {institution} to publish data on {topic}.",
    "Officials in {country} defended the approach to {topic} as a response to public demand for safety.",
    "A survey conducted in {year} found mixed public views on {topic} in {country}.",
    "Legal experts warned that {topic} in {country} risks eroding constitutional guarantees.",
    "Budget documents from {year} show spending shifts towards {topic} programmes in {city}.",
    "Researchers recommended independent oversight of {topic} by {institution}.",
]
FACT = (
    "Report {code} found that {count} detainees were held at the {facility} in {city} during {month} {year}."
)
FACT_QUESTION = "According to report {code}, how many detainees were held at the {facility} in {city}?"


@dataclass(frozen=True)
class Fact:
    question: str
    answer: str


@dataclass(frozen=True)
class SyntheticDocument:
    name: str
    title: str
    text: str
    fact: Fact | None


def _sentence(rng: random.Random) -> str:
    return rng.choice(SENTENCES).format(
        city=rng.choice(CITIES),
        country=rng.choice(COUNTRIES),
        institution=rng.choice(INSTITUTIONS),
        topic=rng.choice(TOPICS),
        year=rng.randint(2015, 2025),
    )


def synthetic_corpus(
    documents: int, seed: int = 7, paragraphs: int = 6, with_facts: bool = True
) -> list[SyntheticDocument]:
    """Report-like documents of about 90 words a paragraph; each carries one unique checkable fact."""
    rng = random.Random(seed)
    corpus: list[SyntheticDocument] = []
    for n in range(documents):
        body = [" ".join(_sentence(rng) for _ in range(rng.randint(5, 7))) for _ in range(paragraphs)]
        fact = None
        if with_facts:
            code = f"R-{seed % 100:02d}{n:04d}"
            slots = {
                "code": code,
                "count": f"{rng.randint(1000, 39999):,}",
                "facility": rng.choice(FACILITIES),
                "city": rng.choice(CITIES),
                "month": rng.choice(MONTHS),
                "year": rng.randint(2019, 2025),
            }
            where = rng.randrange(paragraphs)
            body[where] = f"{body[where]} {FACT.format(**slots)}"
            fact = Fact(FACT_QUESTION.format(**slots), slots["count"])
        topic = rng.choice(TOPICS)
        title = f"Monitoring report {n + 1}: {topic} in {rng.choice(COUNTRIES)}"
        corpus.append(SyntheticDocument(f"report-{n:04d}", title, "\n\n".join(body), fact))
    return corpus


def write_corpus(corpus: Sequence[SyntheticDocument], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for doc in corpus:
        path = folder / f"{doc.name}.md"
        path.write_text(f"# {doc.title}\n\n{doc.text}\n", encoding="utf-8")
        paths.append(path)
    return paths


def pieces_of(text: str, words: int = BARE_PIECE_WORDS) -> list[str]:
    split = text.split()
    return [" ".join(split[i : i + words]) for i in range(0, len(split), words)]


# -- measuring -------------------------------------------------------------------------------
def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


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
    from cecot_rag.baseline import NaiveLlamaIndexPipeline
    from cecot_rag.embedding import Embedder

    corpus = synthetic_corpus(documents)
    corpus_dir = work / "ingest-corpus"
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


class ScaledIndex:
    """An index grown to given sizes: the fact passages, then perturbed filler (see module docstring)."""

    def __init__(self, work: Path, source_index: Path, pool_size: int, log: Callable[[str], None]) -> None:
        from cecot_rag.baseline import NaiveLlamaIndexPipeline
        from cecot_rag.embedding import Embedder
        from cecot_rag.sentence_vectors import passage_sentences, passage_vector
        from cecot_rag.store import PassageStore

        self.log = log
        self.embedder = Embedder()
        self.settings = Settings(index_dir=work / "scaled", documents_dir=work / "none", chroma_url=None)
        self.store = PassageStore(self.settings, self.embedder.model_name, self.embedder.dimension)
        self.naive = NaiveLlamaIndexPipeline(work / "scaled-naive")
        self.rng = np.random.default_rng(11)
        self.count = 0
        self._copy_fact_documents(source_index)
        filler = synthetic_corpus(max(1, pool_size // 4), seed=99, with_facts=False)
        self.pool_texts = [piece for doc in filler for piece in pieces_of(doc.text, 140)][:pool_size]
        # Filler passages get stored sentence vectors, and vectors that are the mean of them, as
        # ingestion gives them: the pool's sentences are embedded once; each passage's own
        # "Field note" opening sentence shares one vector (it never answers anything).
        pool_sentences = list(dict.fromkeys(s for t in self.pool_texts for s in passage_sentences(t)))
        self.sentence_vector = dict(zip(pool_sentences, self.embedder.embed(pool_sentences), strict=True))
        self.opening_vector = self.embedder.embed_one("Field note.")
        self.pool_vectors = np.vstack(
            [
                passage_vector(np.vstack([self.sentence_vector[s] for s in passage_sentences(t)]))
                for t in self.pool_texts
            ]
        )
        self._filler_documents = 0

    def _copy_fact_documents(self, source_index: Path) -> None:
        from cecot_rag.sentence_vectors import VECTORS_KEY
        from cecot_rag.store import PassageStore, _passage_from

        source = PassageStore(
            Settings(index_dir=source_index, documents_dir=source_index, chroma_url=None),
            self.embedder.model_name,
            self.embedder.dimension,
        )
        for record in source.records_by_id().values():
            got = source.passages.get(
                where={"$and": [{"document_id": record.document_id}, {"version": record.version}]},
                include=["documents", "metadatas", "embeddings"],
            )
            passages = [
                _passage_from(pid, text or "", meta or {}, record.title)
                for pid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
            ]
            vectors = np.asarray(got["embeddings"], dtype=np.float32)
            packed = [str((meta or {}).get(VECTORS_KEY, "")) for meta in got["metadatas"]]
            self._write(record, passages, vectors, packed)
        self.fact_passages = self.count

    def _write(self, record: Any, passages: list[Any], vectors: np.ndarray, packed: list[str]) -> None:
        self.store.begin(record.document_id, record.version)
        self.store.write_passages(passages, record.version, vectors, packed, self.embedder.model_name)
        self.store.commit(record)
        self.naive.add_embedded([(p.id, p.text, vec) for p, vec in zip(passages, vectors, strict=True)])
        self.count += len(passages)

    def grow_to(self, size: int) -> None:
        from cecot_rag.models import Passage
        from cecot_rag.sentence_vectors import pack, passage_sentences
        from cecot_rag.store import DocumentRecord, now_iso

        started = time.perf_counter()
        while self.count < size:
            n = min(FILLER_PER_DOCUMENT, size - self.count)
            doc_id = f"filler{self._filler_documents:05d}"
            version = "v1"
            self._filler_documents += 1
            picks = self.rng.integers(0, len(self.pool_texts), size=n)
            noise = self.rng.normal(0.0, FILLER_NOISE, size=(n, self.pool_vectors.shape[1]))
            vectors = self.pool_vectors[picks] + noise.astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            passages, offset = [], 0
            for i, pick in enumerate(picks):
                sentences = self.pool_texts[pick].split(". ")
                random.Random(int(pick) * 7919 + i).shuffle(sentences)
                text = f"Field note {doc_id}-{i}. " + ". ".join(sentences)
                passages.append(
                    Passage(
                        id=f"{doc_id}:{version}:{i:05d}",
                        document_id=doc_id,
                        title=f"Field notes {doc_id}",
                        source=f"synthetic://{doc_id}",
                        start_char=offset,
                        end_char=offset + len(text),
                        text=text,
                    )
                )
                offset += len(text) + 1
            record = DocumentRecord(
                document_id=doc_id,
                title=f"Field notes {doc_id}",
                source=f"synthetic://{doc_id}",
                version=version,
                file_hash=doc_id,
                passages=n,
                ingested_at=now_iso(),
            )
            packed = [
                pack(
                    np.vstack(
                        [self.sentence_vector.get(s, self.opening_vector) for s in passage_sentences(p.text)]
                    )
                )
                for p in passages
            ]
            self._write(record, passages, vectors.astype(np.float32), packed)
        self.log(f"index grown to {self.count} passages in {time.perf_counter() - started:.0f}s")


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
        "passages": index.store.passage_count(),
        "questions": asked,
        "ask_p50_ms": round(percentile(ask_ms, 50), 1),
        "ask_p95_ms": round(percentile(ask_ms, 95), 1),
        "retrieve_p50_ms": round(percentile(retrieve_ms, 50), 1),
        "naive_retrieve_p50_ms": round(percentile(naive_ms, 50), 1),
        "naive_retrieve_p95_ms": round(percentile(naive_ms, 95), 1),
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
    code = "import sys; from cecot_rag.bench import rss_probe; rss_probe(sys.argv[1], sys.argv[2])"
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


# -- reporting -------------------------------------------------------------------------------
def growth_exponent(rows: list[dict[str, Any]], key: str = "ask_p50_ms") -> float | None:
    """Slope of log(latency) against log(passages) between the smallest and largest size."""
    if len(rows) < 2 or rows[0]["passages"] == rows[-1]["passages"]:
        return None
    first, last = rows[0], rows[-1]
    return round(float(np.log(last[key] / first[key]) / np.log(last["passages"] / first["passages"])), 3)


def targets(result: dict[str, Any]) -> dict[str, Any]:
    rows = result["latency"]
    at_10k = next((r for r in rows if r["passages"] >= 10_000), None)
    largest = rows[-1] if rows else None
    checks: dict[str, Any] = {
        "ingestion_at_most_1.2x_bare_encode": result["ingestion"]["project_over_bare"] <= 1.2,
        "ask_p50_at_most_2x_naive_retrieval": all(r["ask_over_naive_p50"] <= 2.0 for r in rows),
        "ask_p95_under_250ms_at_10k": None if at_10k is None else at_10k["ask_p95_ms"] < 250,
        "latency_sublinear": None if result["growth_exponent"] is None else result["growth_exponent"] < 1.0,
        "cold_ask_under_4s": result["cold_start"]["largest"]["seconds"] < 4.0,
        "serving_rss_under_1.5GB": result["rss"]["peak_rss_mb"] < 1536,
    }
    if largest is not None and largest["passages"] < 100_000:
        checks["note"] = f"largest size measured: {largest['passages']} passages"
    return checks


def markdown(result: dict[str, Any]) -> str:
    m, ing = result["machine"], result["ingestion"]
    lines = [
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['ram_gb']} GB RAM, Python {m['python']}; "
        f"load average at start {m['load_average_at_start']} (other jobs shared the machine when it "
        "was above the CPU count). "
        f"Run: {result['started']}, {result['duration_s']:.0f} s, repeat={result['repeat']}.",
        "",
        f"**Ingestion** ({ing['documents']} synthetic reports, {ing['megabytes']} MB of text; median):",
        "",
        "| pipeline | seconds | passages | passages/s | MB/min |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, key in [
        ("cecot-rag", "project"),
        ("naive llama-index", "naive_llama_index"),
        ("bare model encode (180-word pieces)", "bare_encode"),
    ]:
        r = ing[key]
        lines.append(
            f"| {name} | {r['seconds']} | {r['passages']} | {r['passages_per_s']} | {r['mb_per_min']} |"
        )
    b = result["bundled_ingestion"]
    lines += [
        f"| cecot-rag, bundled corpus | {b['seconds']} | {b['passages']} | {b['passages_per_s']} | |",
        "",
        f"cecot-rag / bare encode: **{ing['project_over_bare']}x**; "
        f"cecot-rag / naive: {ing['project_over_naive']}x.",
        "",
        "**Question latency** (warm; the naive column is llama-index retrieval with no answer step):",
        "",
        "| passages | ask p50 ms | ask p95 ms | retrieve p50 ms | naive retrieve p50 ms | ask / naive | "
        "fact accuracy (ask) | naive top-passage accuracy |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["latency"]:
        lines.append(
            f"| {r['passages']} | {r['ask_p50_ms']} | {r['ask_p95_ms']} | {r['retrieve_p50_ms']} | "
            f"{r['naive_retrieve_p50_ms']} | {r['ask_over_naive_p50']}x | {r['fact_accuracy']} | "
            f"{r['naive_top_passage_accuracy']} |"
        )
    cold, rss = result["cold_start"], result["rss"]
    lines += [
        "",
        "Latency growth exponent (log-log slope of ask p50, smallest to largest size): "
        f"{result['growth_exponent']}.",
        "",
        f"**Cold start** `cecot-rag ask` (fresh process): bundled index {cold['bundled']['seconds']} s; "
        f"{cold['largest']['passages']} passages {cold['largest']['seconds']} s.",
        f"**Peak RSS** of a process that opened the {rss['passages']}-passage index and answered "
        f"{result['rss_questions']} questions: {rss['peak_rss_mb']} MB.",
        "",
        "**Targets**: "
        + ", ".join(
            f"{k}: {'pass' if v is True else 'FAIL' if v is False else v}"
            for k, v in result["targets"].items()
        ),
        "",
    ]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["latency"]
    sizes = [r["passages"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label, style in [
        ("ask_p50_ms", "cecot-rag ask p50", "o-"),
        ("ask_p95_ms", "cecot-rag ask p95", "o--"),
        ("retrieve_p50_ms", "cecot-rag retrieve p50", "s-"),
        ("naive_retrieve_p50_ms", "naive llama-index retrieve p50", "^-"),
    ]:
        ax.plot(sizes, [r[key] for r in rows], style, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("passages in the index")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"Question latency, {result['machine']['cpus']} CPUs")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the command -----------------------------------------------------------------------------
def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"--sizes expects comma-separated whole numbers, got {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise ValueError(f"--sizes expects positive whole numbers, got {text!r}")
    return sizes


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
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (out / "bench.md").write_text(markdown(result), encoding="utf-8")
    plot(result, out / "latency.png")
    return result


def run_bench(args: argparse.Namespace) -> int:
    """Entry point of `cecot-rag bench`."""
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as exc:
        print(f"cecot-rag: error: {exc}", file=sys.stderr)
        return 2
    repeat = args.repeat
    if args.quick:
        if args.sizes == DEFAULT_SIZES:
            sizes = QUICK_SIZES
        repeat = 1

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    out = Path(args.out)
    result = run(sizes, repeat, out, args.quick, log)
    print(markdown(result))
    print(f"Wrote {out / 'bench.json'}, {out / 'bench.md'} and {out / 'latency.png'}")
    return 0
