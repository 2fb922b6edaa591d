"""The notices the system writes for a question (the abstention, the page's no-answer line), in the
question's language: Spanish for a Spanish question, English otherwise.

One table, so a new notice gets both languages in one place; the question's language is the one
`language.language_of` tells, which keeps English on a doubt.
"""

from __future__ import annotations

from cecot_rag.language import ENGLISH, SPANISH, language_of

TEXTS: dict[str, dict[str, str]] = {
    # The answer's text when the documents do not answer the question.
    "abstention": {
        ENGLISH: "The documents do not say. I found nothing in them that answers this question; "
        "the closest passages are listed below.",
        SPANISH: "Los documentos no lo dicen. No encontré en ellos nada que responda a esta pregunta; "
        "los pasajes más cercanos aparecen abajo.",
    },
    # The sources panel's line above the closest passages of an unanswered question.
    "no_answer": {
        ENGLISH: "No answer: the documents do not say. The closest passages are listed below.",
        SPANISH: "Sin respuesta: los documentos no lo dicen. Los pasajes más cercanos aparecen abajo.",
    },
}


def text(key: str, language: str) -> str:
    """The notice `key` in `language`; English for a language the table does not have."""
    versions = TEXTS[key]
    return versions.get(language, versions[ENGLISH])


def text_for_question(key: str, question: str) -> str:
    """The notice `key` in the language `question` is written in."""
    return text(key, language_of(question))
