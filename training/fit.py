"""Fit the answer path's models and thresholds on the SQuAD 2.0 training articles only.

    python training/answer_data.py          # candidates of every training question (build/answer)
    python training/fit.py features         # the feature model -> src/cecot_rag/answer/weights.py
    python training/fit.py reader           # the reader's calibration and threshold -> its card.json

`features`: an L2-regularised logistic regression (Newton's method, numpy) over the features of
every candidate of the eight training articles (label: the sentence supports the answer by the
evaluation's quote-level rule). `reader`: the shipped reader reads, for each question of the two
held-out articles, the `reads` candidates the feature model ranks highest; a logistic over its
logit (and optional features, `--with`) is fitted on those rows by two-fold cross-validation
across the two held-out articles (each article's scores come from the fit on the other), then
refitted on both for shipping.

The threshold is chosen the same way for both, on the held-out articles' questions (each
question's best score decides): the value maximising
    answered-and-right rate on answerable questions + abstention rate on impossible ones,
among the values whose false-abstention rate on answerable questions is at most MAX_FALSE_ABSTENTION.
"Impossible" averages SQuAD's own impossible questions and the made ones (a name, year or number
swapped) so that neither kind dominates. The evaluation sets of the project are never read here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cecot_rag.answer.features import FEATURES  # noqa: E402

L2 = 1.0
MAX_FALSE_ABSTENTION = 0.10
WEIGHTS_FILE = ROOT / "src" / "cecot_rag" / "answer" / "weights.py"


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2) -> tuple[float, np.ndarray]:
    """L2-regularised logistic regression by Newton's method: (intercept, weights)."""
    design = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-design @ beta))
        gradient = design.T @ (p - y) + penalty * beta
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + np.diag(penalty) + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return float(beta[0]), beta[1:]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def question_outcomes(questions: list[dict], scores: list[np.ndarray]) -> list[tuple[str, float, bool]]:
    """(kind, best score, best is right) per question; kind: answerable, squad or perturbed."""
    out = []
    for q, s in zip(questions, scores, strict=True):
        kind = "answerable" if q["answerable"] else q["origin"]
        if len(s) == 0:
            out.append((kind, 0.0, False))
            continue
        best = int(np.argmax(s))
        out.append((kind, float(s[best]), bool(q["candidates"][best]["label"])))
    return out


def rates(outcomes: list[tuple[str, float, bool]], threshold: float) -> dict[str, float]:
    answerable = [(s, right) for kind, s, right in outcomes if kind == "answerable"]
    squad = [s for kind, s, _ in outcomes if kind == "squad"]
    made = [s for kind, s, _ in outcomes if kind == "perturbed"]
    share = lambda items: float(np.mean(items)) if items else float("nan")  # noqa: E731
    return {
        "answered_right": share([s >= threshold and right for s, right in answerable]),
        "top_right": share([right for _, right in answerable]),
        "false_abstention": share([s < threshold for s, _ in answerable]),
        "abstained_squad_impossible": share([s < threshold for s in squad]),
        "abstained_made_impossible": share([s < threshold for s in made]),
    }


def choose_threshold(outcomes: list[tuple[str, float, bool]]) -> tuple[float, dict[str, float]]:
    """The threshold by the objective in the module docstring, and the rates it gives."""
    best: tuple[float, float, dict[str, float]] | None = None
    for t in np.round(np.arange(0.01, 1.0, 0.01), 2):
        r = rates(outcomes, float(t))
        if r["false_abstention"] > MAX_FALSE_ABSTENTION:
            continue
        impossible = np.nanmean([r["abstained_squad_impossible"], r["abstained_made_impossible"]])
        value = r["answered_right"] + impossible
        if best is None or value > best[0]:
            best = (value, float(t), r)
    assert best is not None
    return best[1], best[2]


def feature_matrix_of(candidates: list[dict], names: tuple[str, ...]) -> np.ndarray:
    return np.array([[c["features"][f] for f in names] for c in candidates]).reshape(-1, len(names))


def fit_features(rows: list[dict], key: str, names: tuple[str, ...]) -> dict:
    """Fit one feature model on the training articles' rows, its threshold on the held-out ones,
    and write it into weights.py under key (the other models there are kept)."""
    train = [q for q in rows if not q["held_out"]]
    held = [q for q in rows if q["held_out"]]
    candidates = [c for q in train for c in q["candidates"]]
    x, y = feature_matrix_of(candidates, names), np.array([c["label"] for c in candidates], dtype=float)
    bias, w = fit_logistic(x, y)
    scores = [sigmoid(bias + feature_matrix_of(q["candidates"], names) @ w) for q in held]
    threshold, held_rates = choose_threshold(question_outcomes(held, scores))
    model = {
        "bias": round(bias, 4),
        "weights": {name: round(float(v), 4) for name, v in zip(names, w, strict=True)},
        "threshold": threshold,
        "fitted_on": {"sentences": len(candidates), "positive": int(y.sum())},
        "held_out": {k: round(v, 3) for k, v in held_rates.items()},
    }
    from cecot_rag.answer.weights import FEATURE_MODELS

    write_weights({**FEATURE_MODELS, key: model})
    return model


