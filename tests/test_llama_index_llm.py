"""Any llama-index LLM answers through the "llama-index" generator, passed to the Assistant or set in
llama_index.core.Settings.llm, with the same verification as every generated answer. The LLM here
is a CustomLLM streaming a fixed text (helpers_llm.ScriptedLLM; the real-model path is covered by
test_local_model).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_index.core import Settings as LlamaIndexSettings

from cecot_rag import Assistant
from cecot_rag.answer.generated import evidence_blocks, make_generated_answerer
from cecot_rag.answer.llm import GeneratorUnavailable
from helpers_llm import QUESTION, ScriptedLLM, assert_verified, collect

INVENTED = "The prison was paid for by the European Union"


def _answer_text(assistant: Assistant) -> str:
    """A reply citing the evidence that gives the capacity, plus one invented sentence."""
    found = assistant.prepare(QUESTION, None, None, "llama-index")
    blocks = evidence_blocks(found.chosen)
    number = next(n for n, (_, text) in enumerate(blocks, start=1) if "40,000" in text)
    return f"CECOT can hold 40,000 inmates [{number}]. {INVENTED} [{number}]."


def test_an_llm_passed_to_the_assistant_answers_and_is_verified(bundled_assistant: Assistant) -> None:
    llm = ScriptedLLM()
    assistant = Assistant(bundled_assistant.settings, llm=llm)
    assert assistant.generators()[0] == "llama-index"
    llm.text = _answer_text(assistant)
    streamed, answer = collect(assistant.ask_stream(QUESTION))
    assert len(llm.prompts) == 1 and "40,000" in llm.prompts[0]  # the passages reached the LLM
    assert streamed == answer.text == "CECOT can hold 40,000 inmates. [1]"
    assert [d.text for d in answer.dropped] == [f"{INVENTED}."]
    assert_verified(answer, assistant, "llama-index:scripted", survived=True)


@pytest.fixture
def global_llm() -> Iterator[ScriptedLLM]:
    llm = ScriptedLLM()
    LlamaIndexSettings.llm = llm
    yield llm
    LlamaIndexSettings._llm = None  # llama-index's own "unset"


def test_the_llm_in_llama_index_settings_is_used_with_generator_llama_index(
    bundled_assistant: Assistant, global_llm: ScriptedLLM
) -> None:
    settings = bundled_assistant.settings.model_copy(update={"generator": "llama-index"})
    assistant = Assistant(settings)
    assert assistant.generators()[0] == "llama-index"
    global_llm.text = _answer_text(assistant)
    answer = assistant.ask(QUESTION)
    assert answer.generator == "llama-index:scripted" and answer.text == "CECOT can hold 40,000 inmates. [1]"
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
