"""The extractive answerer's fitted models: logistic regressions on answer/scoring.py's features.

Written by eval/fit_answerer.py (fitted on eval/cecot.jsonl only); do not edit by hand. The
answer model's intercept is shifted so that the abstention point chosen on that set falls at
the default `abstain_threshold` (0.42).
"""

# Ranking: does this sentence support an answer (scoring.relevance).
BIAS = -5.4135
WEIGHTS = {
    "sentence": 1.0664,
    "window": 2.4619,
    "passage": 0.5709,
    "coverage": 3.1357,
    "window_coverage": 2.0506,
    "missing_rare": 0.5295,
    "type_match": 0.3152,
    "type_absent": -1.6888,
    "condition_missing": -1.4480,
    "gap": 2.1287,
}
# Answer or abstain, from the best sentence (scoring.evidence_score).
ANSWER_BIAS = 1.4609
ANSWER_WEIGHTS = {
    "relevance": 0.8975,
    "sentence": 0.7069,
    "coverage": -0.7186,
    "window_coverage": -0.9281,
    "missing_rare": 0.2403,
    "type_absent": -0.9145,
}
