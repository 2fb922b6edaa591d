"""Refit the extractive answerer's evidence model on the bundled set and rewrite answer/weights.py.

    python eval/fit_answerer.py [--set eval/cecot.jsonl] [--corpus documents] [--dry-run]

Each case is asked as the answerer would ask it (follow-up decision and retrieval included); every
candidate sentence of the retrieved passages becomes one row of features (answer/scoring.py).
A row is positive when the sentence supports the answer by the evaluation's quote-level rule (it
lies in or holds a reference context, or holds an expected fact); every sentence retrieved for an
unanswerable case is negative. An L2-regularised logistic regression is fitted by Newton's method
(numpy). The abstention point is the score that maximises, on the same cases, the share of
answerable cases whose best sentence supports the answer plus the share of unanswerable cases
abstained, minus twice the false-abstention rate beyond 5%; the intercept is then shifted so that
point is the default `abstain_threshold` (0.42). Only the bundled set is used: SQuAD and
amnesty_qa are reported, never fitted. Run it twice after a change to the features: the
follow-up decision uses the model itself.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cecot_rag import Assistant, Settings  # noqa: E402
from cecot_rag.answer.extractive import ExtractiveAnswerer  # noqa: E402
from cecot_rag.answer.scoring import FEATURES  # noqa: E402
from cecot_rag.evaluation.dataset import load_set  # noqa: E402
from cecot_rag.evaluation.metrics import citation_supported  # noqa: E402

DEFAULT_THRESHOLD = 0.42
L2 = 1.0  # on the weights, not the intercept: ~1,000 rows, 10 features


def collect(set_path: Path, corpus: Path) -> list[tuple[bool, np.ndarray, np.ndarray]]:
    """Per case: answerable, feature rows (one per candidate sentence), labels."""
    cases = []
    with tempfile.TemporaryDirectory(prefix="cecot-fit-") as folder:
        assistant = Assistant(Settings(index_dir=Path(folder) / "index", documents_dir=corpus, chroma_url=None))
        assistant.ingest([corpus])
        answerer = assistant.answerer("extractive")
        assert isinstance(answerer, ExtractiveAnswerer)
        for case in load_set(set_path).cases:
            asked, passages = assistant.prepare(case.question, case.history, None)
            scored = answerer.score_sentences(asked, passages)
            rows = np.array([[c.features[f] for f in FEATURES] for c in scored]).reshape(-1, len(FEATURES))
            labels = np.array(
                [
                    case.answerable and citation_supported(c.text, case.reference_contexts, case.expected_facts)
                    for c in scored
                ],
                dtype=float,
            )
            cases.append((case.answerable, rows, labels))
        assistant.release_writer()
    return cases


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


def choose_threshold(cases: list[tuple[bool, np.ndarray, np.ndarray]], bias: float, w: np.ndarray) -> float:
    best_value, best_t = -math.inf, 0.5
    for t in np.arange(0.05, 0.96, 0.01):
        right = refused = wrong_abstain = 0
        answerable = sum(1 for a, _, _ in cases if a) or 1
        unanswerable = sum(1 for a, _, _ in cases if not a) or 1
        for ok, rows, labels in cases:
            scores = 1 / (1 + np.exp(-(bias + rows @ w))) if len(rows) else np.zeros(0)
            answered = bool(len(scores)) and scores.max() >= t
            if ok:
                right += answered and labels[int(scores.argmax())] > 0
                wrong_abstain += not answered
            else:
                refused += not answered
        false_abstention = wrong_abstain / answerable
        value = right / answerable + refused / unanswerable - 2 * max(0.0, false_abstention - 0.05)
        if value > best_value:
            best_value, best_t = value, float(t)
    return best_t


def write_weights(bias: float, weights: dict[str, float], path: Path) -> None:
    lines = [
        '"""The extractive answerer\'s fitted model: logistic-regression weights over answer/scoring.py\'s features.',
        "",
        "Written by eval/fit_answerer.py (fitted on eval/cecot.jsonl only); do not edit by hand. The",
        "intercept is shifted so that the abstention point chosen on that set falls at the default",
        "`abstain_threshold` (0.42).",
        '"""',
        "",
        f"BIAS = {bias:.4f}",
        "WEIGHTS = {",
        *[f'    "{name}": {value:.4f},' for name, value in weights.items()],
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
    x = np.vstack([rows for _, rows, _ in cases if len(rows)])
    y = np.concatenate([labels for _, rows, labels in cases if len(rows)])
    bias, w = fit(x, y)
    threshold = choose_threshold(cases, bias, w)
    # Shift the intercept so that score `threshold` becomes DEFAULT_THRESHOLD.
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    shifted = bias - logit(threshold) + logit(DEFAULT_THRESHOLD)
    weights = {name: float(v) for name, v in zip(FEATURES, w, strict=True)}
    print(f"{len(cases)} cases, {len(y)} sentences, {int(y.sum())} positive; abstention point {threshold:.2f}")
    for name, value in weights.items():
        print(f"  {name:18s} {value:+.3f}")
    print(f"  intercept          {shifted:+.3f} (fitted {bias:+.3f})")
    if not args.dry_run:
        write_weights(shifted, weights, ROOT / "src" / "cecot_rag" / "answer" / "weights.py")
        print("wrote src/cecot_rag/answer/weights.py")


if __name__ == "__main__":
    main()
