"""Feature models (answer/scorers.FeatureScorer): logistic regressions over answer/features.py.

Written by `python training/fit.py features`; do not edit by hand. One model per embedding
model (similarities have another scale in each), and for the multilingual one a cross-lingual
model without the lexical features (a question and a sentence in two languages share no
words). Each is fitted on the candidates of the eight SQuAD 2.0 training articles; its
threshold was chosen on the two held-out training articles (training/fit.py says how), and
`held_out` gives the figures there at that threshold.
"""

FEATURE_MODELS = {
    "packaged:all-MiniLM-L6-v2": {
        "bias": -4.2961,
        "weights": {
            "sentence": 2.7638,
            "window": 1.9865,
            "passage": -1.5122,
            "coverage": 3.0897,
            "window_coverage": 0.7186,
            "type_match": -0.009,
            "type_absent": -2.0951,
            "condition_missing": -0.2448,
            "gap": 2.7053,
        },
        "threshold": 0.16,
        "fitted_on": {"sentences": 82374, "positive": 5639},
        "held_out": {
            "answered_right": 0.686,
            "top_right": 0.717,
            "false_abstention": 0.082,
            "abstained_squad_impossible": 0.09,
            "abstained_made_impossible": 0.405,
        },
    },
    "multilingual-e5-small": {
        "bias": -15.5428,
        "weights": {
            "sentence": 11.02,
            "window": 5.6586,
            "passage": -1.1126,
            "coverage": 2.7174,
            "window_coverage": 0.8082,
            "type_match": -0.0715,
            "type_absent": -1.9454,
            "condition_missing": -0.126,
            "gap": 12.4929,
        },
        "threshold": 0.18,
        "fitted_on": {"sentences": 80009, "positive": 5532},
        "held_out": {
            "answered_right": 0.698,
            "top_right": 0.736,
            "false_abstention": 0.096,
            "abstained_squad_impossible": 0.064,
            "abstained_made_impossible": 0.398,
        },
    },
    "multilingual-e5-small/crosslingual": {
        "bias": -21.1646,
        "weights": {
            "sentence": 19.2185,
            "window": 8.6238,
            "passage": -3.9702,
            "type_match": 0.1234,
            "type_absent": -1.6854,
            "condition_missing": -0.392,
            "gap": 16.8875,
        },
        "threshold": 0.23,
        "fitted_on": {"sentences": 80009, "positive": 5532},
        "held_out": {
            "answered_right": 0.652,
            "top_right": 0.696,
            "false_abstention": 0.099,
            "abstained_squad_impossible": 0.282,
            "abstained_made_impossible": 0.633,
        },
    },
}
