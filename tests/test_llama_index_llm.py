"""Any llama-index LLM answers through the "llama-index" generator, passed to the Assistant or set in
llama_index.core.Settings.llm, with the same verification as every generated answer. The LLM here
is a tiny CustomLLM streaming a fixed text (the real-model path is covered by test_local_model).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Settings as LlamaIndexSettings
from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from pydantic import Field

from cecot_rag import Assistant
from cecot_rag.answer.generated import make_generated_answerer
from cecot_rag.answer.llm import GeneratorUnavailable
from helpers_llm import assert_verified, collect

INVENTED = "The prison was paid for by the European Union"
QUESTION = "How many inmates can CECOT hold?"


class FixedLLM(CustomLLM):
    """Streams text in 5-character deltas, whatever it is asked; counts the prompts it got."""

    text: str = ""
    prompts: list[str] = Field(default_factory=list)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="fixed")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.prompts.append(prompt)
        return CompletionResponse(text=self.text)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        self.prompts.append(prompt)

        def deltas() -> CompletionResponseGen:
            for end in range(5, len(self.text) + 5, 5):
                yield CompletionResponse(text=self.text[:end], delta=self.text[end - 5 : end])

        return deltas()


def _answer_text(assistant: Assistant) -> str:
    """A reply citing the retrieved passage that gives the capacity, plus one invented sentence."""
    _, passages = assistant.prepare(QUESTION, None, None, "llama-index")
    number = next(n for n, p in enumerate(passages, start=1) if "40,000" in p.text)
    return f"CECOT can hold 40,000 inmates [{number}]. {INVENTED} [{number}]."


def test_an_llm_passed_to_the_assistant_answers_and_is_verified(bundled_assistant: Assistant) -> None:
    llm = FixedLLM()
    assistant = Assistant(bundled_assistant.settings, llm=llm)
    assert assistant.generators()[0] == "llama-index"
    llm.text = _answer_text(assistant)
    streamed, answer = collect(assistant.ask_stream(QUESTION))
    assert len(llm.prompts) == 1 and "40,000" in llm.prompts[0]  # the passages reached the LLM
    assert streamed == answer.text == "CECOT can hold 40,000 inmates. [1]"
    assert [d.text for d in answer.dropped] == [f"{INVENTED}."]
    assert_verified(answer, assistant, "llama-index:fixed", survived=True)


@pytest.fixture
def global_llm() -> Iterator[FixedLLM]:
    llm = FixedLLM()
    LlamaIndexSettings.llm = llm
    yield llm
    LlamaIndexSettings._llm = None  # llama-index's own "unset"


def test_the_llm_in_llama_index_settings_is_used_with_generator_llama_index(
    bundled_assistant: Assistant, global_llm: FixedLLM
) -> None:
    settings = bundled_assistant.settings.model_copy(update={"generator": "llama-index"})
    assistant = Assistant(settings)
    assert assistant.generators()[0] == "llama-index"
    global_llm.text = _answer_text(assistant)
    answer = assistant.ask(QUESTION)
    assert answer.generator == "llama-index:fixed" and answer.text == "CECOT can hold 40,000 inmates. [1]"
    assert len(global_llm.prompts) == 1


def test_without_any_llm_the_llama_index_generator_is_refused(bundled_assistant: Assistant) -> None:
    assert LlamaIndexSettings._llm is None
    assert "llama-index" not in bundled_assistant.generators()
    with pytest.raises(GeneratorUnavailable, match=r"Assistant\(settings, llm=\.\.\.\)"):
        make_generated_answerer(
            "llama-index",
            bundled_assistant.settings,
            bundled_assistant.embedder,
            bundled_assistant.answerer("extractive"),
        )
