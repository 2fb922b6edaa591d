"""The feature model's weights (answer/scorers.FeatureScorer): placeholder until refit."""

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
THRESHOLD = 0.42
