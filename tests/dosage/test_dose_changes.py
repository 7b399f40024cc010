"""A dose that goes up over time: read up to its highest step; a taper refused (issue 16).

Issue 16, fifth round: "1 EVERY NIGHT FOR 1 WEEK THEN 2 EVERY NIGHT" has, honestly, a highest
daily amount: the dose never exceeds it while the prescription is followed. The text is read as
the range from its lowest step to its highest (the fields a range such as "1-2 four times a
day" uses, so the project's default policy counts the highest step, docs/calculation.md "PRN
and ranges"), each step kept in ``dose_steps``, only when every step is read completely by
itself. Every text is quoted from the CPRD "common dosages" lookup (real, anonymised UK GP
text; public copy ``CHIP-SET/textmining.ro``, ``common_dosages.txt`` at commit 3357c42;
testing use only), as written there, unless marked as made up for a guard.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opioidcds import Dosage, Prescription, UnparsedDosage, calculate_ome, parse_dosage

D = Decimal

# (CPRD text, expected fields, highest daily amount worked out by hand from the steps)
READ: list[tuple[str, dict[str, Any], Decimal]] = [
    # 1 a night for a week, then 2 a night: steps 1 x 1 and 2 x 1; highest 2 a day
    (
        "1 EVERY NIGHT FOR 1 WEEK THEN 2 EVERY NIGHT",
        {"dose_quantity": D(1), "dose_quantity_max": D(2), "doses_per_day": D(1)},
        D(2),
    ),
    # "increasing to" says the change by itself (no duration needed): 1 x 1, then 2 x 1 = 2
    (
        "ONE EVERY NIGHT INCREASING TO TWO EVERY NIGHT",
        {"dose_quantity": D(1), "dose_quantity_max": D(2), "doses_per_day": D(1)},
        D(2),
    ),
    # a titration by time, not a first (loading) dose: 1 x 1 for a week, then 1 x 2; highest 2
    (
        "1 EVERY NIGHT FOR 1 WEEK THEN 1 TWICE A DAY",
        {"dose_quantity": D(1), "doses_per_day": D(1), "doses_per_day_max": D(2)},
        D(2),
    ),
    # the frequency changes: 1 x 1 for 6 days, then 1 x 2; highest 2 a day
    (
        "1 EVERY DAY FOR 6 DAYS THEN 1 TWICE A DAY",
        {"dose_quantity": D(1), "doses_per_day": D(1), "doses_per_day_max": D(2)},
        D(2),
    ),
    # 1 x 2 increasing to 1 x 3: highest 3 a day
    (
        "1 TWICE A DAY INCREASING TO 1 THREE TIMES A DAY",
        {"dose_quantity": D(1), "doses_per_day": D(2), "doses_per_day_max": D(3)},
        D(3),
    ),
    # a duration without "for" ("one week"): 1 x 1, then 2 x 1; highest 2
    (
        "ONE EVERY NIGHT ONE WEEK THEN TWO EVERY NIGHT",
        {"dose_quantity": D(1), "dose_quantity_max": D(2), "doses_per_day": D(1)},
        D(2),
    ),
    # "then increase to": 1 x 1 for a week, then 2 x 1; highest 2
    (
        "1 AT NIGHT FOR 1 WEEK  THEN INCREASE TO 2 AT NIGHT",
        {"dose_quantity": D(1), "dose_quantity_max": D(2), "named_times": ("night",)},
        D(2),
    ),
    # the unit named in each step, and an indication after the last: 1, then 2 tablets a day
    (
        "ONE TABLET EVERY DAY ONE WEEK THEN TWO TABLETS EVERY DAY FOR DEPRESSION AND LOW MOOD",
        {
            "dose_quantity": D(1),
            "dose_quantity_max": D(2),
            "dose_unit": "tablet",
            "doses_per_day": D(1),
            "indication": "depression and low mood",
        },
        D(2),
    ),
    # a duration in nights ("for 3 nights" = for 3 days): 1 x 1, then 2 x 1; highest 2
    (
        "1 EVERY NIGHT FOR 3 NIGHTS THEN 2 EVERY NIGHT",
        {"dose_quantity": D(1), "dose_quantity_max": D(2), "doses_per_day": D(1)},
        D(2),
    ),
    # in words: "for seven nights"; 1 x 1, then 2 x 1; highest 2
    (
        "ONE TO BE TAKEN AT NIGHT FOR SEVEN NIGHTS THEN TWO AT NIGHT",
        {"dose_quantity": D(1), "dose_quantity_max": D(2), "doses_per_day": D(1)},
        D(2),
    ),
    # "for the first 6 days": 1 x 1, then 1 x 2; highest 2
    (
        "1 EVERY DAY FOR THE FIRST 6 DAYS THEN 1 TWICE A DAY",
        {"dose_quantity": D(1), "doses_per_day": D(1), "doses_per_day_max": D(2)},
        D(2),
    ),
]


@pytest.mark.parametrize(("text", "expected", "highest"), READ)
def test_a_dose_change_is_read_up_to_its_highest_step(
    text: str, expected: dict[str, Any], highest: Decimal
) -> None:
    result = parse_dosage(text)
    assert isinstance(result, Dosage), result
    assert result.not_convertible_reason is None
    for name, value in expected.items():
        assert getattr(result, name) == value, name
    assert len(result.dose_steps) >= 2
    # the upper ends of the reading are exactly the highest step (the range's maximum)
    top_dose = result.dose_quantity_max or result.dose_quantity
    top_freq = result.doses_per_day_max or result.doses_per_day
    assert top_dose is not None
    assert top_freq is not None
    assert top_dose * top_freq == highest
    assert max(step.daily_amount_max for step in result.dose_steps) == highest
    # and the lower ends exactly the lowest step
    lowest = min(step.dose_quantity * step.doses_per_day for step in result.dose_steps)
    assert result.dose_quantity is not None
    assert result.doses_per_day is not None
    assert result.dose_quantity * result.doses_per_day == lowest
    note = result.dose_change_note()
    assert note is not None
    assert note.startswith("the dose goes up over time: ")
    assert "it never exceeds the highest step" in note
    assert result.loading_dose_quantity is None


def test_the_note_names_every_step_and_the_highest() -> None:
    result = parse_dosage("1 EVERY NIGHT FOR 1 WEEK THEN 2 EVERY NIGHT")
    assert isinstance(result, Dosage)
    assert [str(step) for step in result.dose_steps] == ["1 at night for 1 week", "2 at night"]
    assert result.dose_change_note("tablet") == (
        "the dose goes up over time: 1 tablet at night for 1 week, then 2 tablets at night; it "
        "never exceeds the highest step, 2 tablets at night, while the prescription is followed"
    )
    # each step keeps what the text says of it
    first, second = result.dose_steps
    assert (first.dose_quantity, first.doses_per_day, first.named_times) == (D(1), D(1), ("night",))
    assert (first.duration_value, first.duration_unit) == (D(1), "week")
    assert (second.dose_quantity, second.duration_value) == (D(2), None)


def test_the_notes_write_the_plural_of_every_form_noun() -> None:
    # the count nouns of conversion_tables/forms.toml as people write their plurals (morphine
    # suppositories are prescribed; "suppositorys" was written)
    steps = parse_dosage("1 AT NIGHT FOR 1 WEEK THEN 2 AT NIGHT")
    loading = parse_dosage("2 IMMEDIATELY THEN 1 DAILY")
    assert isinstance(steps, Dosage)
    assert isinstance(loading, Dosage)
    for noun, plural in [
        ("suppository", "suppositories"),
        ("patch", "patches"),
        ("lozenge", "lozenges"),
        ("tablet", "tablets"),
        ("spray", "sprays"),
    ]:
        assert f"then 2 {plural} at night" in (steps.dose_change_note(noun) or "")
        assert f"a first dose of 2 {plural} " in (loading.loading_dose_note(noun) or "")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # CPRD: 1-2 at night for 5 nights: 2 a day at most, for 5 days
        ("1-2 AT NIGHT FOR 5 NIGHTS ONLY", D(5)),
        # made up: a number word before "nights"
        ("ONE AT NIGHT FOR SEVEN NIGHTS", D(7)),
    ],
)
def test_nights_and_the_first_days_are_a_duration_in_days(text: str, value: Decimal) -> None:
    result = parse_dosage(text)
    assert isinstance(result, Dosage), result
    assert (result.duration_value, result.duration_unit) == (value, "day")
    assert result.doses_per_day == 1


@pytest.mark.parametrize(
    "text",
    [
        "2 NIGHTS A WEEK",  # made up: nights of a week, not a duration
        "FIRST 2 DAILY",  # made up: "first" not after "for"
        "FOR FIRST AID 1 DAILY",  # made up: "first" not before a number
        # CPRD: "for the first 14 days" and then? Read only as a step of a dose change
        "2 EVERY DAY FOR THE FIRST 14 DAYS",
    ],
)
def test_nights_and_first_elsewhere_stay_refused(text: str) -> None:
    assert isinstance(parse_dosage(text), UnparsedDosage)


@pytest.mark.parametrize(
    "text",
    [
        # made up, in the shape of the CPRD text "ONE EVERY NIGHT FOR THREE NIGHTS AND THEN NOT
        # MORE THAN TWO NIGHTS PER WEEK": 1 at night on 2 nights of each week is 2 doses a week
        # (2/7 a day); read as "for 2 days" and "a week" it was one dose a week (1/7 a day),
        # half the amount (review of the fifth round: "nights" became days)
        "1 AT NIGHT FOR 2 NIGHTS A WEEK",
        # 2 on 4 nights of each week = 8 a week; it was read as 2 a week, a quarter
        "2 AT NIGHT FOR 4 NIGHTS EACH WEEK",
        "ONE AT NIGHT FOR THREE NIGHTS PER WEEK",
        # the same in days (read so before the fifth round too)
        "1 AT NIGHT FOR 2 DAYS A WEEK",
        "1 FOR 3 DAYS EVERY WEEK",
        "1 AT NIGHT FOR 2 DAYS TWICE A WEEK",
    ],
)
def test_days_or_nights_of_each_week_are_refused_not_read_as_one_dose_a_week(text: str) -> None:
    result = parse_dosage(text)
    assert isinstance(result, UnparsedDosage), result
    assert any("shorter than the time between doses" in p for p in result.problems)


@pytest.mark.parametrize(
    ("text", "hours", "duration"),
    [
        # a course as long as the interval or longer stays read: once a week (168 h) for 4
        # weeks; every 72 hours for 3 days (72 h); every 2 nights (48 h) for 1 week
        ("1 ONCE A WEEK FOR 4 WEEKS", D(168), (D(4), "week")),
        ("APPLY ONE PATCH EVERY 72 HOURS FOR 3 DAYS", D(72), (D(3), "day")),
        ("1 EVERY 2 NIGHTS FOR 1 WEEK", D(48), (D(1), "week")),
    ],
)
def test_a_course_at_least_one_interval_long_is_read(
    text: str, hours: Decimal, duration: tuple[Decimal, str]
) -> None:
    result = parse_dosage(text)
    assert isinstance(result, Dosage), result
    assert result.interval_hours == hours
    assert (result.duration_value, result.duration_unit) == duration


def test_a_dosage_that_does_not_change_has_no_steps_and_no_note() -> None:
    result = parse_dosage("1-2 FOUR TIMES A DAY")
    assert isinstance(result, Dosage)
    assert result.dose_steps == ()
    assert result.dose_change_note() is None


def test_the_ome_counts_the_highest_step_as_a_range_maximum() -> None:
    # made-up opioid prescription in the CPRD shape "1 TWICE A DAY FOR 2 WEEKS THEN 2 TWICE A
    # DAY" (the corpus holds it for other drugs): morphine 10 mg tablets. Highest step 2 x 2 =
    # 4 tablets = 40 mg/day x 1 (oral morphine) = 40 mg OME/day under the default (maximum)
    # policy; the minimum policy counts the lower end, the first step: 1 x 2 x 10 mg = 20 mg
    text = "1 TWICE A DAY FOR 2 WEEKS THEN 2 TWICE A DAY"
    p = Prescription(drug="morphine", form="tablet", strength="10 mg", dosage_text=text)
    item = calculate_ome([p]).items[0]
    assert item.ome_mg_per_day == 40
    assert item.policy_note is not None
    assert "range counted at its upper end" in item.policy_note
    # the explanation names each step (the tablet noun from the product's form)
    assert (
        "the dose goes up over time: 1 tablet twice a day for 2 weeks, then 2 tablets twice a "
        "day; it never exceeds the highest step, 2 tablets twice a day" in item.policy_note
    )
    low = calculate_ome([p], prn_policy="minimum").items[0]
    assert low.ome_mg_per_day == 20
    assert low.policy_note is not None
    assert "range counted at its lower end" in low.policy_note
    assert "then 2 tablets twice a day" in low.policy_note


# (text, why it stays refused); CPRD unless marked
REFUSED: list[tuple[str, str]] = [
    # "then" without a duration: a change, or a second dose later the same day (2 a day)?
    ("1 EVERY MORNING THEN 1 AT MIDDAY", "without a duration"),
    ("ONE TWICE A DAY THEN ONE EVERY DAY", "without a duration"),
    # the first step is not read by itself (no frequency): "1" what?
    ("1 INCREASING TO 3 AT NIGHT", "titration"),
    ("ONE INCREASING TO TWO EVERY DAY", "titration"),
    # the increase has a condition ("if needed": when required in one step only)
    ("1 THREE TIMES A DAY INCREASING TO 2 THREE TIMES A DAY IF NEEDED", "titration"),
    # a cycle of days on and days off
    ("1 EVERY DAY FOR 21 DAYS THEN 7 DAY BREAK", "cycle of days on"),
    # a stop condition
    ("1-2 AT NIGHT UNTIL A GOOD BOWEL ACTION THEN STOP.", "until"),
    # a step with no dose of its own: reduce by how much each day?
    ("6 TABS DAILY FOR 5 DAYS THEN REDUCE BY ONE TABLET(S) DAILY", "titration"),
    # another medicine in each step
    ("ETIDRONATE 1 EVERY DAY FOR 14 DAYS THEN CALCIUM 1 EVERY DAY FOR 76 DAYS", "sequence"),
    # a step with no dose
    ("3 TIMES DAILY FOR ONE WEEK THEN WHEN REQUIRED", "sequence"),
    # a taper (the dose goes down): no one daily amount the patient stays on, and NHS
    # England's dose-syntax tests say a taper must not be mapped (CPRD, common dosages)
    ("2 TWICE A DAY FOR 2 WEEKS THEN 1 TWICE A DAY", "goes down over time"),
    ("TWO EVERY NIGHT REDUCING TO ONE EVERY NIGHT", "goes down over time"),
    ("3 TWICE A DAY REDUCING TO 2 TWICE A DAY", "goes down over time"),
    # the frequency goes down: 4 a day, then 2 a day
    ("TAKE ONE 4 TIMES/DAY FOR 1 WEEK THEN 1 TWICE A DAY", "goes down over time"),
    # made up: up, then down (1, then 2, then 1 a night)
    ("1 AT NIGHT FOR 1 WEEK THEN 2 AT NIGHT FOR 1 WEEK THEN 1 AT NIGHT", "goes down over time"),
    # made up: neither step highest in both dose and doses a day (2 x 1, then 1 x 2)
    ("2 DAILY FOR 1 WEEK THEN 1 TWICE A DAY", "not each higher"),
    # made up: the strength changes, not the count (one 10 mg tablet, then one 20 mg tablet)
    ("ONE 10MG TABLET AT NIGHT FOR 1 WEEK THEN ONE 20MG TABLET AT NIGHT", "sequence"),
    # made up: tablets, then capsules
    ("1 TABLET AT NIGHT FOR 1 WEEK THEN 2 CAPSULES AT NIGHT", "sequence"),
    # made up: mg, then a bare count (two doses or two mg?)
    ("10MG TWICE A DAY FOR 1 WEEK THEN 2 TWICE A DAY", "sequence"),
    # made up: a step with a daily maximum
    ("1 AT NIGHT FOR 1 WEEK THEN 1-2 QDS PRN MAX 6 IN 24 HOURS", "sequence"),
]


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_other_dose_changes_stay_refused(text: str, reason: str) -> None:
    result = parse_dosage(text)
    assert isinstance(result, UnparsedDosage), result
    assert any(reason in p for p in result.problems), result.problems


# Two whole dosages joined by "or": the range from the lower to the higher, as "one once or
# twice a day" (CPRD texts; daily amounts worked out by hand)
ALTERNATIVES: list[tuple[str, dict[str, Any]]] = [
    # 1 x 1 or 1 x 2: one, once or twice a day; 2 a day at most
    (
        "ONE EVERY DAY OR ONE TWICE A DAY",
        {"dose_quantity": D(1), "doses_per_day": D(1), "doses_per_day_max": D(2)},
    ),
    # a named time in one: 1 at night or 1 x 2; 2 a day at most
    (
        "ONE AT NIGHT OR ONE TWICE A DAY",
        {"dose_quantity": D(1), "doses_per_day": D(1), "doses_per_day_max": D(2)},
    ),
    # the higher first: 1 x 2 or 1 x 1; 2 a day at most
    (
        "ONE TWICE A DAY OR ONE EVERY DAY",
        {"dose_quantity": D(1), "doses_per_day": D(1), "doses_per_day_max": D(2)},
    ),
    # the dose differs: 1 or 2 once a day; 2 a day at most
    (
        "TAKE ONE DAILY OR TWO DAILY",
        {"dose_quantity": D(1), "dose_quantity_max": D(2), "doses_per_day": D(1)},
    ),
]


@pytest.mark.parametrize(("text", "expected"), ALTERNATIVES)
def test_two_whole_alternatives_are_read_as_a_range(text: str, expected: dict[str, Any]) -> None:
    result = parse_dosage(text)
    assert isinstance(result, Dosage), result
    assert result.to_prescription_fields() == expected
    assert result.dose_steps == ()  # a choice, not a change over time
    assert result.dose_change_note() is None


@pytest.mark.parametrize(
    "text",
    [
        # CPRD: 1 x 4 or 2 x 2, neither higher in both (1-2 x 2-4 would be 8 at most)
        "ONE FOUR TIMES A DAY OR TWO TWICE A DAY",
        "2 TWICE A DAY OR 1 FOUR TIMES A DAY",
        # CPRD: regular or when required
        "1 EVERY DAY OR 1 EVERY DAY WHEN REQUIRED",
        "ONE EVERY DAY OR ONE TWICE A DAY WHEN REQUIRED",
        # CPRD: 5 mL x 1 or 2.5 mL x 2 (neither higher in both)
        "5MLS DAILY OR 2.5MLS TWICE A DAY",
        # CPRD: an "up to" dose in one alternative
        "1 TWICE A DAY OR UP TO 2 EVERY NIGHT WHEN REQUIRED",
        # made up: the second alternative names no dose
        "ONE AT NIGHT OR TWICE A DAY",
        # made up: three alternatives
        "ONE DAILY OR TWO DAILY OR THREE DAILY",
    ],
)
def test_other_alternatives_stay_refused(text: str) -> None:
    assert isinstance(parse_dosage(text), UnparsedDosage)


# made-up steps in the shapes of the CPRD texts above: a count and a number of doses a day
_FREQUENCIES = {
    "every day": 1,
    "daily": 1,
    "at night": 1,
    "twice a day": 2,
    "bd": 2,
    "three times a day": 3,
    "tds": 3,
    "four times a day": 4,
}
_COUNTS: dict[str, Decimal] = {
    "1": D(1),
    "2": D(2),
    "3": D(3),
    "one": D(1),
    "two": D(2),
    "half a tablet": D("0.5"),
}
_DURATIONS = ["for 1 week", "for 2 weeks", "for 6 days", "one week", "for 3 nights"]
_step = st.tuples(st.sampled_from(sorted(_COUNTS)), st.sampled_from(sorted(_FREQUENCIES)))


@given(
    steps=st.lists(_step, min_size=2, max_size=4),
    durations=st.lists(st.sampled_from(_DURATIONS), min_size=3, max_size=3),
    joins=st.lists(
        st.sampled_from(["then", "and then", "increasing to", "reducing to", "then increase to"]),
        min_size=3,
        max_size=3,
    ),
)
def test_a_dose_change_is_refused_or_read_to_exactly_its_highest_and_lowest_step(
    steps: list[tuple[str, str]], durations: list[str], joins: list[str]
) -> None:
    parts = []
    for k, (count, frequency) in enumerate(steps):
        parts.append(f"{count} {frequency}")
        if k < len(steps) - 1:
            parts.append(durations[k] if "then" in joins[k] else "")
            parts.append(joins[k])
    text = " ".join(p for p in parts if p)
    result = parse_dosage(text)
    # a taper: a step's dose or doses a day lower than the step's before it (no one daily
    # amount the patient stays on): always refused, whatever joins the steps
    pairs = list(itertools.pairwise(steps))
    taper = any(
        _COUNTS[later[0]] < _COUNTS[earlier[0]] or _FREQUENCIES[later[1]] < _FREQUENCIES[earlier[1]]
        for earlier, later in pairs
    )
    if taper:
        assert isinstance(result, UnparsedDosage), text
    if not isinstance(result, Dosage):
        return  # refused: never a wrong number
    # each step's amount a day, worked out from the words above (count x doses a day)
    amounts = [_COUNTS[count] * _FREQUENCIES[frequency] for count, frequency in steps]
    top_dose = result.dose_quantity_max or result.dose_quantity
    top_freq = result.doses_per_day_max or result.doses_per_day
    assert result.dose_quantity is not None
    assert result.doses_per_day is not None
    assert top_dose is not None
    assert top_freq is not None
    assert top_dose * top_freq == max(amounts), text
    assert result.dose_quantity * result.doses_per_day == min(amounts), text
    assert len(result.dose_steps) == len(steps)
