"""The answer path (answer/path.py) and the answerers that turn what it found into a cited Answer."""

from cecot_rag.answer.base import Question
from cecot_rag.answer.extractive import ExtractiveAnswerer
from cecot_rag.answer.path import Answerer

__all__ = ["Answerer", "ExtractiveAnswerer", "Question"]
