"""Offline and private by default: no hub downloads, no telemetry.

The package imports this first (cecot_rag/__init__.py), so the defaults are set before any module
of the package imports a library that reads them; a value the user set is kept.
"""

from __future__ import annotations

import os

DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}
for _name, _value in DEFAULTS.items():
    os.environ.setdefault(_name, _value)
