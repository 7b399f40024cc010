"""Fuzzing the dosage-text grammar (issue 3) and property-testing it with known meanings.

Only ``InvalidInputError`` (not a string, blank, too long) may escape ``parse_dosage``; any
other text gives a ``Dosage`` or an ``UnparsedDosage``. A parsed dose that feeds a prescription
either validates or raises a typed error, and then calculates or raises a typed error.
Generated instructions with a known meaning (``opioidcds.testing.dosage_texts``) must parse to
exactly that meaning (HAZ-020).
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opioidcds import (
    Dosage,
    InvalidInputError,
    Prescription,
    UnparsedDosage,
    calculate_ome,
    parse_dosage,
)
from opioidcds._resolve import dosage
from opioidcds.testing import check_only_typed_errors, dosage_texts

fuzz = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

WORDS = sorted(w for w in dosage._LEXICON if not w.isdigit())  # the grammar's own lexicon
ODD = [
    "1",
    "2",
    "0",
    "0.5",
    "1/2",
    "\u00bd",
    "-",
    "\u2013",
    ",",
    ".",
    "(",
    ")",
    "x",
    "10mg",
    "5ml",
    "999999",
    "max",
    "every",
]
PIECES = st.sampled_from(WORDS) | st.sampled_from(ODD)
salad = st.lists(PIECES, min_size=1, max_size=16).map(" ".join)
texts = salad | st.text(max_size=120) | st.just("") | st.text(min_size=995, max_size=1005)


def _prescription(fields: dict[str, Any]) -> Prescription | None:
    base: dict[str, Any] = {"drug": "oxycodone", "form": "tablet", "strength": "10 mg"}
    if fields.get("dose_unit") == "capsule":
        base.update(form="capsule")
    if fields.get("dose_unit") == "mL":
        base.update(form="oral solution", strength="10 mg/5 mL")
    if fields.get("dose_unit") == "patch":
        base.update(drug="fentanyl", form="transdermal patch", strength="25 microgram/hour")
    base.setdefault("dose_unit", "tablet")
    return check_only_typed_errors(lambda: Prescription(**{**base, **fields}))


@fuzz
@given(texts | st.none() | st.integers() | st.binary(max_size=10))
def test_dosage_grammar_only_typed_errors(text: Any) -> None:
    try:
        result = parse_dosage(text)
    except InvalidInputError as exc:
        assert exc.field == "dosage_text"
        return
    assert isinstance(result, Dosage | UnparsedDosage)
    result.model_dump_json()
    if isinstance(result, UnparsedDosage) or result.not_convertible_reason is not None:
        return
    rx = _prescription(result.to_prescription_fields())
    if rx is not None:
        check_only_typed_errors(calculate_ome, [rx])


@fuzz
@given(dosage_texts())
def test_dosage_texts_mean_what_they_say(case: tuple[str, dict[str, object]]) -> None:
    text, expected = case
    result = parse_dosage(text)
    assert isinstance(result, Dosage), result
    assert result.to_prescription_fields() == expected
    assert result.not_convertible_reason is None


@fuzz
@given(dosage_texts())
def test_parsed_dosage_gives_the_same_ome_as_the_structured_dose(
    case: tuple[str, dict[str, object]],
) -> None:
    text, expected = case
    parsed = parse_dosage(text)
    assert isinstance(parsed, Dosage)
    from_text = _prescription(parsed.to_prescription_fields())
    structured = _prescription(dict(expected))
    assert (from_text is None) == (structured is None)
    if from_text is not None and structured is not None:
        assert (
            calculate_ome([from_text]).total_mg_per_day
            == calculate_ome([structured]).total_mg_per_day
        )
        assert calculate_ome([from_text]).total_mg_per_day >= Decimal(0)
