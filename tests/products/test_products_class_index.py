"""Classing a name by looking its phrases up finds what a whole-word search of each term finds.

Issue 20: :func:`classify_medicine` looks each run of words of the name up in an index of the
vocabulary's phrases instead of searching the name for every phrase in turn. The rule is the
same (a phrase counts where its words stand together in the name, as whole words); these
tests compare the two on every catalogue product name and on names made of the vocabulary's
own phrases, salts and filler words.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from opioidcds import MedicineClass, classify_medicine, load_catalogue
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.products import _class_vocabulary, _has, _words

VOCABULARY = _class_vocabulary(knowledge_dir("catalogue"), knowledge_dir("conversion_tables"))
PHRASES = sorted({t for t, _ in VOCABULARY.terms} | {t for t, _ in VOCABULARY.ingredient_terms})
FILLER = ["mg", "10mg", "tablets", "oral", "solution", "and", "with", "m/r", "(", ")", "x", "5ml"]


def _searched(name: str) -> tuple[set[MedicineClass], set[str]]:
    """Classes and ingredients by searching the name for every phrase (whole words)."""
    text = _words(name)
    classes = {cls for term, cls in VOCABULARY.terms if term and _has(text, term)}
    ingredients = {ing for term, ing in VOCABULARY.ingredient_terms if term and _has(text, term)}
    return classes, ingredients


def _looked_up(name: str) -> tuple[set[MedicineClass], set[str]]:
    classes: set[MedicineClass] = set()
    ingredients: set[str] = set()
    for phrase in VOCABULARY.phrases_in(_words(name)):
        classes.update(VOCABULARY.classes_of.get(phrase, ()))
        ingredients.update(VOCABULARY.ingredients_of.get(phrase, ()))
    return classes, ingredients


def test_every_catalogue_name_is_classed_as_by_search() -> None:
    names = [p.product_name for p in load_catalogue()]
    assert len(names) > 1000
    assert [n for n in names if _looked_up(n) != _searched(n)] == []


@settings(max_examples=500)
@given(st.lists(st.sampled_from(PHRASES + FILLER), min_size=1, max_size=7), st.booleans())
def test_names_of_vocabulary_phrases_are_classed_as_by_search(
    words: list[str], upper: bool
) -> None:
    name = " ".join(words)
    name = name.upper() if upper else name
    assert _looked_up(name) == _searched(name)
    classes, _ = _searched(name)
    assert classes <= classify_medicine(name)  # the OST rules may only add to them


@given(st.text(max_size=40))
def test_any_text_is_classed_as_by_search(text: str) -> None:
    assert _looked_up(text) == _searched(text)
