"""The extractive answerer's fitted models: logistic regressions on answer/scoring.py's features.

Written by eval/fit_answerer.py (fitted on eval/cecot.jsonl only); do not edit by hand. The
answer model's intercept is shifted so that the abstention point chosen on that set falls at
the default `abstain_threshold` (0.42).
"""

# Ranking: does this sentence support an answer (scoring.relevance).
BIAS = -5.3679
WEIGHTS = {
    "sentence": 1.1727,
    "window": 2.4694,
    "passage": 0.5068,
    "coverage": 3.0664,
    "window_coverage": 1.9723,
    "missing_rare": 0.5665,
    "type_match": 0.3148,
    "type_absent": -1.5021,
    "condition_missing": -1.5556,
    "gap": 2.1757,
}
# Answer or abstain, from the best sentence (scoring.evidence_score).
ANSWER_BIAS = 1.8601
ANSWER_WEIGHTS = {
    "relevance": 0.8925,
    "sentence": 1.0062,
    "coverage": -0.8268,
    "window_coverage": -0.8521,
    "missing_rare": 0.1040,
    "type_absent": -0.7304,
}
