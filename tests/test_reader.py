"""The trained reader as shipped: its card matches its file, it reads, and it is what answers.

Real parts: the packaged ONNX reader and tokenizer, the bundled article in real Chroma.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

from tests.conftest import shared_file

from cecot_rag import Assistant
from cecot_rag.answer.candidates import Candidate
from cecot_rag.answer.reader import MODEL_DIR, calibration_for, packaged_card, packaged_reader
from cecot_rag.answer.scorers import ReaderScorer
from cecot_rag.models import Passage
from cecot_rag.settings import PACKAGED_MODEL, Settings


def test_the_card_describes_the_shipped_file() -> None:
    card = packaged_card()
    model = MODEL_DIR / card["file"]["name"]
    assert model.stat().st_size == card["file"]["bytes"]
    assert hashlib.sha256(model.read_bytes()).hexdigest() == card["file"]["sha256"]
    # Small enough to ship in the package (int8 unless fp32 was needed).
    assert card["shipped"] == "int8" and card["file"]["bytes"] < 40_000_000
    assert 0.0 < card["threshold"] < 1.0 and {"bias", "reader"} <= set(card["calibration"])
    # Trained and chosen on two held-out training articles, never on a test set.
    assert card["data"]["file"] == "train_10_articles.json"
    assert len(card["data"]["held_out_articles"]) == 2


def test_the_card_names_the_training_file_by_its_hash() -> None:
    path = shared_file("benchmarks/squad2/train_10_articles.json")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == packaged_card()["data"]["sha256"]


def test_the_reader_prefers_the_sentence_that_answers() -> None:
    reader = packaged_reader(1)
    logits = reader.logits(
        "How many inmates can the prison hold?",
        [
            "The prison was built in a rural area. [SEP] ",
            "The prison has the capacity to hold 40,000 inmates. [SEP] The prison was built in a rural area.",
            "Visitors are not allowed. [SEP] ",
        ],
    )
    assert int(logits.argmax()) == 1
    assert logits[1] - max(logits[0], logits[2]) > 1.0


def _candidate(text: str, prior: float) -> Candidate:
    passage = Passage(
        id="p", document_id="d", title="t", source="s", start_char=0, end_char=len(text), text=text
    )
    return Candidate(passage, 0, 0, len(text), text, previous="", window=text, prior=prior)


def test_the_reader_reads_only_the_first_stages_best() -> None:
    card = packaged_card()
    scorer = ReaderScorer(packaged_reader(1), card["calibration"], card["threshold"], reads=2)
    found = [
        _candidate(f"Sentence {i} about prisons.", prior) for i, prior in enumerate([0.1, 0.9, 0.5, 0.2])
    ]
    for c in found:
        c.features = dict.fromkeys(card["calibration"], 0.0)
    scorer.score("How many prisons are there?", found)
    assert [c.scored_by for c in found] == ["", "reader", "reader", ""]
    assert all(0.0 < c.score < 1.0 for c in found if c.scored_by)


def test_each_embedding_model_gets_the_calibration_fitted_with_its_features() -> None:
    card = {
        "calibration": {"bias": -1.0, "reader": 1.0},
        "threshold": 0.1,
        "by_embedding_model": {
            "multilingual-e5-small": {"calibration": {"bias": -5.0, "reader": 2.0}, "threshold": 0.3}
        },
    }
    assert calibration_for(card, PACKAGED_MODEL) == ({"bias": -1.0, "reader": 1.0}, 0.1)
    assert calibration_for(card, "multilingual-e5-small") == ({"bias": -5.0, "reader": 2.0}, 0.3)
    assert calibration_for(card, "some/other-model") == ({"bias": -1.0, "reader": 1.0}, 0.1)


def test_the_default_answer_is_decided_by_the_reader(bundled_assistant: Assistant) -> None:
    assert Settings().scorer == "reader"
    answer = bundled_assistant.ask("How many inmates can CECOT hold?")
    assert answer.answered and "40,000" in answer.citations[0].quote
    assert answer.decision.stage == "reader" and answer.decision.threshold == packaged_card()["threshold"]


def test_answering_with_the_reader_never_imports_torch() -> None:
    script = (
        "import json, sys\n"
        "from cecot_rag.answer.reader import packaged_reader\n"
        "packaged_reader(1).logits('How many inmates?', ['It holds 40,000 inmates. [SEP] '])\n"
        "print(json.dumps('torch' in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) is False
