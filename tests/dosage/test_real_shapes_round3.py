"""Shapes of real UK GP dosage text read or refused since issue 16's third round.

Texts marked CPRD are quoted, as written, from the CPRD "common dosages" lookup (real,
anonymised UK GP free text; public copy ``CHIP-SET/textmining.ro``, ``common_dosages.txt`` at
commit 3357c42; testing use only); NHSE marks NHS England's ``dosage_instructions`` must-not-map
texts (``src/dosage_instructions/to_test.py``, commit 506c0d40; MIT); "made up" marks a guard
written for this test. Expected values are worked out by hand, with the arithmetic in a comment.
The first (loading) dose shape is in ``test_loading_doses.py``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from opioidcds import Dosage, UnparsedDosage, parse_dosage

D = Decimal

# (text, source, expected attributes)
READ: list[tuple[str, str, dict[str, Any]]] = [
    # --- "NxVml": a count of a measure, the word "spoon" left out --------------------------------
    # 2 x 5 mL = 10 mL a dose, twice a day: 20 mL a day
    (
        "2X5ML TWICE A DAY",
        "CPRD",
        {"dose_quantity": D(10), "dose_unit": "mL", "doses_per_day": D(2)},
    ),
    # 1 x 5 mL = 5 mL, three times a day: 15 mL a day
    (
        "1X5MLS THREE TIMES A DAY",
        "CPRD",
        {"dose_quantity": D(5), "dose_unit": "mL", "doses_per_day": D(3)},
    ),
    # 2 x 5 mL = 10 mL at night: 10 mL a day
    (
        "2X5ML NOCTE",
        "CPRD",
        {"dose_quantity": D(10), "dose_unit": "mL", "named_times": ("night",)},
    ),
    # 2 x 5 mL = 10 mL up to 4 times a day when required: at most 40 mL a day
    (
        "2X5ML FOUR TIMES A DAY WHEN REQUIRED",
        "CPRD",
        {"dose_quantity": D(10), "dose_unit": "mL", "doses_per_day": D(4), "prn": True},
    ),
]


@pytest.mark.parametrize(("text", "source", "expected"), READ)
def test_read(text: str, source: str, expected: dict[str, Any]) -> None:
    assert source in {"CPRD", "NHSE"}
    result = parse_dosage(text)
    assert isinstance(result, Dosage), result
    assert result.not_convertible_reason is None
    for name, value in expected.items():
        assert getattr(result, name) == value, name


# (text, source, a words of the reason it stays refused)
REFUSED: list[tuple[str, str, str]] = [
    # NHS England must not map it: "two x 2ml" written apart is not the one-word measure
    ("Two x 2ml daily", "NHSE", "unexpected number"),
    # made up: a count of 10 or more measures is a supply, not a dose ("28x5ml")
    ("28x5ml daily", "made up", "unexpected number"),
    # made up: "x" before a mass is a strength or a count of tablets? ("2x200mg")
    ("2x200mg per day", "made up", "unexpected number"),
]


@pytest.mark.parametrize(("text", "source", "reason"), REFUSED)
def test_refused(text: str, source: str, reason: str) -> None:
    assert source in {"CPRD", "NHSE", "made up"}
    result = parse_dosage(text)
    assert isinstance(result, UnparsedDosage), result
    assert any(reason in p for p in result.problems), result.problems
