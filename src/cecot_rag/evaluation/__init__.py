"""Answer-quality evaluation: evaluation sets, metrics that need no LLM, runs, reports and a CI gate.

The public API is `evaluate` (see evaluation/api.py); the CLI is `cecot-rag eval`.
"""

from cecot_rag.evaluation.api import CaseRow, EvalReport, evaluate
from cecot_rag.evaluation.dataset import EvalCase, EvalSet, EvalSetError, load_set

__all__ = ["CaseRow", "EvalCase", "EvalReport", "EvalSet", "EvalSetError", "evaluate", "load_set"]
