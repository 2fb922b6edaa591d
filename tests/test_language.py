"""Language detection, Spanish stop words and stems, Spanish question words, and BM25 across languages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cecot_rag.language import detect_language, language_of, question_type_es, search_terms
from cecot_rag.lexical import LexicalIndex
from cecot_rag.sentence_vectors import passage_sentences
from cecot_rag.text import terms
from conftest import ARTICLE, ROOT

SPANISH_DOCUMENT = Path(__file__).parent / "data" / "plan_escudo_es.md"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("¿Cuántos presos puede albergar el CECOT?", "es"),
        ("¿Quién es el presidente de El Salvador?", "es"),
        ("cuantos presos hay en la carcel", "es"),  # typed without accents or "¿"
        ("¿Dónde está Piedra Alta?", "es"),
        ("Las visitas familiares quedaron suspendidas durante los primeros 18 meses.", "es"),
        ("How many inmates can CECOT hold?", "en"),
        ("When did the Piedra Alta centre open?", "en"),
        ("Who is the president of El Salvador?", "en"),
        ("The prison opened in January 2023 in Tecoluca.", "en"),
    ],
)
def test_detects_spanish_and_english(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize("text", ["", "CECOT", "El Salvador", "Bukele?", "40,000", "Nayib Bukele, 2019"])
def test_too_little_evidence_is_no_language_and_the_default_decides(text: str) -> None:
    assert detect_language(text) is None
    assert language_of(text) == "en" and language_of(text, default="es") == "es"


def test_single_letters_do_not_vote() -> None:
    """stopwords-iso lists every letter as a Spanish word: "%s" and "%d" outvoted English."""
    assert detect_language("copied %d of %s files into %s at %s") == "en"


def test_no_english_question_or_sentence_of_the_bundled_set_reads_as_spanish() -> None:
    """English behaviour stays as it was: nothing English is stemmed as Spanish."""
    questions = [
        json.loads(line)["question"]
        for line in (ROOT / "eval" / "cecot.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    sentences = passage_sentences(ARTICLE.read_text(encoding="utf-8"))
    assert len(questions) > 100 and len(sentences) > 50
    read_as_spanish = [t for t in [*questions, *sentences] if detect_language(t) == "es"]
    assert read_as_spanish == []


def test_every_sentence_of_the_spanish_document_reads_as_spanish_or_undecided() -> None:
    sentences = passage_sentences(SPANISH_DOCUMENT.read_text(encoding="utf-8"))
    found = [detect_language(s) for s in sentences]
    assert "en" not in found
    assert found.count("es") >= len(sentences) - 2  # the title and a short line may say too little


def test_english_terms_are_unchanged() -> None:
    text = "Bukele's government held 40,000 inmates; the prisons' capacity was 'dismantling' gangs."
    assert (
        terms(text)
        == terms(text, "en")
        == ["bukel", "govern", "held", "40000", "inmat", "prison", "capac", "dismantl", "gang"]
    )


def test_spanish_terms_stem_singular_and_plural_alike_and_fold_accents() -> None:
    assert terms("la operación", "es") == terms("las operaciones", "es") == ["oper"]
    assert terms("la cárcel", "es") == terms("las cárceles", "es") == ["carcel"]
    assert terms("los presos", "es") == terms("el preso", "es")
    assert terms("40.000 internos", "es") == ["40000", "intern"]  # "." groups thousands in Spanish


def test_spanish_stop_words_drop_function_words_and_keep_the_subject() -> None:
    assert terms("¿Cuántos de ellos están en la cárcel?", "es") == ["carcel"]
    # stopwords-iso lists "estado", "días", "dos": here they are what the question is about
    assert terms("el estado de excepción duró dos días", "es") == ["estad", "excepcion", "dur", "dos", "dias"]


@pytest.mark.parametrize(
    ("question", "answer_type"),
    [
        ("¿Cuántos presos puede albergar el CECOT?", "number"),
        ("¿Cuántas celdas tiene?", "number"),
        ("¿Qué número de internos tiene el centro?", "number"),
        ("¿Qué porcentaje del gasto es penitenciario?", "number"),
        ("¿Cuánto costó la obra?", "number"),
        ("¿Cuánto dinero se invirtió?", "number"),
        ("¿Cuál fue el presupuesto de 2025?", None),
        ("¿Quién presentó el plan?", "person"),
        ("¿Quiénes votaron en contra?", "person"),
        ("¿Qué ministra presentó el plan?", None),
        ("¿Quién escribió el artículo?", "person"),
        ("¿Cuándo abrió el centro?", "time"),
        ("¿En qué año se aprobó el plan?", "time"),
        ("¿Dónde está el centro?", "place"),
        ("¿En qué ciudad se construirá el segundo centro?", None),
        ("¿Por qué se suspendieron las visitas?", None),
        ("¿Cómo se financió la obra?", None),
        ("¿Qué es el Plan Escudo?", None),
        ("cuantos internos hay", "number"),  # without accents
        ("Cuando abrió el centro, ¿cuántos internos había?", "number"),  # the clause before "¿"
    ],
)
def test_spanish_question_words_give_the_english_answer_types(question: str, answer_type: str | None) -> None:
    assert question_type_es(question) == answer_type


def test_search_terms_stem_names_as_each_language_of_the_index_does() -> None:
    spanish, english = terms("Honduras", "es"), terms("Honduras", "en")
    assert spanish != english  # 'hondur' and 'hondura': one stemmer alone misses the other's text
    assert search_terms("What did Honduras build?", {"en"}) == terms("What did Honduras build?")
    both = search_terms("What did Honduras build?", {"en", "es"})
    assert set(spanish) <= set(both) and set(english) <= set(both)
    # A Spanish question's own stop words stay out of the English stems ("el" is in "El Salvador").
    assert "el" not in search_terms("¿Qué construyó el gobierno de Honduras?", {"en", "es"})


def _index(*documents: tuple[str, list[str]]) -> tuple[LexicalIndex, dict[str, str]]:
    """A BM25 index of these documents (id, passage texts), and its passages by id."""
    index, passages = LexicalIndex(), {}
    for document_id, texts in documents:
        rows = [(f"{document_id}:{i}", t) for i, t in enumerate(texts)]
        index.add_document(document_id, rows)
        passages.update(rows)
    return index, passages


def test_bm25_finds_the_spanish_passage_for_spanish_questions_in_a_mixed_index() -> None:
    index, passages = _index(
        ("es", passage_sentences(SPANISH_DOCUMENT.read_text(encoding="utf-8"))),
        ("en", passage_sentences(ARTICLE.read_text(encoding="utf-8"))),
    )
    assert index.languages == {"en", "es"}
    wanted = {
        "¿Cuántas denuncias por malos tratos registró la Defensoría?": "27 denuncias",
        "¿Cuánto costó la obra?": "186 millones",
        "¿Durante cuántos meses se suspendieron las visitas familiares?": "18 meses",
        "¿Qué préstamo financió la obra?": "Banco Regional",
    }
    for question, words in wanted.items():
        top = index.search(question, 1)[0][0]
        assert words in passages[top], (question, passages[top])


def test_bm25_matches_a_name_of_a_spanish_passage_from_an_english_question() -> None:
    index, _ = _index(
        ("es", ["Honduras anunció una cárcel en las Islas del Cisne."]),
        ("en", ["Guatemala opened a prison.", "Peru announced new prisons."]),
    )
    # 'hondura' (English) is not 'hondur' (Spanish): only the second stemming finds the passage.
    assert [pid for pid, _ in index.search("What did Honduras build?", 3)] == ["es:0"]


def test_languages_follow_the_documents_in_the_index() -> None:
    index, _ = _index(
        ("es", ["La cárcel abrió en febrero de 2024 con 12.500 internos."]), ("en", ["CECOT opened."])
    )
    assert index.languages == {"es", "en"}
    index.remove_document("es")
    assert index.languages == {"en"}
    restored = LexicalIndex.restore(index.export())
    assert restored.languages == {"en"} and restored.search("CECOT", 1)[0][0] == "en:0"


def test_a_short_passage_takes_its_documents_language() -> None:
    index, _ = _index(
        ("es", ["Piedra Alta", "La cárcel de Piedra Alta abrió en febrero de 2024 con 12.500 internos."])
    )
    assert index.languages == {"es"}
    assert index.search("cárceles", 1)[0][0] == "es:1"  # stemmed as Spanish: cárceles -> carcel