def write_weights(models: dict[str, dict]) -> None:
    body = json.dumps(models, indent=4)
    lines = [
        '"""Feature models (answer/scorers.FeatureScorer): logistic regressions over answer/features.py.',
        "",
        "Written by `python training/fit.py features`; do not edit by hand. One model per embedding",
        "model (similarities have another scale in each), and for the multilingual one a cross-lingual",
        "model without the lexical features (a question and a sentence in two languages share no",
        "words). Each is fitted on the candidates of the eight SQuAD 2.0 training articles; its",
        "threshold was chosen on the two held-out training articles (training/fit.py says how), and",
        "`held_out` gives the figures there at that threshold.",
        '"""',
        "",
        f"FEATURE_MODELS = {body}",
        "",
    ]
    WEIGHTS_FILE.write_text("\n".join(lines), encoding="utf-8")
    # The repository's formatter checks this file like any other (CI runs `ruff format --check`).
    subprocess.run(["ruff", "format", str(WEIGHTS_FILE)], check=False)


def reader_rows(rows: list[dict], reads: int, data: Path, key: str) -> tuple[list[dict], list[np.ndarray]]:
    """Held-out questions with the reader's logits for the candidates the feature model of `key`
    (the embedding model the candidates were computed with) ranks first (the others are not read:
    their logit is -inf). Kept beside the data per reader file and `reads`."""
    import hashlib

    from cecot_rag.answer.reader import MODEL_DIR, packaged_reader
    from cecot_rag.answer.scorers import FeatureScorer

    held = [q for q in rows if q["held_out"]]
    digest = hashlib.sha256((MODEL_DIR / "reader.onnx").read_bytes()).hexdigest()[:16]
    cache = data.parent / f"reader-logits-{digest}-{reads}.json"
    if cache.is_file():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        return held, [np.array([v if v is not None else -np.inf for v in q]) for q in stored]
    first = FeatureScorer.for_model(key)
    reader = packaged_reader(2)
    logits = []
    for q in held:
        x = feature_matrix_of(q["candidates"], first.names)
        prior = sigmoid(first.bias + x @ np.array([first.coefficients[f] for f in first.names]))
        order = np.argsort(-prior)[:reads]
        values = np.full(len(q["candidates"]), -np.inf)
        if len(order):
            values[order] = reader.logits(q["question"], [q["candidates"][i]["pair"] for i in order])
        logits.append(values)
    cache.write_text(json.dumps([[float(v) if np.isfinite(v) else None for v in q] for q in logits]))
    return held, logits


def calibration_rows(held: list[dict], logits: list[np.ndarray], extra: list[str]) -> tuple[np.ndarray, ...]:
    xs, ys, groups = [], [], []
    for q, values in zip(held, logits, strict=True):
        for c, value in zip(q["candidates"], values, strict=True):
            if np.isfinite(value):
                xs.append([value, *[c["features"][f] for f in extra]])
                ys.append(c["label"])
                groups.append(q["article"])
    return np.array(xs), np.array(ys, dtype=float), np.array(groups)


def apply(bias: float, w: np.ndarray, q: dict, values: np.ndarray, extra: list[str]) -> np.ndarray:
    out = np.zeros(len(values))
    for i, (c, value) in enumerate(zip(q["candidates"], values, strict=True)):
        if np.isfinite(value):
            out[i] = sigmoid(bias + w @ np.array([value, *[c["features"][f] for f in extra]]))
    return out


def fit_reader(rows: list[dict], reads: int, extra: list[str], card_path: Path, data: Path, key: str) -> dict:
    """The reader's calibration and threshold into its card: `calibration`/`threshold` for the
    packaged MiniLM's first stage, `by_embedding_model[key]` for another (its features have
    another scale)."""
    from cecot_rag.settings import PACKAGED_MODEL

    held, logits = reader_rows(rows, reads, data, key)
    x, y, groups = calibration_rows(held, logits, extra)
    articles = sorted(set(groups))
    # Two-fold cross-validation across the held-out articles: each one scored by a fit on the other.
    scores = [np.zeros(0)] * len(held)
    for article in articles:
        bias, w = fit_logistic(x[groups != article], y[groups != article], l2=0.1)
        for i, (q, values) in enumerate(zip(held, logits, strict=True)):
            if q["article"] == article:
                scores[i] = apply(bias, w, q, values, extra)
    threshold, cv_rates = choose_threshold(question_outcomes(held, scores))
    bias, w = fit_logistic(x, y, l2=0.1)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    fitted = {
        "calibration": {"bias": round(bias, 4), "reader": round(float(w[0]), 4)}
        | {f: round(float(v), 4) for f, v in zip(extra, w[1:], strict=True)},
        "threshold": threshold,
        "threshold_held_out_cv": cv_rates,
    }
    card["reads"] = reads
    if key == PACKAGED_MODEL:
        card.update(fitted)
    else:
        card.setdefault("by_embedding_model", {})[key] = fitted
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return fitted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["features", "reader"])
    parser.add_argument("--data", type=Path, default=ROOT / "build" / "answer" / "questions.jsonl")
    parser.add_argument("--reads", type=int, default=8, help="candidates the reader reads per question")
    parser.add_argument("--with", dest="extra", nargs="*", default=[], choices=FEATURES)
    parser.add_argument(
        "--key", default=None, help="the embedding model the data was computed with (its name in weights.py)"
    )
    parser.add_argument("--crosslingual", action="store_true", help="features: leave out lexical features")
    args = parser.parse_args(argv)
    rows = load(args.data)
    if args.what == "features":
        from cecot_rag.answer.features import CROSSLINGUAL_FEATURES
        from cecot_rag.settings import PACKAGED_MODEL

        names = CROSSLINGUAL_FEATURES if args.crosslingual else FEATURES
        result = fit_features(rows, args.key or PACKAGED_MODEL, names)
    else:
        from cecot_rag.answer.reader import MODEL_DIR
        from cecot_rag.settings import PACKAGED_MODEL

        key = args.key or PACKAGED_MODEL
        result = fit_reader(rows, args.reads, args.extra, MODEL_DIR / "card.json", args.data, key)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
