"""Answerers turn a question and retrieved passages into an Answer with verified citations."""

from cecot_rag.answer.base import Answerer, Question
from cecot_rag.answer.extractive import ExtractiveAnswerer

__all__ = ["Answerer", "ExtractiveAnswerer", "Question"]
