"""The extractive answerer's fitted models: logistic regressions on answer/scoring.py's features.

Written by eval/fit_answerer.py (fitted on eval/cecot.jsonl only); do not edit by hand. The
answer model's intercept is shifted so that the abstention point chosen on that set falls at
the default `abstain_threshold` (0.42).
"""

# Ranking: does this sentence support an answer (scoring.relevance).
BIAS = -5.2447
WEIGHTS = {
    "sentence": 0.9202,
    "window": 2.2912,
    "passage": 0.6034,
    "coverage": 3.1606,
    "window_coverage": 2.0326,
    "missing_rare": 0.5933,
    "type_match": 0.3424,
    "type_absent": -1.5678,
    "condition_missing": -1.2745,
    "gap": 2.3693,
}
# Answer or abstain, from the best sentence (scoring.evidence_score).
ANSWER_BIAS = 1.4731
ANSWER_WEIGHTS = {
    "relevance": 0.7636,
    "sentence": 0.5277,
    "coverage": -0.4464,
    "window_coverage": -0.8076,
    "missing_rare": 0.3455,
    "type_absent": -0.9116,
}
