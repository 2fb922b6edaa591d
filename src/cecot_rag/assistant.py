"""The facade every front end calls: ingest, ask, ask_stream, retrieve, documents, delete."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cecot_rag.answer.base import Question
from cecot_rag.answer.extractive import ExtractiveAnswerer
from cecot_rag.answer.features import FeatureExtractor
from cecot_rag.answer.llm import LLAMA_INDEX, llama_index_llm
from cecot_rag.answer.local_model import local_model_installed
from cecot_rag.answer.path import Answerer, AnswerPath, Found
from cecot_rag.answer.scorers import FeatureScorer, LanguageRoutedScorer, ReaderScorer, Scorer
from cecot_rag.answer.select import select
from cecot_rag.embedding import embedder_for
from cecot_rag.ingest.loaders import LoadedDocument
from cecot_rag.ingest.pipeline import IngestPipeline, Progress
from cecot_rag.locking import WriterLock
from cecot_rag.models import Answer, DocumentInfo, IngestReport, Passage
from cecot_rag.retrieve import HybridRetriever
from cecot_rag.settings import PACKAGED_MODEL, Settings
from cecot_rag.store import PassageStore

log = logging.getLogger(__name__)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")

if TYPE_CHECKING:  # llama-index is imported only when an adapter is asked for
    from llama_index.core.llms import LLM

    from cecot_rag.llama_index_adapters import CecotQueryEngine, CecotRetriever


class InvalidQuestion(ValueError):
    """A question that cannot be asked (empty, too long, control characters)."""


class DocumentNotFound(KeyError):
    def __str__(self) -> str:
        return f"no document with id {self.args[0]!r}"


def validate_question(question: str, max_chars: int) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidQuestion("the question is empty")
    if len(question) > max_chars:
        raise InvalidQuestion(f"the question is {len(question)} characters long; the limit is {max_chars}")
    if _CONTROL.search(question):
        raise InvalidQuestion("the question contains control characters")
    if _SURROGATE.search(question):  # a lone surrogate cannot be encoded, tokenized or sent back
        raise InvalidQuestion("the question contains characters that are not valid text")
    return question.strip()


def _feature_model(embedding_model: str) -> FeatureScorer:
    try:
        return FeatureScorer.for_model(embedding_model)
    except KeyError:
        log.warning(
            "no feature model was fitted for embedding model %s; using the packaged MiniLM's", embedding_model
        )
        return FeatureScorer.for_model(PACKAGED_MODEL)


def _reader_scorer(settings: Settings) -> Scorer:
    """The reader; with an embedding model that has a cross-lingual feature model (the
    multilingual one), the reader for English pairs and that model for the others."""
    from cecot_rag.answer.reader import calibration_for, packaged_card, packaged_reader

    calibration, threshold = calibration_for(packaged_card(), settings.embedding_model)
    reader = ReaderScorer(
        packaged_reader(max(1, settings.embedding_threads)), calibration, threshold, settings.reader_reads
    )
    try:
        crosslingual = FeatureScorer.for_model(f"{settings.embedding_model}/crosslingual", "crosslingual")
    except KeyError:
        return reader
    return LanguageRoutedScorer(reader, crosslingual)


class Assistant:
    """Ingest documents into Chroma and answer questions from them with checkable citations."""

    def __init__(
        self, settings: Settings | None = None, llm: LLM | None = None, scorer: Scorer | None = None
    ) -> None:
        """llm: any llama-index LLM, for the "llama-index" generator (the default generator when
        given, unless settings name one). scorer: the answer path's scorer instead of the one
        settings name (e.g. a llama-index postprocessor wrapped in `PostprocessorScorer`)."""
        self.settings = settings or Settings()
        self._scorer = scorer
        self._first_stage: FeatureScorer | None = None
        self._path: AnswerPath | None = None
        if llm is not None and "generator" not in self.settings.model_fields_set:
            self.settings = self.settings.model_copy(update={"generator": LLAMA_INDEX})
        self.llm = llm
        self.embedder = embedder_for(self.settings)
        self._store: PassageStore | None = None
        self._store_lock = threading.Lock()
        self._answerers: dict[str, Answerer] = {}
        self._writer = WriterLock(self.settings.index_dir)
        self._write_lock = threading.Lock()

    # -- components ----------------------------------------------------------------------
    @property
    def store(self) -> PassageStore:
        with self._store_lock:
            if self._store is None:
                self._store = PassageStore(self.settings, self.embedder.model_name, self.embedder.dimension)
            return self._store

    @property
    def retriever(self) -> HybridRetriever:
        return HybridRetriever(self.store, self.embedder)

    @property
    def first_stage(self) -> FeatureScorer:
        """The feature model fitted for the configured embedding model (the packaged MiniLM's,
        with a logged warning, for a model nothing was fitted for)."""
        if self._first_stage is None:
            self._first_stage = _feature_model(self.settings.embedding_model)
        return self._first_stage

    @property
    def scorer(self) -> Scorer:
        """The answer path's scorer: the one given, else the one settings name."""
        if self._scorer is None:
            if self.settings.scorer == "features":
                self._scorer = self.first_stage
            else:
                self._scorer = _reader_scorer(self.settings)
        return self._scorer

    @property
    def path(self) -> AnswerPath:
        """The answer path: retrieval, candidates, first stage, scorer, selection and decision."""
        if self._path is None:
            self._path = AnswerPath(
                # prepare() has synced the store: every reading reads the same mirror.
                retrieve=lambda text, vector, top_k: self.retriever.rank(text, top_k, vector),
                embed_query=self.embedder.embed_one,
                extractor=FeatureExtractor(self.embedder, self.store.idf, self.store.sentence_vectors),
                scorer=self.scorer,
                first_stage=self.first_stage,
                threshold=self.settings.abstain_threshold,
                max_sentences=self.settings.max_answer_sentences,
            )
        return self._path

    def answerer(self, generator: str | None = None) -> Answerer:
        name = generator or self.settings.generator
        if name not in self._answerers:
            if name == "extractive":
                self._answerers[name] = ExtractiveAnswerer()
            else:
                from cecot_rag.answer.generated import make_generated_answerer

                self._answerers[name] = make_generated_answerer(
                    name, self.settings, self.embedder, self.answerer("extractive"), self.llm
                )
        return self._answerers[name]

    def generators(self) -> list[str]:
        """The answerers this configuration can use, the default first."""
        names = ["extractive"]
        if local_model_installed():
            names.append("local")
        if self.settings.llm_base_url:
            names.append("openai")
        if self.settings.llm_model_path:
            names.append("llamacpp")
        if llama_index_llm(self.llm) is not None:
            names.append(LLAMA_INDEX)
        default = self.settings.generator
        return [default, *(n for n in names if n != default)]

    # -- writing -------------------------------------------------------------------------
    def claim_writer(self, purpose: str = "cecot-rag") -> None:
        """Hold the embedded index's writer lock for this process's lifetime (raises IndexBusy).

        With a Chroma server (chroma_url) the server serialises writes and no lock is needed.
        """
        if not self.settings.chroma_url:
            self._writer.acquire(purpose)

    def release_writer(self) -> None:
        self._writer.release()

    def ingest(
        self,
        sources: Iterable[str | Path],
        prune: bool = False,
        progress: Progress | None = None,
        fetched: Mapping[str, LoadedDocument] | None = None,
    ) -> IngestReport:
        """fetched: URLs among sources already downloaded (ingest.pipeline.fetch_url), so the
        download happened outside this process's write lock."""
        self.claim_writer("ingest")
        pipeline = IngestPipeline(self.settings, self.store, self.embedder)
        with self._write_lock:
            return pipeline.run(sources, prune=prune, progress=progress, fetched=fetched)

    def ensure_ingested(self, progress: Progress | None = None) -> IngestReport | None:
        """Ingest documents_dir when the index is empty (the CLI and server do this; the API not)."""
        if not self.store.is_empty():
            return None
        return self.ingest([self.settings.documents_dir], progress=progress)

    def documents(self) -> list[DocumentInfo]:
        return self.store.documents()

    def delete(self, document_id: str) -> None:
        self.claim_writer("delete")
        with self._write_lock:
            if not self.store.delete_document(document_id):
                raise DocumentNotFound(document_id)

    # -- questions -----------------------------------------------------------------------
    def retrieve(self, question: str, top_k: int | None = None) -> list[Passage]:
        question = validate_question(question, self.settings.max_question_chars)
        return self.retriever.retrieve(question, top_k or self.settings.top_k)

    def prepare(
        self,
        question: str,
        history: Sequence[dict[str, Any]] | None,
        top_k: int | None,
        generator: str | None = None,
    ) -> Found:
        """The answer path's result for a question: passages, scored sentences and the decision."""
        text = validate_question(question, self.settings.max_question_chars)
        turns = [
            {"role": str(t.get("role", "")), "content": str(t.get("content", ""))} for t in history or []
        ]
        answerer = self.answerer(generator)
        # The question's one read of Chroma's revision: from here on (every reading of a
        # follow-up included) everything reads the store's mirror.
        self.store.sync()
        path = self.path
        if self.store.passage_count() == 0:
            empty = select([], path.scorer.name, path.threshold, path.max_sentences, retrieved=False)
            return Found(Question(text, text, turns), [], [], empty)
        rewrite = getattr(answerer, "rewrite", None)
        return path.find(text, turns, top_k or self.settings.top_k, rewrite)

    def ask(
        self,
        question: str,
        history: Sequence[dict[str, Any]] | None = None,
        top_k: int | None = None,
        generator: str | None = None,
    ) -> Answer:
        found = self.prepare(question, history, top_k, generator)
        return self.answerer(generator).answer(found)

    def ask_stream(
        self,
        question: str,
        history: Sequence[dict[str, Any]] | None = None,
        top_k: int | None = None,
        generator: str | None = None,
    ) -> Iterator[str | Answer]:
        """Text deltas as they are produced, then the final Answer."""
        found = self.prepare(question, history, top_k, generator)
        yield from self.answerer(generator).stream(found)

    # -- llama-index -----------------------------------------------------------------------
    def as_retriever(self, top_k: int | None = None) -> CecotRetriever:
        """This assistant's retrieval as a llama_index.core.retrievers.BaseRetriever."""
        # Imported here: llama-index is slow to import and only these two methods need it.
        from cecot_rag.llama_index_adapters import CecotRetriever

        return CecotRetriever(self, top_k=top_k)

    def as_query_engine(self, top_k: int | None = None, generator: str | None = None) -> CecotQueryEngine:
        """This assistant's ask as a llama-index query engine (response text: the cited answer)."""
        from cecot_rag.llama_index_adapters import CecotQueryEngine

        return CecotQueryEngine(self, top_k=top_k, generator=generator)
