"""Our own dosage-text cases: UK phrasing, abbreviations, patches, liquids, PRN maxima, refusals.

Every expectation was worked out by hand from the text's meaning (issue 3 part 2;
docs/calculation.md): ``fields`` is exactly what :meth:`Dosage.to_prescription_fields` must return
(numbers as strings here, compared as Decimal), ``extra`` checks fields that do not map.
Conventions checked: "every N days/weeks" and "N times a week" are ``interval_hours``
(twice weekly = 84, weekly = 168, fortnightly = 336); a patch change interval is
``interval_hours``; "up to N times a day" is ``doses_per_day`` N and ``max_doses_per_day`` N;
a maximum without a unit is in the dose's unit; named times count the doses per day.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from opioidcds import Dosage, UnparsedDosage, parse_dosage

T = "tablet"
C = "capsule"
P = "patch"


def f(**kw: Any) -> dict[str, Any]:
    return kw


# (text, expected prescription fields, expected extra attributes)
PARSED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # --- everyday tablets and capsules, words and digits, upper and lower case ---
    ("ONE TO BE TAKEN TWICE A DAY", f(dose_quantity="1", doses_per_day="2"), {}),
    ("one to be taken twice a day", f(dose_quantity="1", doses_per_day="2"), {}),
    ("TAKE ONE TABLET TWICE A DAY", f(dose_quantity="1", dose_unit=T, doses_per_day="2"), {}),
    ("Take ONE tablet TWICE a day", f(dose_quantity="1", dose_unit=T, doses_per_day="2"), {}),
    (
        "  take   one    tablet  twice  a day ",
        f(dose_quantity="1", dose_unit=T, doses_per_day="2"),
        {},
    ),
    ("take one tablet twice a day.", f(dose_quantity="1", dose_unit=T, doses_per_day="2"), {}),
    (
        "take two tablets three times a day",
        f(dose_quantity="2", dose_unit=T, doses_per_day="3"),
        {},
    ),
    ("take 1 tablet daily", f(dose_quantity="1", dose_unit=T, doses_per_day="1"), {}),
    ("ONE CAPSULE TWICE DAILY", f(dose_quantity="1", dose_unit=C, doses_per_day="2"), {}),
    ("take 2 caps 4 times a day", f(dose_quantity="2", dose_unit=C, doses_per_day="4"), {}),
    ("one tablet once a day", f(dose_quantity="1", dose_unit=T, doses_per_day="1"), {}),
    ("one tablet once daily", f(dose_quantity="1", dose_unit=T, doses_per_day="1"), {}),
    ("one tablet per day", f(dose_quantity="1", dose_unit=T, doses_per_day="1"), {}),
    ("one tablet each day", f(dose_quantity="1", dose_unit=T, doses_per_day="1"), {}),
    ("one tablet every day", f(dose_quantity="1", dose_unit=T, doses_per_day="1"), {}),
    ("one tablet a day", f(dose_quantity="1", dose_unit=T, doses_per_day="1"), {}),
    ("two a day", f(dose_quantity="2", doses_per_day="1"), {}),
    ("one three times a day", f(dose_quantity="1", doses_per_day="3"), {}),
    ("one 3 times a day", f(dose_quantity="1", doses_per_day="3"), {}),
    ("2x daily", f(doses_per_day="2"), {}),
    ("one 2x a day", f(dose_quantity="1", doses_per_day="2"), {}),
    (
        "2 tablets 2-3 times a day",
        f(dose_quantity="2", dose_unit=T, doses_per_day="2", doses_per_day_max="3"),
        {},
    ),
    (
        "two to three tablets daily",
        f(dose_quantity="2", dose_quantity_max="3", dose_unit=T, doses_per_day="1"),
        {},
    ),
    (
        "TAKE ONE 10MG TABLET TWICE A DAY",
        f(dose_quantity="1", dose_unit=T, doses_per_day="2"),
        {"stated_strength": "10 mg"},
    ),
    (
        "take one 5mg tablet at night",
        f(dose_quantity="1", dose_unit=T, doses_per_day="1"),
        {"stated_strength": "5 mg", "named_times": ("night",)},
    ),
    # --- Latin and NHS abbreviations ---
    ("1 tablet od", f(dose_quantity="1", dose_unit=T, doses_per_day="1"), {}),
    ("1 bd", f(dose_quantity="1", doses_per_day="2"), {}),
    ("2 tds", f(dose_quantity="2", doses_per_day="3"), {}),
    ("1 qds", f(dose_quantity="1", doses_per_day="4"), {}),
    ("one tid", f(dose_quantity="1", doses_per_day="3"), {}),
    ("one qid", f(dose_quantity="1", doses_per_day="4"), {}),
    ("1 tab bd", f(dose_quantity="1", dose_unit=T, doses_per_day="2"), {}),
    ("2 tabs qds prn", f(dose_quantity="2", dose_unit=T, doses_per_day="4", prn=True), {}),
    ("T.D.S.", f(doses_per_day="3"), {}),
    ("one b.d.", f(dose_quantity="1", doses_per_day="2"), {}),
    ("1 q.d.s. p.r.n.", f(dose_quantity="1", doses_per_day="4", prn=True), {}),
    ("1 nocte", f(dose_quantity="1", doses_per_day="1"), {"named_times": ("night",)}),
    ("1 mane", f(dose_quantity="1", doses_per_day="1"), {"named_times": ("morning",)}),
    (
        "ONE 4-6 HOURLY PRN",
        f(dose_quantity="1", interval_hours="4", interval_hours_max="6", prn=True),
        {},
    ),
    ("5 mg q4h prn", f(dose_quantity="5", dose_unit="mg", interval_hours="4", prn=True), {}),
    (
        "10mg q4-6h prn",
        f(dose_quantity="10", dose_unit="mg", interval_hours="4", interval_hours_max="6", prn=True),
        {},
    ),
    # --- named times ---
    ("one in the morning", f(dose_quantity="1", doses_per_day="1"), {"named_times": ("morning",)}),
    ("two at night", f(dose_quantity="2", doses_per_day="1"), {}),
    ("1 at bedtime", f(dose_quantity="1", doses_per_day="1"), {"named_times": ("night",)}),
    ("take one at night time", f(dose_quantity="1", doses_per_day="1"), {}),
    ("take one at night-time", f(dose_quantity="1", doses_per_day="1"), {}),
    (
        "one morning and night",
        f(dose_quantity="1", doses_per_day="2"),
        {"named_times": ("morning", "night")},
    ),
    ("1 tablet morning and evening", f(dose_quantity="1", dose_unit=T, doses_per_day="2"), {}),
    ("one in the morning and one at night", f(dose_quantity="1", doses_per_day="2"), {}),
    ("ONE IN THE MORNING AND ONE AT NIGHT", f(dose_quantity="1", doses_per_day="2"), {}),
    (
        "1 tablet in the morning, at lunchtime and at night",
        f(dose_quantity="1", dose_unit=T, doses_per_day="3"),
        {"named_times": ("morning", "midday", "night")},
    ),
    ("one at breakfast, lunch, teatime and bedtime", f(dose_quantity="1", doses_per_day="4"), {}),
    ("one twice daily morning and night", f(dose_quantity="1", doses_per_day="2"), {}),
    ("one daily in the morning", f(dose_quantity="1", doses_per_day="1"), {}),
    ("take one every morning", f(dose_quantity="1", doses_per_day="1"), {}),
    ("one each night", f(dose_quantity="1", doses_per_day="1"), {}),
    ("one nightly", f(dose_quantity="1", doses_per_day="1"), {}),
    (
        "one at night and at bedtime",
        f(dose_quantity="1", doses_per_day="1"),
        {"named_times": ("night",)},
    ),
    # --- fractions ---
    ("half a tablet twice a day", f(dose_quantity="0.5", dose_unit=T, doses_per_day="2"), {}),
    ("half tablet at night", f(dose_quantity="0.5", dose_unit=T, doses_per_day="1"), {}),
    (
        "one and a half tablets twice daily",
        f(dose_quantity="1.5", dose_unit=T, doses_per_day="2"),
        {},
    ),
    (
        "1 and a half tablets twice daily",
        f(dose_quantity="1.5", dose_unit=T, doses_per_day="2"),
        {},
    ),
    ("1 1/2 tablets twice daily", f(dose_quantity="1.5", dose_unit=T, doses_per_day="2"), {}),
    ("1\u00bd tablets twice daily", f(dose_quantity="1.5", dose_unit=T, doses_per_day="2"), {}),
    ("\u00bd tablet daily", f(dose_quantity="0.5", dose_unit=T, doses_per_day="1"), {}),
    ("1/2 tablet daily", f(dose_quantity="0.5", dose_unit=T, doses_per_day="1"), {}),
    ("a half tablet daily", f(dose_quantity="0.5", dose_unit=T, doses_per_day="1"), {}),
    ("3/4 tablet daily", f(dose_quantity="0.75", dose_unit=T, doses_per_day="1"), {}),
    # --- dose ranges ---
    (
        "ONE OR TWO TABLETS FOUR TIMES A DAY",
        f(dose_quantity="1", dose_quantity_max="2", dose_unit=T, doses_per_day="4"),
        {},
    ),
    (
        "1-2 tablets four times a day when required",
        f(dose_quantity="1", dose_quantity_max="2", dose_unit=T, doses_per_day="4", prn=True),
        {},
    ),
    (
        "1 to 2 tablets 4 times daily when needed",
        f(dose_quantity="1", dose_quantity_max="2", dose_unit=T, doses_per_day="4", prn=True),
        {},
    ),
    (
        "1 - 2 tablets qds prn",
        f(dose_quantity="1", dose_quantity_max="2", dose_unit=T, doses_per_day="4", prn=True),
        {},
    ),
    (
        "one-two tablets at night",
        f(dose_quantity="1", dose_quantity_max="2", dose_unit=T, doses_per_day="1"),
        {},
    ),
    ("1-1 tablets daily", f(dose_quantity="1", dose_unit=T, doses_per_day="1"), {}),
    (
        "take 1 or 2 tablets up to four times a day",
        f(
            dose_quantity="1",
            dose_quantity_max="2",
            dose_unit=T,
            doses_per_day="4",
            max_doses_per_day="4",
        ),
        {"frequency_is_upper_limit": True},
    ),
    # --- intervals in hours ---
    ("one every 4 hours", f(dose_quantity="1", interval_hours="4"), {}),
    ("one every four hours", f(dose_quantity="1", interval_hours="4"), {}),
    (
        "1-2 every 4-6 hours",
        f(dose_quantity="1", dose_quantity_max="2", interval_hours="4", interval_hours_max="6"),
        {},
    ),
    (
        "1-2 tablets every 4 to 6 hours when required",
        f(
            dose_quantity="1",
            dose_quantity_max="2",
            dose_unit=T,
            interval_hours="4",
            interval_hours_max="6",
            prn=True,
        ),
        {},
    ),
    ("10mg every 4 hours", f(dose_quantity="10", dose_unit="mg", interval_hours="4"), {}),
    ("5mg 4 hourly prn", f(dose_quantity="5", dose_unit="mg", interval_hours="4", prn=True), {}),
    (
        "5mg 4-6 hourly when required",
        f(dose_quantity="5", dose_unit="mg", interval_hours="4", interval_hours_max="6", prn=True),
        {},
    ),
    ("one every 12 hours", f(dose_quantity="1", interval_hours="12"), {}),
    ("ONE EVERY TWELVE HOURS", f(dose_quantity="1", interval_hours="12"), {}),
    ("one every 8 hrs", f(dose_quantity="1", interval_hours="8"), {}),
    ("one 6 hrly", f(dose_quantity="1", interval_hours="6"), {}),
    ("one every 6h", f(dose_quantity="1", interval_hours="6"), {}),
    ("one 4hrly", f(dose_quantity="1", interval_hours="4"), {}),
    ("one tablet every 24 hours", f(dose_quantity="1", dose_unit=T, interval_hours="24"), {}),
    ("one every twenty-four hours", f(dose_quantity="1", interval_hours="24"), {}),
    # --- intervals in days and weeks ---
    ("one on alternate days", f(dose_quantity="1", interval_hours="48"), {}),
    ("one every other day", f(dose_quantity="1", interval_hours="48"), {}),
    ("one weekly", f(dose_quantity="1", interval_hours="168"), {}),
    ("one tablet once a week", f(dose_quantity="1", dose_unit=T, interval_hours="168"), {}),
    ("one tablet once weekly", f(dose_quantity="1", dose_unit=T, interval_hours="168"), {}),
    ("one every week", f(dose_quantity="1", interval_hours="168"), {}),
    ("one fortnightly", f(dose_quantity="1", interval_hours="336"), {}),
    ("one every 2 weeks", f(dose_quantity="1", interval_hours="336"), {}),
    ("one every two weeks", f(dose_quantity="1", interval_hours="336"), {}),
    ("1 tablet three times a week", f(dose_quantity="1", dose_unit=T, interval_hours="56"), {}),
    ("one tablet twice a week", f(dose_quantity="1", dose_unit=T, interval_hours="84"), {}),
    ("one every 3-4 days", f(dose_quantity="1", interval_hours="72", interval_hours_max="96"), {}),
    # --- when required, reasons, maxima per 24 hours ---
    ("one when required", f(dose_quantity="1", prn=True), {}),
    ("one as required", f(dose_quantity="1", prn=True), {}),
    ("one as needed", f(dose_quantity="1", prn=True), {}),
    ("one if required", f(dose_quantity="1", prn=True), {}),
    ("one if needed", f(dose_quantity="1", prn=True), {}),
    ("one when necessary", f(dose_quantity="1", prn=True), {}),
    ("ONE PRN", f(dose_quantity="1", prn=True), {}),
    (
        "1-2 tablets when required for pain",
        f(dose_quantity="1", dose_quantity_max="2", dose_unit=T, prn=True),
        {"prn_reason": "pain", "indication": None},
    ),
    (
        "one when required for breakthrough pain",
        f(dose_quantity="1", prn=True),
        {"prn_reason": "breakthrough pain"},
    ),
    (
        "two tablets up to four times a day when required for pain",
        f(dose_quantity="2", dose_unit=T, doses_per_day="4", max_doses_per_day="4", prn=True),
        {"prn_reason": "pain"},
    ),
    (
        "1-2 tablets every 4-6 hours when required, max 8 in 24 hours",
        f(
            dose_quantity="1",
            dose_quantity_max="2",
            dose_unit=T,
            interval_hours="4",
            interval_hours_max="6",
            prn=True,
            max_quantity_per_day="8",
        ),
        {},
    ),
    (
        "1-2 tablets every 4-6 hours when required, maximum 8 tablets in 24 hours",
        f(
            dose_quantity="1",
            dose_quantity_max="2",
            dose_unit=T,
            interval_hours="4",
            interval_hours_max="6",
            prn=True,
            max_quantity_per_day="8",
        ),
        {},
    ),
    (
        "one or two when required max 8 tablets in 24 hours",
        f(
            dose_quantity="1",
            dose_quantity_max="2",
            dose_unit=T,
            prn=True,
            max_quantity_per_day="8",
        ),
        {},
    ),
    (
        "1-2 prn max 8 in 24 hrs",
        f(dose_quantity="1", dose_quantity_max="2", prn=True, max_quantity_per_day="8"),
        {},
    ),
    (
        "take 1-2 tablets up to 4 times a day, do not take more than 8 tablets in 24 hours",
        f(
            dose_quantity="1",
            dose_quantity_max="2",
            dose_unit=T,
            doses_per_day="4",
            max_doses_per_day="4",
            max_quantity_per_day="8",
        ),
        {},
    ),
    (
        "1-2 tablets 4 times a day when required (max 8 tablets in 24 hours)",
        f(
            dose_quantity="1",
            dose_quantity_max="2",
            dose_unit=T,
            doses_per_day="4",
            prn=True,
            max_quantity_per_day="8",
        ),
        {},
    ),
    (
        "2 tablets when required, no more than 4 doses in 24 hours",
        f(dose_quantity="2", dose_unit=T, prn=True, max_doses_per_day="4"),
        {},
    ),
    (
        "one when required, not more than 4 times a day",
        f(dose_quantity="1", prn=True, max_doses_per_day="4"),
        {},
    ),
    (
        "10mg when required maximum 60mg in 24 hours",
        f(dose_quantity="10", dose_unit="mg", prn=True, max_quantity_per_day="60"),
        {},
    ),
    (
        "2 tablets prn max 8 daily",
        f(dose_quantity="2", dose_unit=T, prn=True, max_quantity_per_day="8"),
        {},
    ),
    (
        "one prn maximum of 4 in any 24 hour period",
        f(dose_quantity="1", prn=True, max_quantity_per_day="4"),
        {},
    ),
    ("1 prn max 4 per day", f(dose_quantity="1", prn=True, max_quantity_per_day="4"), {}),
    (
        "one prn do not exceed 4 in 24 hours",
        f(dose_quantity="1", prn=True, max_quantity_per_day="4"),
        {},
    ),
    (
        "one prn up to a maximum of 4 in 24 hours",
        f(dose_quantity="1", prn=True, max_quantity_per_day="4"),
        {},
    ),
    (
        "MAX. 4 IN 24 HOURS, ONE WHEN REQUIRED",
        f(dose_quantity="1", prn=True, max_quantity_per_day="4"),
        {},
    ),
    (
        "2 tablets every 4 hours when required up to 8 tablets in 24 hours",
        f(dose_quantity="2", dose_unit=T, interval_hours="4", prn=True, max_quantity_per_day="8"),
        {},
    ),
    (
        "one every 4 hours when required, up to 4 times a day",
        f(dose_quantity="1", interval_hours="4", prn=True, max_doses_per_day="4"),
        {},
    ),
    ("max 8 tablets in 24 hours", f(dose_unit=T, max_quantity_per_day="8"), {}),
    (
        "1-2 when required maximum daily dose 8 tablets",
        f(
            dose_quantity="1",
            dose_quantity_max="2",
            dose_unit=T,
            prn=True,
            max_quantity_per_day="8",
        ),
        {},
    ),
    (
        "2 tablets 4 times a day, maximum dose 8 tablets every 24 hours",
        f(dose_quantity="2", dose_unit=T, doses_per_day="4", max_quantity_per_day="8"),
        {},
    ),
    ("one prn max 4 in one day", f(dose_quantity="1", prn=True, max_quantity_per_day="4"), {}),
    # --- opioid patches (fentanyl, buprenorphine): the change interval is interval_hours ---
    ("apply one patch every 72 hours", f(dose_quantity="1", dose_unit=P, interval_hours="72"), {}),
    ("APPLY ONE PATCH EVERY 72 HOURS", f(dose_quantity="1", dose_unit=P, interval_hours="72"), {}),
    ("change patch twice weekly", f(dose_unit=P, interval_hours="84"), {}),
    ("apply 1 patch every 7 days", f(dose_quantity="1", dose_unit=P, interval_hours="168"), {}),
    ("apply one patch weekly", f(dose_quantity="1", dose_unit=P, interval_hours="168"), {}),
    ("apply one patch once a week", f(dose_quantity="1", dose_unit=P, interval_hours="168"), {}),
    (
        "Apply ONE patch every THREE days",
        f(dose_quantity="1", dose_unit=P, interval_hours="72"),
        {},
    ),
    ("apply a patch every 72 hours", f(dose_quantity="1", dose_unit=P, interval_hours="72"), {}),
    (
        "apply one new patch every 72 hours",
        f(dose_quantity="1", dose_unit=P, interval_hours="72"),
        {},
    ),
    (
        "one patch to be applied every 72 hours",
        f(dose_quantity="1", dose_unit=P, interval_hours="72"),
        {},
    ),
    ("apply 2 patches every 72 hours", f(dose_quantity="2", dose_unit=P, interval_hours="72"), {}),
    ("change the patch every 7 days", f(dose_unit=P, interval_hours="168"), {}),
    ("apply one patch every 96 hours", f(dose_quantity="1", dose_unit=P, interval_hours="96"), {}),
    ("apply one patch every 4 days", f(dose_quantity="1", dose_unit=P, interval_hours="96"), {}),
    ("APPLY ONE PATCH TWICE A WEEK", f(dose_quantity="1", dose_unit=P, interval_hours="84"), {}),
    (
        "apply one patch every seventy-two hours",
        f(dose_quantity="1", dose_unit=P, interval_hours="72"),
        {},
    ),
    (
        "apply one patch transdermally every 72 hours",
        f(dose_quantity="1", dose_unit=P, interval_hours="72"),
        {"routes": ("transdermal",)},
    ),
    (
        "apply one patch to the skin every 72 hours",
        f(dose_quantity="1", dose_unit=P, interval_hours="72"),
        {"routes": ("skin",)},
    ),
    (
        "APPLY ONE PATCH EVERY 7 DAYS (28 DAYS SUPPLY)",
        f(dose_quantity="1", dose_unit=P, interval_hours="168"),
        {"supply_value": Decimal(28), "supply_unit": "day"},
    ),
    # --- liquids, in mL and in mg ---
    ("5ml four times a day", f(dose_quantity="5", dose_unit="mL", doses_per_day="4"), {}),
    (
        "10mg (5ml) every 4 hours when required",
        f(dose_quantity="10", dose_unit="mg", interval_hours="4", prn=True),
        {"bracketed_quantities": ("5 mL",)},
    ),
    (
        "5-10ml every 4 hours when required",
        f(dose_quantity="5", dose_quantity_max="10", dose_unit="mL", interval_hours="4", prn=True),
        {},
    ),
    (
        "2.5ml to 5ml every 4 hours prn",
        f(dose_quantity="2.5", dose_quantity_max="5", dose_unit="mL", interval_hours="4", prn=True),
        {},
    ),
    ("5mls twice daily", f(dose_quantity="5", dose_unit="mL", doses_per_day="2"), {}),
    ("10 ml at night", f(dose_quantity="10", dose_unit="mL", doses_per_day="1"), {}),
    (
        "take 5 millilitres three times a day",
        f(dose_quantity="5", dose_unit="mL", doses_per_day="3"),
        {},
    ),
    ("5ML EVERY 4 HOURS", f(dose_quantity="5", dose_unit="mL", interval_hours="4"), {}),
    ("20mg twice a day", f(dose_quantity="20", dose_unit="mg", doses_per_day="2"), {}),
    ("TAKE 10MG TWICE A DAY", f(dose_quantity="10", dose_unit="mg", doses_per_day="2"), {}),
    ("take 10 Mg twice a day", f(dose_quantity="10", dose_unit="mg", doses_per_day="2"), {}),
    ("500 micrograms daily", f(dose_quantity="500", dose_unit="microgram", doses_per_day="1"), {}),
    ("200mcg when required", f(dose_quantity="200", dose_unit="microgram", prn=True), {}),
    ("200\u00b5g when required", f(dose_quantity="200", dose_unit="microgram", prn=True), {}),
    ("1g four times a day", f(dose_quantity="1", dose_unit="g", doses_per_day="4"), {}),
    (
        "2.5mg every 4 hours prn",
        f(dose_quantity="2.5", dose_unit="mg", interval_hours="4", prn=True),
        {},
    ),
    (
        "5mg-10mg every 4 hours when required",
        f(dose_quantity="5", dose_quantity_max="10", dose_unit="mg", interval_hours="4", prn=True),
        {},
    ),
    (
        "10-20mg every 4 hours as required",
        f(dose_quantity="10", dose_quantity_max="20", dose_unit="mg", interval_hours="4", prn=True),
        {},
    ),
    (
        "(300mg) 3 to be taken at night",
        f(dose_quantity="3", doses_per_day="1"),
        {"bracketed_quantities": ("300 mg",)},
    ),
    # --- other dose units ---
    (
        "one lozenge every 4 hours",
        f(dose_quantity="1", dose_unit="lozenge", interval_hours="4"),
        {},
    ),
    ("one sachet daily", f(dose_quantity="1", dose_unit="sachet", doses_per_day="1"), {}),
    (
        "one suppository at night",
        f(dose_quantity="1", dose_unit="suppository", doses_per_day="1"),
        {},
    ),
    ("one spray when required", f(dose_quantity="1", dose_unit="spray", prn=True), {}),
    ("two sprays every 4 hours", f(dose_quantity="2", dose_unit="spray", interval_hours="4"), {}),
    ("1 film when required", f(dose_quantity="1", dose_unit="film", prn=True), {}),
    ("one puff twice daily", f(dose_quantity="1", dose_unit="actuation", doses_per_day="2"), {}),
    ("1 dose when required", f(dose_quantity="1", dose_unit="dose", prn=True), {}),
    # --- duration, routes, food, supply ---
    (
        "one twice a day for 5 days",
        f(dose_quantity="1", doses_per_day="2"),
        {"duration_value": Decimal(5), "duration_unit": "day"},
    ),
    (
        "one three times a day for 2 weeks",
        f(dose_quantity="1", doses_per_day="3"),
        {"duration_value": Decimal(2), "duration_unit": "week"},
    ),
    (
        "one daily for a week",
        f(dose_quantity="1", doses_per_day="1"),
        {"duration_value": Decimal(1), "duration_unit": "week"},
    ),
    (
        "one daily for 1-2 months",
        f(dose_quantity="1", doses_per_day="1"),
        {"duration_value": Decimal(1), "duration_value_max": Decimal(2), "duration_unit": "month"},
    ),
    (
        "take one tablet twice daily with food",
        f(dose_quantity="1", dose_unit=T, doses_per_day="2"),
        {"administration_notes": ("with food",)},
    ),
    (
        "one twice a day with or after food",
        f(dose_quantity="1", doses_per_day="2"),
        {"administration_notes": ("with or after food",)},
    ),
    (
        "1 tablet by mouth twice daily",
        f(dose_quantity="1", dose_unit=T, doses_per_day="2"),
        {"routes": ("oral",)},
    ),
    ("one orally at night", f(dose_quantity="1", doses_per_day="1"), {"routes": ("oral",)}),
    (
        "one under the tongue when required",
        f(dose_quantity="1", prn=True),
        {"routes": ("sublingual",)},
    ),
    (
        "half a tablet at night for nerve pain",
        f(dose_quantity="0.5", dose_unit=T, doses_per_day="1"),
        {"indication": "nerve pain", "prn_reason": None},
    ),
    # --- "as directed" (a typed result with no daily amount unless a frequency is given) ---
    ("as directed", f(), {"as_directed": True}),
    ("use as directed", f(), {"as_directed": True}),
    ("take as directed by your doctor", f(), {"as_directed": True}),
    ("AS DIRECTED BY THE HOSPITAL", f(), {"as_directed": True}),
    ("as directed by the pain clinic", f(), {"as_directed": True}),
    ("one before bed", f(dose_quantity="1", doses_per_day="1"), {"named_times": ("night",)}),
    ("max 4 doses daily", f(max_doses_per_day="4"), {}),
    ("1/8 tablet daily", f(dose_quantity="0.125", dose_unit=T, doses_per_day="1"), {}),
    ("one as directed", f(dose_quantity="1"), {"as_directed": True}),
    (
        "1 tablet twice a day as directed",
        f(dose_quantity="1", dose_unit=T, doses_per_day="2"),
        {"as_directed": True},
    ),
]

# (text, a fragment of one of the problems) - texts that must not be read
UNPARSED: list[tuple[str, str]] = [
    ("take one tablet twice a day then one daily", "sequence"),
    ("take one tablet twice a day for 5 days then stop", "sequence"),
    ("one tablet every 4 hours twice a day", "more than one frequency"),
    ("one tablet daily twice a day", "more than one frequency"),
    ("one every 12 hours three times a day", "more than one frequency"),
    ("one every 4-6 hours twice a day", "more than one frequency"),
    ("remove old", "unrecognised word"),
    ("remove old patch", "no dose"),
    ("do not crush", "no dose"),
    ("one tablet twice daily at night", "times of day do not match"),
    ("one every 4 hours at night", "times of day together with an interval"),
    # two different doses, the first without a time of its own: refused (issue 16)
    ("1 daily and 2", "different doses"),
    ("take one grain daily", "unrecognised word"),
    ("take 10 gr daily", "unrecognised word"),
    ("take 10 megagrams daily", "unrecognised word"),
    ("one spray into each nostril", "per site"),
    ("one drop in each eye twice a day", "per site"),
    ("take one tablet monthly", "monthly"),
    ("take one tablet every month", "monthly"),
    ("one tablet every 0 hours", "zero"),
    ("0 tablets daily", "zero"),
    ("one tablet 0 times a day", "zero"),
    ("one daily, max 0 in 24 hours", "zero"),
    ("2-1 tablets daily", "lower end is above"),
    ("one tablet every 6-4 hours", "lower end is above"),
    ("take with food", "no dose"),
    ("for pain", "no dose"),
    ("one tablet twice a day max 8 in 12 hours", "other than 24 hours"),
    ("one tablet prn max 8 in 2 days", "other than 24 hours"),
    ("10mg twice a day max 4 tablets in 24 hours", "unit other than"),
    ("10mg every 4 hours when required, max 6 in 24 hours", "maximum without a unit"),
    ("5ml every 4 hours when required, max 4 in 24 hours", "maximum without a unit"),
    # a strength typed with a slash ("10mg/5ml") is two amounts joined by "/": refused
    ("1 tablet twice a day 10mg/5ml", "joined by '/'"),
    ("take one tablet twice a", "ends before"),
    ("every", "ends before"),
    ("take one tablet with meals", "timing by meals"),
    ("increase to 2 tablets twice a day", "titration"),
    ("1 stat", "stat"),
    ("one tablet (twice a day", "unbalanced bracket"),
    ("one tablet twice a day)", "unbalanced bracket"),
    ("take 1/3 tablet daily", "unsupported fraction"),
    ("take 1234567 tablets daily", "number too long"),
    ("one tablet every 1.2345 hours", "number too long"),
    ("tablets tablets", "unexpected dose unit"),
    ("one tablet twice a day until pain subsides", "until"),
    (
        "2 tablets twice a day, max 8 tablets in 24 hours, max 6 tablets in 24 hours",
        "more than one maximum",
    ),
    ("one daily for 5 days for 7 days", "more than one duration"),
    ("ONE EVERY 4-6 HOURS UP TO 3 TIMES A DAY MAX 4 DOSES IN 24 HOURS", "two different maximum"),
    # a spoon without its volume: how much is a spoonful? (issue 16: only "5ml spoonful" is read)
    ("one spoonful twice a day", "spoon without its volume"),
    ("one tablet or capsule daily", "unexpected"),
    ("1 tablet 2 capsules daily", "different doses"),
    ("2 tablets 10 mg daily", "different doses"),
    ("one tablet twice a day \u2603", "unrecognised symbol"),
    ("one tablet twice a day for 0 days", "duration of zero"),
    ("\u00e9", "no dose"),  # a word outside the lexicon, alone: a note with nothing to read
    ("...", "no dose"),
]


def _decimals(fields: dict[str, Any]) -> dict[str, object]:
    return {
        k: (v if isinstance(v, bool) or k == "dose_unit" else Decimal(v)) for k, v in fields.items()
    }


def test_there_are_at_least_150_cases() -> None:
    assert len(PARSED) + len(UNPARSED) >= 150
    texts = [t for t, *_ in PARSED] + [t for t, _ in UNPARSED]
    assert len(texts) == len(set(texts)), "duplicate case"


@pytest.mark.parametrize(("text", "fields", "extra"), PARSED, ids=[t for t, *_ in PARSED])
def test_parsed(text: str, fields: dict[str, Any], extra: dict[str, Any]) -> None:
    result = parse_dosage(text)
    assert isinstance(result, Dosage), getattr(result, "problems", None)
    assert result.to_prescription_fields() == _decimals(fields)
    for name, value in extra.items():
        assert getattr(result, name) == value, name


@pytest.mark.parametrize(("text", "fragment"), UNPARSED, ids=[t for t, _ in UNPARSED])
def test_unparsed(text: str, fragment: str) -> None:
    result = parse_dosage(text)
    assert isinstance(result, UnparsedDosage), result
    assert result.problems
    assert any(fragment in p for p in result.problems), result.problems
    assert "not fully understood" in result.not_convertible_reason


def test_as_directed_gives_no_daily_amount() -> None:
    result = parse_dosage("take as directed")
    assert isinstance(result, Dosage)
    assert result.as_directed
    assert result.not_convertible_reason is not None
    assert "as directed" in result.not_convertible_reason
    assert result.to_prescription_fields() == {}


def test_as_directed_with_a_frequency_is_convertible() -> None:
    result = parse_dosage("1 tablet twice a day as directed")
    assert isinstance(result, Dosage)
    assert result.not_convertible_reason is None


def test_missing_frequency_is_reported() -> None:
    result = parse_dosage("2 tablets")
    assert isinstance(result, Dosage)
    assert result.not_convertible_reason is not None
    assert "frequency" in result.not_convertible_reason
    prn_with_max = parse_dosage("1-2 tablets when required, max 8 in 24 hours")
    assert isinstance(prn_with_max, Dosage)
    assert prn_with_max.not_convertible_reason is None
    only_frequency = parse_dosage("twice a day")
    assert isinstance(only_frequency, Dosage)
    assert only_frequency.not_convertible_reason == "the dosage text gives no dose quantity"


def test_patch_properties() -> None:
    patch = parse_dosage("apply one patch every 72 hours")
    assert isinstance(patch, Dosage)
    assert patch.is_patch
    assert patch.patch_change_interval_hours == Decimal(72)
    tablet = parse_dosage("one tablet every 12 hours")
    assert isinstance(tablet, Dosage)
    assert not tablet.is_patch
    assert tablet.patch_change_interval_hours is None


def test_bracketed_strength_is_never_the_dose() -> None:
    result = parse_dosage("(300mg) 3 to be taken at night")
    assert isinstance(result, Dosage)
    assert result.dose_quantity == Decimal(3)
    assert result.dose_unit is None
    assert result.bracketed_quantities == ("300 mg",)


def test_unparsed_messages_do_not_repeat_the_text() -> None:
    result = parse_dosage("take one grain daily then sometimes ziggurat")
    assert isinstance(result, UnparsedDosage)
    joined = " ".join(result.problems)
    for word in ("grain", "sometimes", "ziggurat"):
        assert word not in joined
    assert "unrecognised word at position 9" in result.problems


def test_normalised_text_is_kept() -> None:
    result = parse_dosage("  TAKE  ONE\tTABLET  B.D. ")
    assert isinstance(result, Dosage)
    assert result.text == "take one tablet bd"
    assert result.doses_per_day == Decimal(2)


def test_frozen_and_strict() -> None:
    result = parse_dosage("one bd")
    assert isinstance(result, Dosage)
    with pytest.raises(Exception):  # noqa: B017, PT011 - pydantic's frozen-instance error
        result.dose_quantity = Decimal(2)  # type: ignore[misc]
    with pytest.raises(Exception):  # noqa: B017, PT011 - extra="forbid"
        Dosage(text="x", surprise=1)  # type: ignore[call-arg]
