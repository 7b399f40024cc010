"""A first (loading) dose before the regular dosage: read, with the first dose kept (issue 16).

Issue 16 (third round): "2 IMMEDIATELY THEN 1 THREE TIMES A DAY" may be read only if the result
records that the first dose differs; the daily amount (and OME) is the regular dose's, with
the loading dose noted. Every text is quoted from the CPRD "common dosages" lookup (real,
anonymised UK GP text; public copy ``CHIP-SET/textmining.ro``, ``common_dosages.txt`` at commit
3357c42; testing use only), as written there, unless marked as made up for a guard.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from opioidcds import Dosage, Prescription, UnparsedDosage, calculate_ome, parse_dosage

D = Decimal

# (CPRD text, expected attributes): the regular dosage, and the first dose beside it
READ: list[tuple[str, dict[str, Any]]] = [
    # first 2, then 1 x 1 a day: 1 a day
    (
        "2 IMMEDIATELY THEN 1 DAILY",
        {"dose_quantity": D(1), "doses_per_day": D(1), "loading_dose_quantity": D(2)},
    ),
    # first 2, then 1 x 3 a day: 3 a day
    (
        "2 IMMEDIATELY THEN ONE THREE TIMES A DAY",
        {"dose_quantity": D(1), "doses_per_day": D(3), "loading_dose_quantity": D(2)},
    ),
    # "now" and "and then"; "with or after food" is a food note: 1 a day
    (
        "TAKE TWO NOW  AND THEN ONE DAILY WITH OR AFTER FOOD",
        {
            "dose_quantity": D(1),
            "doses_per_day": D(1),
            "loading_dose_quantity": D(2),
            "loading_dose_when": "now",
        },
    ),
    # "stat": 1 a day
    (
        "2 STAT THEN 1 DAILY",
        {"dose_quantity": D(1), "doses_per_day": D(1), "loading_dose_when": "stat"},
    ),
    # "first day": 2 on the first day, then 1 a day
    (
        "TWO FIRST DAY THEN ONE EVERY DAY",
        {"dose_quantity": D(1), "doses_per_day": D(1), "loading_dose_when": "first day"},
    ),
    # "today": 2 today, then 1 a day
    (
        "2 TODAY THEN 1 DAILY",
        {"dose_quantity": D(1), "doses_per_day": D(1), "loading_dose_when": "today"},
    ),
    # without "then": six, then 3 x 2 a day = 6 a day
    (
        "SIX IMMEDIATELY THREE TWICE A DAY",
        {"dose_quantity": D(3), "doses_per_day": D(2), "loading_dose_quantity": D(6)},
    ),
    # the first dose names the unit the regular dose leaves out: capsules; every 6 hours when
    # required: 1 x 24/6 = 4 a day at most
    (
        "TWO CAPSULES INITIALLY THEN ONE 6HRLY AS REQUIRED FOR DIARRHOEA",
        {
            "dose_quantity": D(1),
            "dose_unit": "capsule",
            "interval_hours": D(6),
            "prn": True,
            "loading_dose_quantity": D(2),
            "loading_dose_when": "initially",
        },
    ),
    # a dose after each loose stool is when required; with its daily maximum, 8 a day at most
    (
        "2 IMMEDIATELY THEN 1 AFTER EACH LOOSE STOOL  MAX 8 DAILY",
        {
            "dose_quantity": D(1),
            "prn": True,
            "max_quantity_per_day": D(8),
            "loading_dose_quantity": D(2),
        },
    ),
    # the same unit named twice: 1 tablet a day for six days after the first 2
    (
        "2 TABLET(S) IMMEDIATELY THEN 1 TABLET(S) EVERY DAY FOR SIX DAYS",
        {
            "dose_quantity": D(1),
            "dose_unit": "tablet",
            "doses_per_day": D(1),
            "duration_value": D(6),
            "loading_dose_quantity": D(2),
        },
    ),
]


@pytest.mark.parametrize(("text", "expected"), READ)
def test_a_first_dose_then_the_regular_dosage_is_read_with_the_first_dose_kept(
    text: str, expected: dict[str, Any]
) -> None:
    result = parse_dosage(text)
    assert isinstance(result, Dosage), result
    assert result.not_convertible_reason is None
    for name, value in expected.items():
        assert getattr(result, name) == value, name
    assert result.loading_dose_quantity is not None
    note = result.loading_dose_note()
    assert note is not None
    assert "the daily amount is the regular dose's" in note
    # the prescription fields are the regular dosage's only
    assert "loading_dose_quantity" not in result.to_prescription_fields()


def test_a_dosage_without_a_first_dose_has_no_loading_note() -> None:
    result = parse_dosage("1 DAILY")
    assert isinstance(result, Dosage)
    assert result.loading_dose_quantity is None
    assert result.loading_dose_note() is None


def test_the_note_names_the_first_dose_and_when() -> None:
    result = parse_dosage("2 TABLET(S) IMMEDIATELY THEN 1 TABLET(S) EVERY DAY FOR SIX DAYS")
    assert isinstance(result, Dosage)
    assert result.loading_dose_note() == (
        "a first dose of 2 tablets (immediately) before the regular doses: the daily amount is "
        "the regular dose's; the first day's amount differs"
    )


def test_the_ome_is_the_regular_dose_with_the_first_dose_noted() -> None:
    # made-up opioid prescription in the CPRD shape "2 IMMEDIATELY THEN 1 TWICE A DAY" (the
    # corpus holds the shape for other drugs): morphine 10 mg tablets, 1 tablet x 2 a day =
    # 20 mg/day x 1 (oral morphine) = 20 mg OME/day; the first dose of 2 is said, not summed
    p = Prescription(
        drug="morphine",
        form="tablet",
        strength="10 mg",
        dosage_text="2 IMMEDIATELY THEN 1 TWICE A DAY",
    )
    item = calculate_ome([p]).items[0]
    assert item.ome_mg_per_day == 20
    assert item.policy_note is not None
    assert "a first dose of 2 tablets (immediately) before the regular doses" in item.policy_note


# (text, why it stays refused); CPRD unless marked
REFUSED: list[tuple[str, str]] = [
    # the regular part has no frequency: when required, how often?
    ("2 IMMEDIATELY THEN 1 WHEN REQUIRED", "sequence"),
    # after each loose stool without a daily maximum: when required, how often?
    ("2 IMMEDIATELY THEN 1 AFTER EVERY LOOSE STOOL", "sequence"),
    # a second dose twelve hours later: two doses, not a regular dosage
    ("TWO IMMEDIATELY AND TWO EXACTLY 12 HOURS LATER", "sequence"),
    # one dose or the other
    ("TWO IMMEDIATELY OR ONE FOUR TIMES A DAY FOR DIARRHOEA", "sequence"),
    # a regular part with no dose of its own
    ("2 IMMEDIATELY THEN EVERY DAY", "sequence"),
    # a titration after the first dose
    ("TWO IMMEDIATELY REDUCING TO ONE EVERY DAY", "titration"),
    # made up: a first count beside a regular dose in mg (two doses or two mg?)
    ("2 IMMEDIATELY THEN 10MG DAILY", "sequence"),
    # made up: a first dose beyond the plausibility limit of a count without a unit (10)
    ("25 IMMEDIATELY THEN 1 DAILY", "sequence"),
    # made up: capsules first, tablets after
    ("2 CAPSULES IMMEDIATELY THEN 1 TABLET DAILY", "sequence"),
    # a sequence of regular dosages is not a loading dose (a titration by time, "1 EVERY NIGHT
    # FOR 1 WEEK THEN 1 TWICE A DAY", is read as a dose change: test_dose_changes.py; without
    # durations it is neither)
    ("1 EVERY MORNING THEN 1 AT MIDDAY", "sequence"),
]


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_other_sequences_stay_refused(text: str, reason: str) -> None:
    result = parse_dosage(text)
    assert isinstance(result, UnparsedDosage), result
    assert any(reason in p for p in result.problems), result.problems
