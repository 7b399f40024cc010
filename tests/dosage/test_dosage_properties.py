"""Properties of parse_dosage: bad input, fuzzing, determinism, memo, contract, both drivers.

- Random strings and random Unicode never raise anything but InvalidInputError.
- Random sequences of the grammar's own words (the interesting inputs) never raise either, and
  the lean LALR driver agrees with lark's own driver on every one of them.
- The same text always gives the same result (also after the memo is cleared).
- Every parsed dose, given a drug and form, is accepted by ``Prescription`` (the contract).
"""

from __future__ import annotations

from decimal import Decimal
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lark.exceptions import UnexpectedInput

from opioidcds import Dosage, InvalidInputError, Prescription, UnparsedDosage, parse_dosage
from opioidcds._resolve import dosage as dosage_module
from opioidcds._resolve.dosage import MAX_DOSAGE_TEXT_LENGTH, clear_dosage_cache, dosage_cache_info

from .test_dosage_cases import PARSED, UNPARSED

_WORDS = sorted(
    {
        *dosage_module._LEXICON,
        "0",
        "1",
        "2",
        "1/3",
        "1234567",
        "4",
        "6",
        "24",
        "72",
        "2.5",
        "1/2",
        "10mg",
        "5ml",
        "(300mg)",
        "(",
        ")",
        "then",
        "zz",
        # issue 16: phrases, notes, clock times, spoons, slashes, glued and fused numbers
        ":[84]",
        "dispense weekly",
        "(total dose 37mcg)",
        "with 12mcg patch",
        "8am",
        "2.30pm",
        "5ml spoonful",
        "tablet(s)",
        "/",
        "/day",
        "bd36",
        "16hrly",
        "102",
        "ninety",
        "blood pressure",
        "-",
    }
)


@pytest.mark.parametrize("bad", [None, 5, 2.5, b"one bd", ["one bd"], {"text": "one"}])
def test_non_strings_are_invalid_input(bad: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_dosage(bad)  # type: ignore[arg-type]
    assert info.value.field == "dosage_text"


@pytest.mark.parametrize("blank", ["", " ", "\t\n", "\u00a0\u2003"])
def test_blank_is_invalid_input(blank: str) -> None:
    with pytest.raises(InvalidInputError, match="must not be empty"):
        parse_dosage(blank)


def test_too_long_is_invalid_input_without_the_text() -> None:
    text = "one tablet twice a day secretword " * 40
    assert len(text) > MAX_DOSAGE_TEXT_LENGTH
    with pytest.raises(InvalidInputError) as info:
        parse_dosage(text)
    assert "secretword" not in str(info.value)
    assert info.value.field == "dosage_text"


def test_the_longest_allowed_text_is_read() -> None:
    text = ("one tablet twice a day, " * 60)[:MAX_DOSAGE_TEXT_LENGTH]
    assert isinstance(parse_dosage(text), Dosage | UnparsedDosage)


@given(st.text(max_size=200))
def test_random_unicode_never_crashes(text: str) -> None:
    if not text.strip():
        with pytest.raises(InvalidInputError):
            parse_dosage(text)
        return
    result = parse_dosage(text)
    assert isinstance(result, Dosage | UnparsedDosage)
    assert parse_dosage(text) == result


@given(st.text(alphabet="0123456789 ./-()abdehilmnopqrstuwxy,;:", max_size=80))
def test_random_ascii_never_crashes(text: str) -> None:
    try:
        result = parse_dosage(text)
    except InvalidInputError:
        return
    assert isinstance(result, Dosage | UnparsedDosage)


def _via_lark(normal: str) -> object:
    problems: list[tuple[int, str]] = []
    tokens = dosage_module._tokenize(normal, problems)
    if problems or not tokens:
        return "tokenizer"
    try:
        return dosage_module._parse_with_lark(tokens)
    except UnexpectedInput:
        return "syntax"


def _via_lean(normal: str) -> object:
    problems: list[tuple[int, str]] = []
    tokens = dosage_module._tokenize(normal, problems)
    if problems or not tokens:
        return "tokenizer"
    try:
        return dosage_module._drive(tokens)
    except dosage_module._ParseError:
        return "syntax"


@given(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=14))
def test_word_salad_never_crashes_and_both_drivers_agree(words: list[str]) -> None:
    text = " ".join(words)
    try:
        result = parse_dosage(text)
    except InvalidInputError:
        return
    assert isinstance(result, Dosage | UnparsedDosage)
    normal = dosage_module._normalise(text)
    assert _via_lean(normal) == _via_lark(normal)


@pytest.mark.parametrize("text", [t for t, *_ in PARSED] + [t for t, _ in UNPARSED])
def test_both_drivers_agree_on_every_case(text: str) -> None:
    normal = dosage_module._normalise(text)
    assert _via_lean(normal) == _via_lark(normal)


def test_deterministic_and_memoised() -> None:
    texts = [t for t, *_ in PARSED[:40]] + [t for t, _ in UNPARSED[:20]]
    first = [parse_dosage(t) for t in texts]
    info = dosage_cache_info()
    second = [parse_dosage(t) for t in texts]
    assert dosage_cache_info().hits >= info.hits + len(texts)
    assert [a is b for a, b in zip(first, second, strict=True)] == [True] * len(texts)
    clear_dosage_cache()
    assert dosage_cache_info().currsize == 0
    third = [parse_dosage(t) for t in texts]
    assert third == first
    assert [r.model_dump_json() for r in third] == [r.model_dump_json() for r in first]


@pytest.mark.parametrize(("text", "fields", "extra"), PARSED, ids=[t for t, *_ in PARSED])
def test_parsed_doses_fit_the_prescription_model(
    text: str, fields: dict[str, object], extra: dict[str, object]
) -> None:
    del fields, extra
    result = parse_dosage(text)
    assert isinstance(result, Dosage)
    found = result.to_prescription_fields()
    if "dose_quantity" not in found:
        return  # nothing to build a prescription from: the product or the user must say
    found.setdefault("dose_unit", "tablet")
    prescription = Prescription(drug="morphine", form="oral solution", **found)
    assert prescription.dose_quantity == found["dose_quantity"]


def test_results_serialise_to_json() -> None:
    result = parse_dosage("1-2 tablets every 4-6 hours when required, max 8 in 24 hours")
    assert isinstance(result, Dosage)
    data = result.model_dump(mode="json")
    assert data["kind"] == "dosage"
    assert data["dose_quantity"] == "1"
    assert Dosage.model_validate(data) == result
    unparsed = parse_dosage("zz")
    assert unparsed.model_dump(mode="json")["kind"] == "unparsed"


def test_decimals_are_exact() -> None:
    result = parse_dosage("one tablet three times a week")
    assert isinstance(result, Dosage)
    assert result.interval_hours == Decimal(56)
    result = parse_dosage("one tablet five times a week")
    assert isinstance(result, Dosage)
    assert result.interval_hours == Decimal("33.6")


def test_grammar_file_ships_with_the_package() -> None:
    grammar = (
        resources.files("opioidcds._resolve").joinpath("dosage.lark").read_text(encoding="utf-8")
    )
    assert "%declare" in grammar
    assert "max_clause" in grammar
