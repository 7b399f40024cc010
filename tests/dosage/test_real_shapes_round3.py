"""Shapes of real UK GP dosage text read or refused since issue 16's third round.

Texts marked CPRD are quoted, as written, from the CPRD "common dosages" lookup (real,
anonymised UK GP free text; public copy ``CHIP-SET/textmining.ro``, ``common_dosages.txt`` at
commit 3357c42; testing use only); NHSE marks NHS England's ``dosage_instructions`` must-not-map
texts (``src/dosage_instructions/to_test.py``, commit 506c0d40; MIT); PATCH marks the real UK
GP fentanyl and buprenorphine patch texts of the same development half (corpus
``opioid_patch_lookup``, from a public R lookup; testing use only); "made up" marks a guard
written for this test. Expected values are worked out by hand, with the arithmetic in a comment.
The first (loading) dose shape is in ``test_loading_doses.py``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from opioidcds import Dosage, Prescription, UnparsedDosage, calculate_ome, parse_dosage

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
    # --- "when required to N": when required, up to N ------------------------------------------
    # 2 when required, at most 8 a day: 8 a day at most
    (
        "TWO WHEN REQUIRED TO EIGHT EVERY DAY",
        "CPRD",
        {"dose_quantity": D(2), "prn": True, "max_quantity_per_day": D(8)},
    ),
    # 2 every 4 hours when required (12 a day) capped at 8 a day: 8 a day at most
    (
        "TWO EVERY FOUR HOURS WHEN REQUIRED TO EIGHT EVERY DAY",
        "CPRD",
        {
            "dose_quantity": D(2),
            "interval_hours": D(4),
            "prn": True,
            "max_quantity_per_day": D(8),
        },
    ),
    # 1 when required, up to 3 times a day: 3 a day at most
    (
        "ONE AFTER FOOD WHEN REQUIRED TO THREE TIMES A DAY",
        "CPRD",
        {"dose_quantity": D(1), "doses_per_day": D(3), "max_doses_per_day": D(3), "prn": True},
    ),
    # 1-2 when required, up to every 4 hours: 2 x 24/4 = 12 a day at most
    (
        "ONE OR TWO WHEN REQUIRED TO EVERY FOUR HOURS",
        "CPRD",
        {"dose_quantity": D(1), "dose_quantity_max": D(2), "interval_hours": D(4), "prn": True},
    ),
    # --- "twice to three times"; "with meals or after food" (a note beside a frequency) -------
    # 1 x 2-3 a day: 2.5 a day on average, 3 at most
    (
        "1 TWICE TO THREE TIMES DAILY  AFTER FOOD FOR PAIN",
        "CPRD",
        {"dose_quantity": D(1), "doses_per_day": D(2), "doses_per_day_max": D(3)},
    ),
    # 1 x 2 = 2 a day; the meals are a note, the frequency says how many
    (
        "1 TWICE A DAY WITH MEALS OR AFTER FOOD",
        "CPRD",
        {"dose_quantity": D(1), "doses_per_day": D(2)},
    ),
    # --- "after each loose stool": a dose each time, so when required --------------------------
    # 1 capsule when required, at most 8 a day: 8 a day at most
    (
        "1 CAP AFTER EACH LOOSE STOOL  MAXIMUM 8 DAILY",
        "CPRD",
        {"dose_quantity": D(1), "dose_unit": "capsule", "prn": True, "max_quantity_per_day": D(8)},
    ),
    # --- a system's supply field; "!"; "a daily" ----------------------------------------------
    # 1 x 1 a day; "28X3" is the quantity prescribed (a supply note), never the dose
    (
        "ONE DAILY: QUANTITY PRESCRIBED (NON-NUMERIC)=28X3:",
        "CPRD",
        {
            "dose_quantity": D(1),
            "doses_per_day": D(1),
            "supply_notes": ("quantity prescribed (non-numeric)=28x3",),
        },
    ),
    # 20 mL x 1 a day = 20 mL a day; "300ML" is the quantity prescribed
    (
        "20MLS DAILY: QUANTITY PRESCRIBED (NON-NUMERIC)=300ML:",
        "CPRD",
        {"dose_quantity": D(20), "dose_unit": "mL", "doses_per_day": D(1)},
    ),
    # an exclamation mark ends a sentence: 1 x 1 a day, for blood pressure
    (
        "TAKE ONE DAILY !(FOR BLOOD PRESSURE)",
        "CPRD",
        {"dose_quantity": D(1), "doses_per_day": D(1), "indication": "blood pressure"},
    ),
    # "a daily" is "a day": 1 x 3 = 3 a day
    ("TAKE ONE THREE TIMES A DAILY", "CPRD", {"dose_quantity": D(1), "doses_per_day": D(3)}),
    # --- how to change a patch: "remove the old patch before applying a new one" -------------
    # one patch every 7 days = 168 hours (the lookup's label: 168 h, 1 patch); "a new one" is the
    # patch, not a second dose
    (
        "APPLY ONE PATCH ONCE EVERY 7 DAYS. REMOVE OLD PATCH BEFORE APPLYING A NEW ONE",
        "PATCH",
        {"dose_quantity": D(1), "dose_unit": "patch", "interval_hours": D(168)},
    ),
    # one every 3 days = 72 hours (label: 72 h, 1 patch)
    (
        "APPLY ONE EVERY 3 DAYS. PLEASE REMOVE THE OLD PATCH BEFORE REPLACING A NEW ONE",
        "PATCH",
        {"dose_quantity": D(1), "interval_hours": D(72)},
    ),
    # "replace patch" / "changing patch" name the unit, not a second dose: one patch every 72
    # hours (labels: 72 h, 1 patch); one time of day with an interval of days is allowed
    (
        "APPLY ONE PATCH TO SKIN AND REPLACE PATCH EVERY 72 HOURS (6PM)",
        "PATCH",
        {"dose_quantity": D(1), "dose_unit": "patch", "interval_hours": D(72)},
    ),
    (
        "APPLY ONE AS DIRECTED. CHANGING PATCH EVERY 3 DAYS.",
        "PATCH",
        {"dose_quantity": D(1), "dose_unit": "patch", "interval_hours": D(72)},
    ),
    # misspelt nouns of real patch texts: two patches every 7 days = 168 hours (label: 168 h,
    # 2 patches); the stated total is a cross-check note
    (
        "APPLY TWO PATCHS ONCE EVERY 7 DAYS (TOTAL DOSE=40 MICROGRAMS/HR) ",
        "PATCH",
        {"dose_quantity": D(2), "dose_unit": "patch", "interval_hours": D(168)},
    ),
    (
        "APPLY ONE PATCHE CHANGING EVERY 72 HOURS",
        "PATCH",
        {"dose_quantity": D(1), "dose_unit": "patch", "interval_hours": D(72)},
    ),
    # the interval said again in words: every 72 hours (label: 72 h, 1 patch)
    (
        "APPLY ONE PATCH EVERY 72 (SEVENTY-TWO) HOURS",
        "PATCH",
        {"dose_quantity": D(1), "dose_unit": "patch", "interval_hours": D(72)},
    ),
]


@pytest.mark.parametrize(("text", "source", "expected"), READ)
def test_read(text: str, source: str, expected: dict[str, Any]) -> None:
    assert source in {"CPRD", "NHSE", "PATCH"}
    result = parse_dosage(text)
    assert isinstance(result, Dosage), result
    assert result.not_convertible_reason is None
    for name, value in expected.items():
        assert getattr(result, name) == value, name


# (text, source, words of the reason it gives no daily amount)
REFUSED: list[tuple[str, str, str]] = [
    # made up: "(non-numeric)" outside the supply field is a number left out of the record
    ("1 daily (non-numeric)", "made up", "left out of the record"),
    # made up: after each loose stool without a maximum gives no daily amount
    ("1 after each loose stool", "made up", "no frequency and no maximum"),
    # made up: a number in words in brackets that is not the one before it
    ("APPLY ONE PATCH EVERY 72 (SEVENTY-ONE) HOURS", "made up", "unexpected number"),
    # made up: a dose with no number at a second time of day (read as 2 twice a day before
    # the third round: how many in the morning?)
    (
        "take 2 tablets at night, take tablets in the morning",
        "made up",
        "a dose without its number beside a counted dose",
    ),
    ("apply one patch at night, change patch in the morning", "made up", "without its number"),
    # made up: a second counted dose beside "change patch" is still two doses
    ("apply one patch, change patch, one daily", "made up", "side by side"),
    # made up: meals without a frequency say no number of doses
    ("1 WITH MEALS OR AFTER FOOD", "made up", "timing by meals"),
    # made up: "to" after "when required" only before a number or "every"
    ("2 prn to 3 daily", "made up", "unexpected word 'to'"),
    # made up: "2 new ones" is a dose, not the patch being changed
    ("remove old patch before applying 2 new ones every 3 days", "made up", "unrecognised word"),
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
    # refused (an UnparsedDosage) or read without a daily amount; either way, saying why
    assert result.not_convertible_reason is not None, result
    assert reason in result.not_convertible_reason


# --- a cycle of days on and days off: refused, the cycle named first (CPRD) ---------------------
CYCLES = [
    "1 DAILY FOR 21 DAYS  THEN 7 DAY BREAK",
    "1 OD 3 WEEKS IN 4",
    "TAKE ONE TABLET AT THE SAME TIME EACH DAY FOR 21 DAYS  FOLLOWED BY A 7-DAY "
    "TABLET-FREE INTERVAL",
    "1 EVERY DAY FOR THREE WEEKS THEN OMIT FOR ONE WEEK",
    "ONE A DAY FOR 21 DAYS WITH A 7 DAY BREAK",
    "TAKE ONE DAILY FOR 21 DAYS  START NEXT COURSE AFTER 7 DAY INTERVAL",
]


@pytest.mark.parametrize("text", CYCLES)
def test_a_cycle_of_days_on_and_off_is_refused_saying_so(text: str) -> None:
    # 21 days on and 7 off is 0.75 a day on average, but never 0.75 on any day: the result
    # has no field for a cycle, so it is refused with that reason first (issue 16)
    result = parse_dosage(text)
    assert isinstance(result, UnparsedDosage), result
    assert result.problems[0].startswith(
        "a cycle of days on and days off (a break between courses) is not supported at position"
    )


def test_a_break_before_a_course_is_not_a_cycle() -> None:
    # made up: "break" as a verb before "for 3 days" is not a cycle; refused for its own reason
    result = parse_dosage("break one tablet in half daily for 3 days")
    assert isinstance(result, UnparsedDosage)
    assert not any("cycle" in p for p in result.problems)


# --- less often than daily: the daily amount is an average, and the result says so ---------------
@pytest.mark.parametrize(
    ("text", "ome", "every"),
    [
        # CPRD "1 TAB ALTERNATE DAYS": morphine 10 mg x 1 tablet x (24 h / 48 h) = 5 mg/day
        ("1 TAB ALTERNATE DAYS", D(5), "48"),
        # CPRD "TAKE ONE EVERY OTHER DAY": the same, 5 mg/day
        ("TAKE ONE EVERY OTHER DAY", D(5), "48"),
        # CPRD "1 EVERY 3 DAYS": 10 mg x (24 / 72) = 10/3 mg/day
        ("1 EVERY 3 DAYS", D(10) / D(3), "72"),
    ],
)
def test_a_dose_less_often_than_daily_is_an_average_and_says_so(
    text: str, ome: Decimal, every: str
) -> None:
    p = Prescription(drug="morphine", form="tablet", strength="10 mg", dosage_text=text)
    item = calculate_ome([p]).items[0]
    assert item.ome_mg_per_day is not None
    assert abs(item.ome_mg_per_day - ome) < D("0.000001")
    assert item.policy_note is not None
    assert (
        f"taken less often than daily (every {every} hours): the daily amount is its average "
        "per day"
    ) in item.policy_note


def test_a_patch_change_interval_is_no_average() -> None:
    # made up on the PATCH shape "APPLY ONE PATCH EVERY 72 HOURS": the rate sets the daily
    # amount (fentanyl 25 microgram/hour x 2.4 = 60 mg OME/day); the change interval is not
    # averaged
    p = Prescription(
        drug="fentanyl",
        form="transdermal patch",
        strength="25 microgram/hour",
        dosage_text="apply one patch every 72 hours",
    )
    item = calculate_ome([p]).items[0]
    assert item.ome_mg_per_day == 60
    assert "average" not in (item.policy_note or "")
