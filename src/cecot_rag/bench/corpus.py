"""The benchmark's synthetic corpus: report-like documents with checkable facts, and indexes grown
from them to a given number of passages.

Large corpora are built without embedding every passage (that alone would take about an hour on
two cores): the passages that carry checkable facts have real embeddings; filler passages reuse the
real embeddings of a small pool of filler texts, each vector perturbed with a little Gaussian noise
and re-normalised, and each text is its pool text with the sentences shuffled and a serial added.
They go through the project's own store (PassageStore.write_passages + commit), so Chroma HNSW,
BM25 and the answerer work at the stated size.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cecot_rag.settings import Settings

BARE_PIECE_WORDS = 180
FILLER_PER_DOCUMENT = 1000
FILLER_NOISE = 0.02  # per dimension: perturbed vectors keep a cosine of about 0.93 to their source

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


class ScaledIndex:
    """An index grown to given sizes: the fact passages, then perturbed filler (see module docstring)."""

    def __init__(self, work: Path, source_index: Path, pool_size: int, log: Callable[[str], None]) -> None:
        from cecot_rag.bench.baseline import NaiveLlamaIndexPipeline
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
        from cecot_rag.sentence_vectors import pack
        from cecot_rag.store import PassageStore

        source = PassageStore(
            Settings(index_dir=source_index, documents_dir=source_index, chroma_url=None),
            self.embedder.model_name,
            self.embedder.dimension,
        )
        for record in source.records_by_id().values():
            passages = source.document_passages(record.document_id)
            ids = [p.id for p in passages]
            embedded = source.embeddings(ids)
            vectors = np.vstack([embedded[pid] for pid in ids]).astype(np.float32)
            # Re-packing the unpacked rows gives back the same int8 values (each row's largest
            # maps to 127 again), so the copy reads as the same unit vectors. A passage stored
            # without sentence vectors is copied without them.
            stored = source.sentence_vectors(ids, self.embedder.model_name)
            packed = [pack(stored[pid]) if pid in stored else "" for pid in ids]
            self._write(record, passages, vectors, packed)

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
