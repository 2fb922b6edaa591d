"""Refit the extractive answerer's evidence model on the bundled set and rewrite answer/weights.py.

    python eval/fit_answerer.py [--set eval/cecot.jsonl] [--corpus documents] [--dry-run]

Each case is retrieved as the answerer would retrieve it; every candidate sentence of the
retrieved passages becomes one row of features (answer/scoring.py).
A row is positive when the sentence supports the answer by the evaluation's quote-level rule (it
lies in or holds a reference context, or holds an expected fact); every sentence retrieved for an
unanswerable case is negative. An L2-regularised logistic regression is fitted by Newton's method
(numpy). The abstention point is the score that maximises, on the same cases, the share of
answerable cases whose best sentence supports the answer plus the share of unanswerable cases
abstained, minus twice the false-abstention rate beyond 5%; the intercept is then shifted so that
point is the default `abstain_threshold` (0.42). Only the bundled set is used: SQuAD and
amnesty_qa are reported, never fitted. A follow-up is read as answer/followup.py decides on its
form alone (retrieval_query), not with the model's evidence, so the fit does not depend on the
weights it replaces: one run gives the same weights every time.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cecot_rag import Assistant, Settings  # noqa: E402
from cecot_rag.answer.base import Question  # noqa: E402
from cecot_rag.answer.extractive import ExtractiveAnswerer  # noqa: E402
from cecot_rag.answer.followup import retrieval_query  # noqa: E402
from cecot_rag.answer.question import lacks_type, read_question  # noqa: E402
from cecot_rag.answer.scoring import ANSWER_FEATURES, FEATURES, Candidate, answer_features  # noqa: E402
from cecot_rag.evaluation.dataset import load_set  # noqa: E402
from cecot_rag.evaluation.metrics import citation_supported  # noqa: E402

DEFAULT_THRESHOLD = 0.42
L2 = 1.0  # on the weights, not the intercept: ~1,000 rows, 10 features


@dataclass
class Case:
    """One evaluation case: its candidate sentences' ranking rows and labels, and what the answer
    model needs (filled by answer_rows once the ranking model is fitted)."""

    answerable: bool
    candidates: list[Candidate]
    rows: np.ndarray
    labels: np.ndarray
    eligible: list[int]  # candidates the selection may answer with (no missing condition or type)
    answer_row: np.ndarray | None = None
    supported: bool = False


def collect(set_path: Path, corpus: Path) -> list[Case]:
    """Every case retrieved and its candidate sentences featurised (the weights play no part)."""
    cases = []
    with tempfile.TemporaryDirectory(prefix="cecot-fit-") as folder:
        assistant = Assistant(
            Settings(index_dir=Path(folder) / "index", documents_dir=corpus, chroma_url=None)
        )
        assistant.ingest([corpus])
        answerer = assistant.answerer("extractive")
        assert isinstance(answerer, ExtractiveAnswerer)
        for case in load_set(set_path).cases:
            query = retrieval_query(case.question, case.history) if case.history else case.question
            vector = assistant.embedder.embed_one(query)
            asked = Question(case.question, query, case.history, vector)
            passages = assistant.retriever.retrieve(query, assistant.settings.top_k, vector)
            scored = answerer.score_sentences(asked, passages)
            rows = np.array([[c.features[f] for f in FEATURES] for c in scored]).reshape(-1, len(FEATURES))
            labels = np.array(
                [
                    case.answerable
                    and citation_supported(c.text, case.reference_contexts, case.expected_facts)
                    for c in scored
                ],
                dtype=float,
            )
            reading = read_question(case.question)
            eligible = [
                i for i, c in enumerate(scored) if not c.missing and not lacks_type(reading, c.features)
            ]
            cases.append(Case(case.answerable, scored, rows, labels, eligible))
        assistant.release_writer()
    return cases


def answer_rows(cases: list[Case], bias: float, w: np.ndarray) -> None:
    """Rank each case's candidates with the fitted ranking model; the best eligible one gives the
    answer model's row, and whether it supports the answer."""
    for case in cases:
        if not case.eligible:
            continue
        relevance = 1 / (1 + np.exp(-(bias + case.rows @ w)))
        best = max(case.eligible, key=lambda i: relevance[i])
        top = case.candidates[best]
        top.score = float(relevance[best])
        case.answer_row = np.array([answer_features(top)[f] for f in ANSWER_FEATURES])
        case.supported = bool(case.labels[best])


