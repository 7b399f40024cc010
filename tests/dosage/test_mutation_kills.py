"""Dosage texts that kill mutants which survived the other dosage tests (docs/safety/mutation.md).

Each case names the mutant it kills: ``grammar #N`` is mutant N of ``scripts/mutate_grammar.py``
(a change to ``dosage.lark``), ``opioidcds.dosage.x_...`` a mutmut mutant of ``dosage.py``.
Expected values are worked out by hand from the text's meaning and the conventions of
docs/dosage.md and tests/dosage/test_dosage_cases.py: "every N days/weeks" and "N times a
week" are ``interval_hours`` (weekly = 7 x 24 = 168); "up to N times a day" is
``doses_per_day`` N and ``max_doses_per_day`` N, an upper limit; monthly frequencies are
refused because a month has no fixed number of hours.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from opioidcds.dosage import Dosage, UnparsedDosage, parse_dosage

# (text, expected fields of the Dosage) -- only the listed fields are checked, plus the kind
PARSED: list[tuple[str, dict[str, Any]]] = [
    # grammar #224, #225, #230: "up to qds" = up to 4 times a day (qds: quater die sumendum)
    (
        "one tablet up to qds",
        {
            "dose_quantity": Decimal(1),
            "dose_unit": "tablet",
            "doses_per_day": Decimal(4),
            "max_doses_per_day": Decimal(4),
            "frequency_is_upper_limit": True,
        },
    ),
    # grammar #290, #296, #307: "per week" = once a week = every 7 x 24 = 168 hours
    (
        "one patch per week",
        {"dose_quantity": Decimal(1), "dose_unit": "patch", "interval_hours": Decimal(168)},
    ),
]

# named times: each is one dose a day, named by its slot of the day (breakfast is a morning
# dose, lunch a midday dose: docs/dosage.md "named times")
NAMED = {"doses_per_day": Decimal(1), "dose_quantity": Decimal(1), "dose_unit": "tablet"}
PARSED += [
    # grammar #394, #397, #401: "after <time>" is a named time
    ("one tablet after breakfast", {**NAMED, "named_times": ("morning",)}),
    # grammar #425, #432, #435: "as required", "if required" = when required (PRN)
    ("one tablet as required", {"dose_quantity": Decimal(1), "dose_unit": "tablet", "prn": True}),
    ("one tablet if required", {"dose_quantity": Decimal(1), "dose_unit": "tablet", "prn": True}),
    # grammar #567: "do not exceed 4 in 24 hours" = at most 4 (tablets, the dose's unit) a day
    (
        "one tablet when required do not exceed 4 in 24 hours",
        {"prn": True, "max_quantity_per_day": Decimal(4), "max_doses_per_day": None},
    ),
    # grammar #353: "at the <time>"
    ("one tablet at the lunchtime", {**NAMED, "named_times": ("midday",)}),
]

# (text, a phrase the refusal must give) -- texts the grammar must refuse
REFUSED: list[tuple[str, str]] = [
    # grammar #138: a number after "every" needs its time unit ("every 4" what?)
    ("one tablet every 4", "ends before its last clause is complete"),
    # grammar #160: "other day" without "every" is not a frequency
    ("one tablet other day", "unexpected word 'other'"),
    # grammar #224, #225: "up qds" is not "up to qds"
    ("one tablet up qds", "unexpected frequency abbreviation"),
    # grammar #296: "per" with no period
    ("one tablet per", "ends before its last clause is complete"),
    # grammar #329: "per month" is a monthly frequency (no fixed number of hours): refused with
    # that reason, not as an unknown word
    ("one tablet per month", "a monthly frequency (no fixed number of hours) is not supported"),
    ("one tablet at month", "unexpected word 'month'"),
    # grammar #425: "required" alone is not "as required"
    ("one tablet required", "unexpected word 'required'"),
    # grammar #432, #435: "if" alone is not "if required"
    ("one tablet if", "ends before its last clause is complete"),
    # grammar #461: "no more than times a day" has no number: refused as an unexpected word,
    # at the word, not as an unreadable instruction
    ("one tablet when required no more than times a day", "unexpected word 'times'"),
    # grammar #567: "do not" + number is not "do not exceed" + number
    ("one tablet when required do not 4 in 24 hours", "unexpected number"),
    # grammar #399: "after" needs its time (or food)
    ("one tablet after", "ends before its last clause is complete"),
    # grammar #353: "at a <time>" is not a named time
    ("one tablet at a lunchtime", "unexpected word 'a'"),
]


@pytest.mark.parametrize(("text", "expected"), PARSED, ids=[t for t, _ in PARSED])
def test_parsed(text: str, expected: dict[str, Any]) -> None:
    result = parse_dosage(text)
    assert isinstance(result, Dosage), result
    got = {k: getattr(result, k) for k in expected}
    assert got == expected


@pytest.mark.parametrize(("text", "reason"), REFUSED, ids=[t for t, _ in REFUSED])
def test_refused(text: str, reason: str) -> None:
    result = parse_dosage(text)
    assert isinstance(result, UnparsedDosage), result
    assert any(reason in p for p in result.problems), result.problems
