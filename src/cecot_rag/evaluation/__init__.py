"""Answer-quality evaluation: evaluation sets, metrics that need no LLM, runs, reports and a CI gate."""
