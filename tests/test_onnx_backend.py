"""The ONNX Runtime embedding backend: same vectors as sentence-transformers, no torch import."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cecot_rag.embedding import Embedder, resolve_model_path
from cecot_rag.onnx_backend import OnnxEncoder, OnnxUnsupported, _fingerprint, model_layout
from cecot_rag.settings import PACKAGED_MODEL
from conftest import ARTICLE

TEXTS = [
    "CECOT can hold 40,000 inmates.",
    "Bukele's government declared a state of exception in March 2022 after a weekend of killings.",
    ARTICLE.read_text(encoding="utf-8")[:3000],  # longer than 256 word pieces: truncated alike
    "¿Cuántos presos hay en el CECOT?",
]


@pytest.fixture(scope="module")
def fresh_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export made from scratch in an empty cache (not the machine's shared one)."""
    cache = tmp_path_factory.mktemp("model-cache")
    OnnxEncoder(Path(resolve_model_path(PACKAGED_MODEL)), cache_dir=cache)
    return cache


def test_export_writes_a_verified_model_once(fresh_export: Path) -> None:
    (folder,) = (fresh_export / "onnx").iterdir()
    assert (folder / "model.onnx").stat().st_size > 10_000_000
    assert json.loads((folder / "verified.json").read_text())["min_probe_cosine"] >= 0.9999
    before = (folder / "model.onnx").stat().st_mtime_ns
    OnnxEncoder(Path(resolve_model_path(PACKAGED_MODEL)), cache_dir=fresh_export)
    assert (folder / "model.onnx").stat().st_mtime_ns == before  # reused, not exported again


def test_another_install_of_the_same_model_reuses_the_export(fresh_export: Path, tmp_path: Path) -> None:
    """The cache is keyed by the model files' bytes, not where they are installed."""
    cache = tmp_path / "cache"
    shutil.copytree(fresh_export, cache)
    (folder,) = (cache / "onnx").iterdir()
    exported = (folder / "model.onnx").stat().st_mtime_ns
    elsewhere = tmp_path / "another-clone" / "model"
    shutil.copytree(resolve_model_path(PACKAGED_MODEL), elsewhere, copy_function=shutil.copyfile)
    encoder = OnnxEncoder(elsewhere, cache_dir=cache)
    assert encoder.path == folder / "model.onnx"
    assert [p.name for p in (cache / "onnx").iterdir() if p.is_dir()] == [folder.name]
    assert (folder / "model.onnx").stat().st_mtime_ns == exported  # not exported again


def test_changed_model_files_get_their_own_export_key(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(resolve_model_path(PACKAGED_MODEL), model)
    before = _fingerprint(model, tmp_path / "cache")
    assert _fingerprint(model, tmp_path / "other-cache") == before  # the same bytes, the same key
    config = model / "config.json"
    config.write_text(config.read_text() + "\n")
    assert _fingerprint(model, tmp_path / "cache") != before


def test_onnx_vectors_and_token_counts_match_sentence_transformers(fresh_export: Path) -> None:
    onnx = Embedder(cache_dir=fresh_export)
    torch = Embedder(backend="torch")
    assert onnx.active_backend == "onnx" and torch.active_backend == "torch"
    a, b = onnx.embed(TEXTS), torch.embed(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(a * b, axis=1)) > 0.9999
    assert onnx.count_tokens(TEXTS) == torch.count_tokens(TEXTS)
    assert onnx.count_tokens([TEXTS[2]])[0] > 256  # counting never truncates
    assert onnx.max_tokens == torch.max_tokens == 254
    # Batches are sorted by length inside; rows come back in the caller's order.
    assert np.allclose(onnx.embed(TEXTS[::-1]), a[::-1], atol=1e-5)


def test_damaged_cached_export_is_exported_again(fresh_export: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(fresh_export, cache)
    (folder,) = (cache / "onnx").iterdir()
    (folder / "model.onnx").write_bytes(b"not a model")
    encoder = OnnxEncoder(Path(resolve_model_path(PACKAGED_MODEL)), cache_dir=cache)
    assert (folder / "model.onnx").stat().st_size > 10_000_000
    assert encoder.encode(["CECOT"]).shape == (1, 384)


def test_models_onnx_cannot_run_fall_back_to_torch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = tmp_path / "model-with-dense"
    shutil.copytree(resolve_model_path(PACKAGED_MODEL), model)
    modules = json.loads((model / "modules.json").read_text())
    dense = {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    modules.insert(2, dense)
    (model / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(OnnxUnsupported, match="Dense"):
        model_layout(model)
    (model / "modules.json").write_text(json.dumps(modules[:2]))  # loadable by torch again
    (model / "tokenizer.json").unlink()
    with caplog.at_level(logging.WARNING, logger="cecot_rag.embedding"):
        embedder = Embedder(str(model), cache_dir=tmp_path / "cache")
        assert embedder.active_backend == "torch"
        assert embedder.embed(["CECOT"]).shape == (1, 384)
    assert "tokenizer.json" in caplog.text and "using torch" in caplog.text


def test_an_unwritable_cache_falls_back_to_torch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="cecot_rag.embedding"):
        embedder = Embedder(cache_dir=blocker)
        assert embedder.active_backend == "torch"
        assert embedder.embed(["CECOT"]).shape == (1, 384)
    assert "cannot write the ONNX export" in caplog.text


def test_answering_process_never_imports_torch(bundled_assistant) -> None:
    """The point of the backend: a fresh `ask` skips torch, transformers and sentence-transformers."""
    settings = bundled_assistant.settings
    code = (
        "import sys; from cecot_rag import Assistant, Settings; "
        f"a = Assistant(Settings(index_dir={str(settings.index_dir)!r}, "
        f"documents_dir={str(settings.documents_dir)!r})); "
        "r = a.ask('How many inmates can CECOT hold?'); "
        "print(r.answered, '40,000' in r.text, "
        "sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == "True True []"
