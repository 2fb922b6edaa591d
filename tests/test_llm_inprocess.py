"""The in-process "llamacpp" generator on the packaged Gemma GGUF, through the Assistant facade:
what it shows obeys the rules, and a warmed model reuses the computation of the fixed prompt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cecot_rag import Assistant, Settings
from cecot_rag.answer import llamacpp_llm
from cecot_rag.answer.generated import GeneratedAnswerer, make_generated_answerer
from cecot_rag.answer.llm import PACKAGED_GEMMA, GeneratorUnavailable, LlamaIndexBackend
from cecot_rag.answer.prompt import fixed_messages
from conftest import make_settings
from helpers_llm import QUESTION, assert_verified, collect

LABEL = "llamacpp:gemma-3-270m-q4_k_m.gguf"


@pytest.fixture(scope="module")
def local_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    settings = make_settings(
        tmp_path_factory.mktemp("inprocess"),
        generator="llamacpp",
        llm_model_path=PACKAGED_GEMMA,
        llm_timeout=600,  # its own generous deadline: this checks what is shown, not how fast
        top_k=3,
    )
    assistant = Assistant(settings)
    assistant.ingest([settings.documents_dir])
    yield assistant
    assistant.release_writer()


@pytest.mark.llm
def test_in_process_model_answer_obeys_the_verification_rules(local_assistant: Assistant) -> None:
    assert local_assistant.generators()[:2] == ["llamacpp", "extractive"]
    streamed, answer = collect(local_assistant.ask_stream(QUESTION, history=None))
    backend = local_assistant.answerer().backend  # type: ignore[attr-defined]
    assert isinstance(backend, LlamaIndexBackend) and isinstance(backend.llm, llamacpp_llm.LlamaCppLLM)
    loaded = {Path(path).name for path, _ in llamacpp_llm._models}
    assert backend.calls == 1 and "gemma-3-270m-q4_k_m.gguf" in loaded  # the GGUF really was loaded and run
    assert streamed == answer.text
    assert_verified(answer, local_assistant, LABEL)


@pytest.mark.llm
def test_a_warmed_model_computes_only_what_follows_the_fixed_prompt(local_assistant: Assistant) -> None:
    """llama.cpp keeps the last prompt's computation: after the warm-up, a question's prompt is
    computed from where it differs from the fixed system prompt and examples."""
    import llama_cpp

    answerer = local_assistant.answerer()
    assert isinstance(answerer, GeneratedAnswerer)
    answerer.warm()
    calls = answerer.backend.calls
    [(model, _)] = [v for (path, _), v in llamacpp_llm._models.items() if "gemma-3-270m" in path]
    before = llama_cpp.llama_perf_context(model._ctx.ctx)
    local_assistant.ask("What was the homicide rate in El Salvador in 2015?")
    after = llama_cpp.llama_perf_context(model._ctx.ctx)
    assert answerer.backend.calls == calls + 1  # the model wrote this answer
    computed = (after.n_p_eval - before.n_p_eval) + (after.n_eval - before.n_eval)
    fixed = sum(len(m["content"]) for m in fixed_messages(local_assistant.settings.topic)) // 6
    assert model.n_tokens - computed >= fixed, (model.n_tokens, computed, fixed)  # reused, not computed


def test_llamacpp_without_a_model_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    assistant = Assistant(Settings(index_dir=tmp_path / "i", documents_dir=tmp_path))
    with pytest.raises(GeneratorUnavailable, match="CECOT_RAG_LLM_MODEL_PATH"):
        make_generated_answerer(
            "llamacpp", assistant.settings, assistant.embedder, assistant.answerer("extractive")
        )
    missing = Assistant(
        Settings(index_dir=tmp_path / "j", documents_dir=tmp_path, llm_model_path=str(tmp_path / "no.gguf"))
    )
    with pytest.raises(GeneratorUnavailable, match="no GGUF model file"):
        make_generated_answerer(
            "llamacpp", missing.settings, missing.embedder, missing.answerer("extractive")
        )


def test_openai_without_an_endpoint_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    assistant = Assistant(Settings(index_dir=tmp_path / "i", documents_dir=tmp_path))
    with pytest.raises(GeneratorUnavailable, match="CECOT_RAG_LLM_BASE_URL"):
        make_generated_answerer(
            "openai", assistant.settings, assistant.embedder, assistant.answerer("extractive")
        )
