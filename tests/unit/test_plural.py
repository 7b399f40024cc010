"""Plurals in text people read (``opioidcds._display.plural``): one helper for every note.

The review of issue 20/16 (fifth round) found "2 suppositorys" in the dosage notes and in the
tapering plan, each with its own plural rule.
"""

from __future__ import annotations

import datetime as dt

import pytest

from opioidcds import Prescription, taper_plan
from opioidcds._display import plural


@pytest.mark.parametrize(
    ("noun", "expected"),
    [
        ("tablet", "tablets"),
        ("patch", "patches"),
        ("suppository", "suppositories"),
        ("day", "days"),  # a vowel before the y: no "ies"
        ("microgram", "micrograms"),
        ("mg", "mg"),  # unit symbols stay as they are
        ("mL", "mL"),
        ("lozenges", "lozenges"),  # already plural
    ],
)
def test_plural(noun: str, expected: str) -> None:
    assert plural(noun) == expected


def test_the_taper_plan_says_suppositories() -> None:
    # morphine 15 mg suppositories, 2 twice a day: each dose is 2 x 15 = 30 mg, written as
    # "2 suppositories"; a later step of 25 mg a dose is 1 x 15 + 2 x 5 ("1 suppository")
    rx = Prescription(
        drug="morphine",
        form="suppository",
        strength="15 mg",
        dose_quantity=2,
        dose_unit="suppository",
        doses_per_day=2,
    )
    text = taper_plan([rx], start=dt.date(2027, 1, 4)).explain()
    assert "morphine 30 mg twice a day: 2 suppositories of" in text
    assert "1 suppository of" in text
    assert "suppositorys" not in text
