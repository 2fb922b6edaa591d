"""The extractive answerer's fitted models: logistic regressions on answer/scoring.py's features.

Written by eval/fit_answerer.py (fitted on eval/cecot.jsonl only); do not edit by hand. The
answer model's intercept is shifted so that the abstention point chosen on that set falls at
the default `abstain_threshold` (0.42).
"""

# Ranking: does this sentence support an answer (scoring.relevance).
BIAS = -5.3366
WEIGHTS = {
    "sentence": 1.1565,
    "window": 2.4535,
    "passage": 0.4678,
    "coverage": 3.0640,
    "window_coverage": 1.9871,
    "missing_rare": 0.5696,
    "type_match": 0.3384,
    "type_absent": -1.5179,
    "condition_missing": -1.5637,
    "gap": 2.1958,
}
# Answer or abstain, from the best sentence (scoring.evidence_score).
ANSWER_BIAS = 2.0272
ANSWER_WEIGHTS = {
    "relevance": 0.9110,
    "sentence": 0.9527,
    "coverage": -0.8537,
    "window_coverage": -0.9054,
    "missing_rare": 0.1137,
    "type_absent": -0.8195,
}
