"""The feature model (answer/scorers.FeatureScorer): a logistic regression over answer/features.py.

Written by `python training/fit.py features`; do not edit by hand. Fitted on the candidates of
the eight SQuAD 2.0 training articles (82374 sentences, 5639 positive); the threshold
was chosen on the two held-out training articles (training/fit.py says how). Held-out figures
at that threshold:
    answered_right 0.686,
    top_right 0.717,
    false_abstention 0.082,
    abstained_squad_impossible 0.090,
    abstained_made_impossible 0.405.
"""

BIAS = -4.2961
WEIGHTS = {
    "sentence": 2.7638,
    "window": 1.9865,
    "passage": -1.5122,
    "coverage": 3.0897,
    "window_coverage": 0.7186,
    "type_match": -0.009,
    "type_absent": -2.0951,
    "condition_missing": -0.2448,
    "gap": 2.7053,
}
THRESHOLD = 0.16
