"""Worked tapering examples, each expected value worked out by hand (issue 7)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from opioidcds import (
    HoldPoint,
    InvalidInputError,
    PaceChange,
    Prescription,
    TaperPlan,
    calculate_ome,
    replan,
    taper_plan,
)
from opioidcds._decide.taper import PlanStatus, default_taper_knowledge

START = dt.date(2027, 1, 4)
D = Decimal


def oxy_mr(mg: int = 40, per_day: int = 2, **extra: object) -> Prescription:
    return Prescription(
        drug="oxycodone",
        form="modified-release tablet",
        strength=f"{mg} mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=per_day,
        **extra,
    )


def fentanyl(rate: str, count: int = 1) -> Prescription:
    return Prescription(
        drug="fentanyl",
        form="transdermal patch",
        strength=f"{rate} microgram/hour",
        dose_quantity=count,
        dose_unit="patch",
        interval_hours=72,
    )


def per_dose(plan: TaperPlan, index: int = 0) -> list[tuple[Decimal, Decimal | None]]:
    out: list[tuple[Decimal, Decimal | None]] = []
    for step in plan.steps:
        item = next((i for i in step.items if i.prescription_index == index), None)
        if item is None or item.stopped:
            out.append((D(0), None))
        else:
            out.append((item.per_dose, item.doses_per_day))
    return out


def test_defaults_come_from_the_cited_data_file() -> None:
    know = default_taper_knowledge()
    assert know.id == "taper-defaults"
    assert know.pace.reduction == D("0.10")
    assert know.pace.interval_days == 14
    assert know.dispensing.liquid_ml_resolution == D("0.5")
    assert "Faculty of Pain medicine" in know.citation_text("fpm-nhs-analysis")
    assert know.dispensing.lower_strength_ratio == D("0.5")


def test_oxycodone_40_mg_bd_sequence() -> None:
    # Oxycodone MR strengths in the catalogue: 5, 10, 15, 20, 30, 40, 60, 80, 120 mg. The plan
    # uses 40 mg and a chain of lower strengths, each the largest at most half the one above
    # (taper.toml lower_strength_ratio 0.5): 20, 10, 5 mg. With up to 3 tablets a dose every
    # multiple of 5 mg up to 35 is still dispensable. Doses stay equal (bd).
    # step 1: 80 x 0.9 = 72/day -> 36 a dose -> nearest 35 (= 20 + 10 + 5)   -> 70/day, 105 OME
    # step 2: 70 x 0.9 = 63 -> 31.5 -> nearest 30 (= 20 + 10)                 -> 60/day,  90
    # step 3: 60 x 0.9 = 54 -> 27 -> nearest 25 (= 20 + 5)                    -> 50/day,  75
    # step 4: 50 x 0.9 = 45 -> 22.5 -> tie 20/25, to the higher 25 = no change
    #         -> nearest strictly lower 20                                    -> 40/day,  60
    # step 5: 40 x 0.9 = 36 -> 18 -> 20 no change -> 15 (= 10 + 5)            -> 30/day,  45
    # step 6: 27 -> 13.5 -> 15 no change -> 10                                -> 20/day,  30
    # step 7: 18 -> 9 -> 10 no change -> 5                                    -> 10/day,  15
    # step 8: 5 mg is the smallest strength: one dose a day fewer, 5 mg od    ->  5/day, 7.5
    # step 9: 5 mg once a day: stop                                           ->  0
    plan = taper_plan([oxy_mr()], start=START)
    assert plan.status is PlanStatus.PLANNED
    assert [s.daily_ome_mg for s in plan.steps] == [
        D(120),
        D(105),
        D(90),
        D(75),
        D(60),
        D(45),
        D(30),
        D(15),
        D("7.5"),
        D(0),
    ]
    assert per_dose(plan) == [
        (D(40), D(2)), (D(35), D(2)), (D(30), D(2)), (D(25), D(2)), (D(20), D(2)),
        (D(15), D(2)), (D(10), D(2)), (D(5), D(2)), (D(5), D(1)), (D(0), None),
    ]  # fmt: skip
    step1 = plan.steps[1]
    assert [(line.strength, line.dose_quantity) for line in step1.items[0].lines] == [
        ("20 mg", D(1)),
        ("10 mg", D(1)),
        ("5 mg", D(1)),
    ]
    # four strengths over the whole plan, never 30 or 15 mg
    used = {line.strength for step in plan.steps for item in step.items for line in item.lines}
    assert used == {"40 mg", "20 mg", "10 mg", "5 mg"}
    assert step1.change_mg == D(-15)
    assert step1.change_percent == D("-12.5")  # 15 / 120
    assert step1.changed_prescription == 0
    # dates: step 1 on the start date, then every 14 days; the last step on day 8 x 14 = 112
    assert plan.steps[0].date is None
    assert step1.date == START
    assert plan.steps[9].date == START + dt.timedelta(days=112)
    assert plan.steps[9].until is None
    assert plan.target_reached
    assert plan.steps[9].items[0].stopped


def test_each_step_is_what_the_ome_calculator_says() -> None:
    plan = taper_plan([oxy_mr()], start=START)
    for step in plan.steps[:-1]:
        assert calculate_ome(step.prescriptions()).total_mg_per_day == step.daily_ome_mg


def test_fentanyl_patches_combine_and_skip_tiny_steps() -> None:
    # Fentanyl patches 12, 25, 37.5, 50, 75, 100 microgram/hour, at most 2 worn together.
    # The generic 12 patch counts at the 12.5 it delivers (catalogue/delivered_rates.toml,
    # Opioids Aware), so 50 + 12 is 62.5 too (issue 18).
    # 75 x 0.9 = 67.5; a step must take off at least half the intended 7.5 (ceiling 71.25):
    #   62.5 (= 50 + 12.5, or 37.5 + 25: fewest patches, then the largest first) -> 150 OME
    # 62.5 x 0.9 = 56.25 (ceiling 59.375) -> 50                             -> 120
    # 50 x 0.9 = 45: 49.5 (37.5 + 12) is nearest but only 0.5 off (ceiling 47.5) -> 37.5 -> 90
    plan = taper_plan([fentanyl("75")], start=START)
    rates = [d for d, _ in per_dose(plan)]
    assert rates[:4] == [D(75), D("62.5"), D(50), D("37.5")]
    assert sorted(line.strength for line in plan.steps[1].items[0].lines) == [
        "12 microgram/hour",
        "50 microgram/hour",
    ]
    assert plan.steps[1].daily_ome_mg == D(150)  # 62.5 x 2.4
    assert plan.steps[-1].daily_ome_mg == 0


def test_target_gives_the_highest_dose_at_or_below_it() -> None:
    # 50 -> 37.5 (90 OME > 89, carry on) -> next would be 25 (60 < 89), so instead the highest
    # allowed dose at or below 89 / 2.4 = 37.08: 37 = 25 + 12 (88.8 OME), with a 12 patch that
    # counts at its labelled 12 (the generic one delivers 12.5: 25 + 12.5 = 90 > 89; issue 18).
    # Target reached.
    plan = taper_plan([fentanyl("50")], start=START, target=D(89))
    assert [d for d, _ in per_dose(plan)] == [D(50), D("37.5"), D(37)]
    assert plan.final_ome_mg == D("88.8")
    assert plan.target_reached
    assert sorted(line.strength for line in plan.steps[-1].items[0].lines) == [
        "12 microgram/hour",
        "25 microgram/hour",
    ]


def test_liquid_by_half_millilitres() -> None:
    # Morphine 10 mg/5 mL = 2 mg/mL, 5 mL (10 mg) qds = 40 mg/day. Half-mL steps = 1 mg.
    # 40 x 0.9 = 36 -> 9 mg (4.5 mL); 36 x 0.9 = 32.4 -> 8.1 -> 8 mg (4 mL);
    # 32 x 0.9 = 28.8 -> 7.2 -> 7 mg (3.5 mL)
    rx = Prescription(
        drug="morphine",
        form="oral solution",
        strength="10 mg/5 mL",
        dose_quantity=5,
        dose_unit="mL",
        doses_per_day=4,
    )
    plan = taper_plan([rx], start=START)
    mls = [s.items[0].lines[0].dose_quantity for s in plan.steps[:4]]
    assert mls == [D(5), D("4.5"), D(4), D("3.5")]
    assert [s.daily_ome_mg for s in plan.steps[:4]] == [D(40), D(36), D(32), D(28)]
    # down to 0.5 mL qds, then one dose a day fewer: tds, bd, od, stop
    tail = per_dose(plan)[-5:]
    assert tail == [(D(1), D(4)), (D(1), D(3)), (D(1), D(2)), (D(1), D(1)), (D(0), None)]
    assert plan.liquid_ml_resolution == D("0.5")


def test_combination_never_raises_paracetamol() -> None:
    # Co-codamol 30/500, 2 tablets qds: codeine 240 mg/day (24 OME), paracetamol 1 g a dose.
    # 240 x 0.9 = 216 -> 54 a dose; at most 2 tablets a dose (so never more paracetamol):
    # 60 is nearest but no change -> nearest strictly lower within 2 tablets: 45 = 30 + 15.
    rx = Prescription(
        drug="co-codamol",
        form="tablet",
        strength="30 mg/500 mg",
        dose_quantity=2,
        dose_unit="tablet",
        doses_per_day=4,
    )
    plan = taper_plan([rx], start=START)
    step1 = plan.steps[1].items[0]
    assert step1.per_dose == D(45)
    assert sorted(line.strength for line in step1.lines) == ["15 mg/500 mg", "30 mg/500 mg"]
    for step in plan.steps[1:-1]:
        assert sum(line.dose_quantity for line in step.items[0].lines) <= 2


def test_several_opioids_one_at_a_time_most_ome_first() -> None:
    # oxycodone 40 bd = 120 OME; morphine MR 10 mg bd = 20 OME. Oxycodone goes first, down to
    # stopped (9 steps), then morphine: 20 x 0.9 = 18 -> 9 -> 10 no change -> 5 bd, 5 od, stop.
    mor = Prescription(
        drug="morphine",
        form="modified-release tablet",
        strength="10 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )
    plan = taper_plan([mor, oxy_mr()], start=START)
    assert plan.order == (1, 0)
    changed = [s.changed_prescription for s in plan.steps[1:]]
    assert changed == [1] * 9 + [0] * 3
    assert plan.steps[0].daily_ome_mg == D(140)
    # the order is a parameter
    other = taper_plan([mor, oxy_mr()], start=START, order=[0, 1])
    assert [s.changed_prescription for s in other.steps[1:4]] == [0, 0, 0]
    # each step changes exactly one prescription, and only its own ingredient
    for step in plan.steps[1:]:
        assert step.change_mg < 0


def test_refusals_are_explicit() -> None:
    methadone = Prescription(
        drug="methadone",
        form="oral solution",
        strength="1 mg/mL",
        dose_quantity=30,
        dose_unit="mL",
        doses_per_day=1,
    )
    prn = Prescription(
        drug="morphine",
        form="oral solution",
        strength="10 mg/5 mL",
        dose_quantity=5,
        dose_unit="mL",
        interval_hours=4,
        prn=True,
        max_doses_per_day=4,
    )
    odd_strength = oxy_mr(mg=7)
    every_7_hours = Prescription(
        drug="oxycodone",
        form="modified-release tablet",
        strength="10 mg",
        dose_quantity=1,
        dose_unit="tablet",
        interval_hours=7,
    )
    ranged = Prescription(
        drug="oxycodone",
        form="modified-release tablet",
        strength="10 mg",
        dose_quantity=1,
        dose_quantity_max=2,
        dose_unit="tablet",
        doses_per_day=2,
    )
    capped = oxy_mr(max_doses_per_day=1)
    plan = taper_plan([methadone, prn, odd_strength, every_7_hours, ranged, capped], start=START)
    assert plan.status is PlanStatus.NOT_PLANNED
    assert plan.steps == ()
    reasons = {n.prescription_index: n.reason for n in plan.not_planned}
    assert set(reasons) == {0, 1, 2, 3, 4, 5}
    assert "specialist" in reasons[0]
    assert "when-required" in reasons[1]
    assert "catalogue" in reasons[2]
    assert "whole number of doses" in reasons[3]
    assert "range" in reasons[4]
    assert "daily maximum" in reasons[5]
    # a plannable one alongside: partial, the rest planned
    partial = taper_plan([methadone, oxy_mr()], start=START)
    assert partial.status is PlanStatus.PARTIAL
    assert [n.prescription_index for n in partial.not_planned] == [0]
    assert partial.steps[0].daily_ome_mg == 120  # methadone is not in the totals


def test_hold_points_and_slower_pace() -> None:
    # hold 2 extra intervals at step 2; from step 4, every 28 days and 5%
    plan = taper_plan(
        [oxy_mr()],
        start=START,
        hold_points=[HoldPoint(at_step=2, intervals=2)],
        pace=[PaceChange(from_step=4, every_days=28, reduction=D("0.05"))],
    )
    dates = [s.date for s in plan.steps]
    assert dates[1] == START
    assert dates[2] == START + dt.timedelta(days=14)
    assert plan.steps[2].hold_intervals == 2
    assert dates[3] == START + dt.timedelta(days=14 + 42)  # 14 x (1 + 2)
    assert dates[4] == dates[3] + dt.timedelta(days=14)
    assert dates[5] == dates[4] + dt.timedelta(days=28)
    assert plan.steps[4].reduction == D("0.05")
    # step 4 at 5%: 50 x 0.95 = 47.5 -> 23.75 a dose; 25 no change -> 20
    assert plan.steps[4].items[0].per_dose == 20
    assert plan.steps[3].reduction == D("0.10")


def test_reduce_from_starting_dose() -> None:
    # 10% of the starting 80 mg/day = 8 mg/day every step (a linear taper), oxycodone bd:
    # 80 - 8 = 72 -> 36 -> 35; 70 - 8 = 62 -> 31 -> 30; 60 - 8 = 52 -> 26 -> 25
    plan = taper_plan([oxy_mr()], start=START, reduce_from="starting")
    assert [d for d, _ in per_dose(plan)][:4] == [D(40), D(35), D(30), D(25)]


def test_replan_from_the_dose_actually_taken() -> None:
    plan = taper_plan([oxy_mr()], start=START)
    # at step 3 (planned 25 mg bd) the patient stayed on 30 mg bd
    actual = [oxy_mr(mg=30)]
    new = replan(plan, 3, actual)
    assert [s.number for s in new.history] == [0, 1, 2]
    assert new.steps[0].number == 3
    assert new.steps[0].daily_ome_mg == 90
    assert new.steps[0].date == plan.steps[3].date
    # next reduction one interval later: 60 x 0.9 = 54 -> 27 -> 25
    assert new.steps[1].date == plan.steps[3].until
    assert new.steps[1].items[0].per_dose == 25
    assert new.steps[-1].daily_ome_mg == 0
    with pytest.raises(InvalidInputError):
        replan(plan, 99, actual)


def test_deterministic() -> None:
    rxs = [oxy_mr(), fentanyl("25")]
    assert taper_plan(rxs, start=START) == taper_plan(rxs, start=START)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("reduction", D(0)),
        ("reduction", D(1)),
        ("every", dt.timedelta(hours=36)),
        ("target", D(-1)),
        ("reduce_from", "fastest"),
        ("order", [0, 0]),
        ("order", [5]),
    ],
)
def test_bad_options(option: str, value: object) -> None:
    with pytest.raises(InvalidInputError):
        taper_plan([oxy_mr()], start=START, **{option: value})  # type: ignore[arg-type]


def test_buprenorphine_moves_down_to_7_day_patches_never_back() -> None:
    # Buprenorphine 52.5 microgram/hour (3- to 4-day patch, changed every 96 h) = 126 OME.
    # 52.5 x 0.9 = 47.25: nearest is 52.5 itself (no change) -> the highest strictly lower
    # dispensable dose: 40 = 2 x 20 (7-day family, whose largest patch 20 < 35); change
    # interval becomes 168 h. From then on only 7-day patches (no 35 = 3- to 4-day patch):
    # 40 x 0.9 = 36 -> 35 = 20 + 15 (7-day).
    rx = Prescription(
        drug="buprenorphine",
        form="transdermal patch",
        strength="52.5 microgram/hour",
        dose_quantity=1,
        dose_unit="patch",
        interval_hours=96,
    )
    plan = taper_plan([rx], start=START)
    first, second = plan.steps[1].items[0], plan.steps[2].items[0]
    assert first.per_dose == 40
    assert [(line.strength, line.dose_quantity) for line in first.lines] == [
        ("20 microgram/hour", D(2))
    ]
    assert first.interval_hours == 168
    assert "different type of patch" in first.instruction
    assert second.per_dose == 35
    assert sorted(line.strength for line in second.lines) == [
        "15 microgram/hour",
        "20 microgram/hour",
    ]
    assert plan.steps[0].items[0].interval_hours == 96


def test_brand_is_kept_and_a_mass_dose_is_read() -> None:
    # OxyContin 40 mg (AMP 2897211000001106) bd: the other strengths come from the same brand
    # (modified-release opioids are prescribed by brand). 40 mg of 20 mg tablets = 2 tablets.
    brand = Prescription(
        dmd_code="2897211000001106", dose_quantity=1, dose_unit="tablet", doses_per_day=2
    )
    plan = taper_plan([brand], start=START)
    names = {line.product_name for s in plan.steps[1:-1] for line in s.items[0].lines}
    assert names
    assert all(n.startswith("OxyContin") for n in names)
    by_mass = Prescription(
        drug="oxycodone",
        form="modified-release tablet",
        strength="20 mg",
        dose_quantity=40,
        dose_unit="mg",
        doses_per_day=2,
    )
    first = taper_plan([by_mass], start=START).steps[0].items[0]
    assert first.per_dose == 40
    assert [(line.strength, line.dose_quantity) for line in first.lines] == [("20 mg", D(2))]


def test_own_catalogue_object() -> None:
    from opioidcds import load_catalogue  # noqa: PLC0415
    from opioidcds._knowledge.paths import knowledge_dir  # noqa: PLC0415

    own = load_catalogue(knowledge_dir("catalogue"))
    plan = taper_plan([oxy_mr()], start=START, catalogue=own)
    assert [s.daily_ome_mg for s in plan.steps][:2] == [D(120), D(105)]


def test_not_an_opioid_and_unknown_drug() -> None:
    unknown = Prescription(drug="zzz-unknown", form="tablet", strength="5 mg",
                           dose_quantity=1, dose_unit="tablet", doses_per_day=1)  # fmt: skip
    plan = taper_plan([unknown], start=START)
    assert plan.status is PlanStatus.NOT_PLANNED
    assert "cannot be read" in plan.not_planned[0].reason


def test_injection_is_not_planned() -> None:
    rx = Prescription(
        drug="morphine",
        form="injection",
        strength="10 mg/mL",
        dose_quantity=1,
        dose_unit="mL",
        doses_per_day=2,
    )
    plan = taper_plan([rx], start=START)
    assert plan.status is PlanStatus.NOT_PLANNED
    assert "injection" in plan.not_planned[0].reason


def test_bad_pace_and_holds() -> None:
    with pytest.raises(InvalidInputError):
        PaceChange(from_step=2)
    with pytest.raises(InvalidInputError):
        taper_plan(
            [oxy_mr()],
            start=START,
            hold_points=[HoldPoint(at_step=2, intervals=1), HoldPoint(at_step=2, intervals=3)],
        )


def test_same_product_kind_prescribed_as_two_items_is_one_dose() -> None:
    # oxycodone MR 30 mg bd + 5 mg bd (two prescriptions) = 35 mg bd = 105 OME, tapered as one
    # dose: 70 x 0.9 = 63 -> 31.5 -> 30 bd (90 OME)
    plan = taper_plan([oxy_mr(mg=30), oxy_mr(mg=5)], start=START)
    assert plan.steps[0].daily_ome_mg == 105
    (item,) = plan.steps[0].items
    assert item.prescription_indices == (0, 1)
    assert item.per_dose == 35
    assert plan.steps[1].items[0].per_dose == 30
    assert plan.steps[1].changed_prescription == 0
    # order by either position refers to the merged dose
    assert taper_plan([oxy_mr(mg=30), oxy_mr(mg=5)], start=START, order=[1]).order == (0,)


def test_replan_with_the_planned_dose_continues_the_plan() -> None:
    plan = taper_plan([oxy_mr()], start=START)
    for k in range(1, len(plan.steps)):
        step = plan.steps[k]
        if not step.prescriptions():
            continue
        again = replan(plan, k, step.prescriptions())
        assert [s.daily_ome_mg for s in again.steps] == [s.daily_ome_mg for s in plan.steps[k:]]
        assert [s.date for s in again.steps] == [s.date for s in plan.steps[k:]]


def test_a_non_opioid_alongside_does_not_make_the_plan_partial() -> None:
    paracetamol = Prescription(
        drug="paracetamol",
        form="tablet",
        strength="500 mg",
        dose_quantity=2,
        dose_unit="tablet",
        doses_per_day=4,
    )
    plan = taper_plan([paracetamol, oxy_mr()], start=START)
    assert plan.status is PlanStatus.PLANNED
    (left_out,) = plan.not_planned
    assert left_out.prescription_index == 0
    assert not left_out.opioid
    assert "not an opioid" in left_out.reason


def test_own_catalogue_still_gets_the_plausibility_check() -> None:
    # a catalogue loaded from its folder is a separate object from the bundled default; three
    # prescriptions of 200 mg x 10/day = 6 g/day of morphine exceed the 5 g/day limit
    # (conversion_tables/plausibility.toml) whichever catalogue the caller passes
    from opioidcds import load_catalogue  # noqa: PLC0415
    from opioidcds._knowledge.paths import knowledge_dir  # noqa: PLC0415 - appended test

    own = load_catalogue(knowledge_dir("catalogue"))
    assert own is not load_catalogue()
    p = Prescription(
        drug="morphine",
        form="tablet",
        strength="200 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=10,
    )
    with pytest.raises(InvalidInputError, match="implausible"):
        taper_plan([p, p, p], start=dt.date(2027, 1, 4), catalogue=own)
