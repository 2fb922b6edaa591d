"""The extractive answerer's fitted model: logistic-regression weights over answer/scoring.py's features.

Written by eval/fit_answerer.py (fitted on eval/cecot.jsonl only); do not edit by hand. The
intercept is shifted so that the abstention point chosen on that set falls at the default
`abstain_threshold` (0.42).
"""

BIAS = -2.7539
WEIGHTS = {
    "sentence": 1.3144,
    "window": 2.1161,
    "passage": 0.7862,
    "coverage": 2.9580,
    "window_coverage": 1.9047,
    "missing_rare": -0.0658,
    "type_match": 0.3574,
    "type_absent": -1.3153,
    "condition_missing": -0.4537,
    "gap": 1.8184,
}
