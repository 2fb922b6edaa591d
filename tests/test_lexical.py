"""BM25: compound words, whole-document removal, IDF of vanished terms, fusion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cecot_rag.lexical import LexicalIndex
from cecot_rag.retrieve import reciprocal_rank_fusion


def index_of(**documents: list[tuple[str, str]]) -> LexicalIndex:
    index = LexicalIndex()
    for document_id, passages in documents.items():
        index.add_document(document_id, passages)
    return index


def test_hyphenated_names_stay_whole() -> None:
    index = index_of(d1=[("p1", "Gangs such as MS-13 and Barrio 18.")], d2=[("p2", "Gardens in Quito.")])
    assert [pid for pid, _ in index.search("MS-13", 5)] == ["p1"]


def test_removing_a_document_removes_all_its_passages_and_their_weight() -> None:
    index = index_of(
        d1=[("p1", "CECOT holds 40,000 inmates."), ("p2", "Ecuador plans ultra-secure prisons.")],
        d2=[("p3", "Medellín and Operación Convivencia.")],
    )
    assert index.idf("ecuador") < index.idf("zzzz")
    assert index.remove_document("d1") == ["p1", "p2"]
    assert index.search("Ecuador CECOT", 5) == []
    assert index.idf("ecuador") == pytest.approx(index.idf("zzzz"))  # a vanished term weighs as unknown
    assert [pid for pid, _ in index.search("Convivencia", 5)] == ["p3"]


def test_numbers_match_with_or_without_digit_grouping() -> None:
    index = index_of(d1=[("p1", "a capacity of 40,000 inmates")], d2=[("p2", "some other text")])
    assert [pid for pid, _ in index.search("40000", 5)] == ["p1"]


def restored(index: LexicalIndex) -> LexicalIndex:
    return LexicalIndex.restore(index.export())


def test_an_exported_index_comes_back_with_its_matrix() -> None:
    index = index_of(d1=[("p1", "Bukele and CECOT"), ("p2", "Noboa and Ecuador")])
    copy = restored(index)
    assert copy.search("Ecuador", 3) == index.search("Ecuador", 3) != []
    assert copy.idf("cecot") == index.idf("cecot") and copy.idf("zzzz") == index.idf("zzzz")


def test_a_state_whose_parts_do_not_fit_is_refused() -> None:
    state = index_of(d1=[("p1", "Bukele and CECOT"), ("p2", "Noboa and Ecuador")]).export()
    state.cols = state.cols + len(state.vocabulary)  # term ids past the vocabulary
    with pytest.raises(ValueError, match="do not fit"):
        LexicalIndex.restore(state)


def test_a_restored_index_changes_exactly_like_the_original() -> None:
    """Postings come back packed from a snapshot; adding and removing documents unpacks them."""
    documents = {
        "d1": [("p1", "CECOT holds 40,000 inmates."), ("p2", "Ecuador plans ultra-secure prisons.")],
        "d2": [("p3", "Medellín and Operación Convivencia reduced homicides.")],
        "d3": [("p4", "Honduras declared a state of exception and built prisons.")],
    }
    original = index_of(**documents)
    copy = restored(original)
    assert len(copy) == len(original) == 4
    again = restored(copy)  # a snapshot of a restored, unchanged index
    for index in (original, copy, again):
        index.remove_document("d1")
        index.add_document("d5", [("p5", "Ecuador builds prisons like CECOT in Guayaquil.")])
    queries = ["Ecuador prisons", "CECOT inmates", "homicides Medellín", "state of exception"]
    for query in queries:
        assert copy.search(query, 5) == again.search(query, 5) == original.search(query, 5)
    assert copy.search("Ecuador prisons", 5)[0][0] == "p5"
    assert len(copy) == 3 and copy.idf("guayaquil") == pytest.approx(original.idf("guayaquil"))


@given(st.lists(st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8), max_size=4))
def test_fusion_lists_each_item_once_best_first(rankings: list[list[str]]) -> None:
    fused = reciprocal_rank_fusion(rankings)
    items = [item for item, _ in fused]
    assert len(items) == len(set(items)) == len({x for r in rankings for x in r})
    scores = [score for _, score in fused]
    assert scores == sorted(scores, reverse=True)
    if rankings and rankings[0] and all(r[:1] == rankings[0][:1] for r in rankings):
        assert items[0] == rankings[0][0]