def fit(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """L2-regularised logistic regression by Newton's method: (intercept, weights)."""
    design = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], L2)
    penalty[0] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-design @ beta))
        gradient = design.T @ (p - y) + penalty * beta
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + np.diag(penalty) + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return float(beta[0]), beta[1:]


def choose_threshold(cases: list[Case], bias: float, w: np.ndarray) -> float:
    """The answer model's abstention point (see the module docstring for the objective)."""
    answerable = sum(1 for c in cases if c.answerable) or 1
    unanswerable = sum(1 for c in cases if not c.answerable) or 1
    best_value, best_t = -math.inf, 0.5
    for t in np.arange(0.02, 0.98, 0.01):
        right = refused = wrong_abstain = 0
        for case in cases:
            row = case.answer_row
            answered = row is not None and 1 / (1 + math.exp(-(bias + float(row @ w)))) >= t
            if case.answerable:
                right += answered and case.supported
                wrong_abstain += not answered
            else:
                refused += not answered
        false_abstention = wrong_abstain / answerable
        value = right / answerable + refused / unanswerable - 2 * max(0.0, false_abstention - 0.05)
        if value > best_value:
            best_value, best_t = value, float(t)
    return best_t


def write_weights(
    bias: float, weights: dict[str, float], answer_bias: float, answer_weights: dict[str, float], path: Path
) -> None:
    lines = [
        '"""The extractive answerer\'s fitted models: logistic regressions on answer/scoring.py\'s features.',
        "",
        "Written by eval/fit_answerer.py (fitted on eval/cecot.jsonl only); do not edit by hand. The",
        "answer model's intercept is shifted so that the abstention point chosen on that set falls at",
        "the default `abstain_threshold` (0.42).",
        '"""',
        "",
        "# Ranking: does this sentence support an answer (scoring.relevance).",
        f"BIAS = {bias:.4f}",
        "WEIGHTS = {",
        *[f'    "{name}": {value:.4f},' for name, value in weights.items()],
        "}",
        "# Answer or abstain, from the best sentence (scoring.evidence_score).",
        f"ANSWER_BIAS = {answer_bias:.4f}",
        "ANSWER_WEIGHTS = {",
        *[f'    "{name}": {value:.4f},' for name, value in answer_weights.items()],
        "}",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default=str(ROOT / "eval" / "cecot.jsonl"))
    parser.add_argument("--corpus", default=str(ROOT / "documents"))
    parser.add_argument("--dry-run", action="store_true", help="print the fit, do not write weights.py")
    args = parser.parse_args()
    cases = collect(Path(args.set), Path(args.corpus))
    x = np.vstack([c.rows for c in cases if len(c.rows)])
    y = np.concatenate([c.labels for c in cases if len(c.rows)])
    bias, w = fit(x, y)
    answer_rows(cases, bias, w)
    weights = {name: float(v) for name, v in zip(FEATURES, w, strict=True)}
    print(f"{len(cases)} cases, {len(y)} sentences, {int(y.sum())} positive")
    for name, value in weights.items():
        print(f"  {name:18s} {value:+.3f}")
    print(f"  intercept          {bias:+.3f}")
    # The answer model: one row per case (its best eligible sentence), positive when answerable.
    with_row = [c for c in cases if c.answer_row is not None]
    answer_bias, aw = fit(
        np.vstack([c.answer_row for c in with_row]), np.array([float(c.answerable) for c in with_row])
    )
    threshold = choose_threshold(cases, answer_bias, aw)
    # Shift the intercept so that score `threshold` becomes DEFAULT_THRESHOLD.
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    shifted = answer_bias - logit(threshold) + logit(DEFAULT_THRESHOLD)
    answer_weights = {name: float(v) for name, v in zip(ANSWER_FEATURES, aw, strict=True)}
    print(f"answer model on {len(with_row)} cases; abstention point {threshold:.2f}")
    for name, value in answer_weights.items():
        print(f"  {name:18s} {value:+.3f}")
    print(f"  intercept          {shifted:+.3f} (fitted {answer_bias:+.3f})")
    if not args.dry_run:
        path = ROOT / "src" / "cecot_rag" / "answer" / "weights.py"
        write_weights(bias, weights, shifted, answer_weights, path)
        print("wrote src/cecot_rag/answer/weights.py")


if __name__ == "__main__":
    main()
