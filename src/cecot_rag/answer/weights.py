"""The extractive answerer's fitted models: logistic regressions on answer/scoring.py's features.

Written by eval/fit_answerer.py (fitted on eval/cecot.jsonl only); do not edit by hand. The
answer model's intercept is shifted so that the abstention point chosen on that set falls at
the default `abstain_threshold` (0.42).
"""

# Ranking: does this sentence support an answer (scoring.relevance).
BIAS = -5.2475
WEIGHTS = {
    "sentence": 1.0509,
    "window": 2.4142,
    "passage": 0.5372,
    "coverage": 3.1553,
    "window_coverage": 1.9076,
    "missing_rare": 0.4737,
    "type_match": 0.5570,
    "type_absent": -1.5054,
    "condition_missing": -1.2179,
    "gap": 2.1392,
}
# Answer or abstain, from the best sentence (scoring.evidence_score).
ANSWER_BIAS = 1.1807
ANSWER_WEIGHTS = {
    "relevance": 0.7365,
    "sentence": 0.6555,
    "coverage": 0.1147,
    "window_coverage": -0.2615,
    "missing_rare": 0.0660,
    "type_absent": 0.2501,
}
