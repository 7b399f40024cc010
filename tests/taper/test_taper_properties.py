"""Properties of tapering plans (issue 7): never up, dispensable, reaches the target,
deterministic, bounded. Profiles come from tests/conftest.py."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from opioidcds import Prescription, TaperPlan, calculate_ome, load_catalogue, replan, taper_plan
from opioidcds._decide.taper import PlanStatus, ProductLine, default_taper_knowledge
from opioidcds._knowledge.vocabulary import default_vocabulary
from opioidcds._resolve.prescription import resolve_prescription
from opioidcds.testing import decimals

START = dt.date(2027, 1, 4)

# (drug, form, strengths, dose unit, max units a dose, max doses a day)
UNIT_REGIMENS = [
    ("oxycodone", "modified-release tablet", ["5", "10", "20", "40", "80"], "tablet", 2, 2),
    ("morphine", "modified-release tablet", ["10", "30", "60", "100"], "tablet", 2, 2),
    ("tramadol", "capsule", ["50"], "capsule", 2, 4),
    ("codeine", "tablet", ["15", "30", "60"], "tablet", 2, 4),
    ("co-codamol", "tablet", ["30 mg/500", "8 mg/500", "15 mg/500"], "tablet", 2, 4),
]
PATCHES = [
    ("fentanyl", ["12", "25", "37.5", "50", "75", "100"], 72),
    ("buprenorphine", ["5", "10", "20"], 168),
    ("buprenorphine", ["35", "52.5", "70"], 96),
]


@st.composite
def taperable(draw: st.DrawFn) -> Prescription:
    kind = draw(st.sampled_from(["unit", "patch", "liquid"]))
    if kind == "patch":
        drug, rates, hours = draw(st.sampled_from(PATCHES))
        return Prescription(
            drug=drug,
            form="transdermal patch",
            strength=f"{draw(st.sampled_from(rates))} microgram/hour",
            dose_quantity=draw(st.integers(1, 2)),
            dose_unit="patch",
            interval_hours=hours,
        )
    if kind == "liquid":
        return Prescription(
            drug="morphine",
            form="oral solution",
            strength="10 mg/5 mL",
            dose_quantity=draw(decimals("0.5", "10", 1)),
            dose_unit="mL",
            doses_per_day=draw(st.integers(1, 6)),
        )
    drug, form, strengths, unit, units, per_day = draw(st.sampled_from(UNIT_REGIMENS))
    strength = draw(st.sampled_from(strengths))
    strength = f"{strength} mg" if "/" in strength or "mg" not in strength else strength
    return Prescription(
        drug=drug,
        form=form,
        strength=strength,
        dose_quantity=draw(st.integers(1, units)),
        dose_unit=unit,
        doses_per_day=draw(st.integers(1, per_day)),
    )


options = st.fixed_dictionaries(
    {
        "reduction": decimals("0.05", "0.5", 2),
        "every": st.integers(7, 28).map(lambda d: dt.timedelta(days=d)),
        "target": st.sampled_from([Decimal(0), Decimal(20), Decimal(50), Decimal(90)]),
        "reduce_from": st.sampled_from(["current", "starting"]),
    }
)


def non_opioid_per_dose(lines: tuple[ProductLine, ...]) -> Decimal:
    catalogue = load_catalogue()
    vocab = default_vocabulary()
    total = Decimal(0)
    for line in lines:
        for ing in catalogue.by_code(line.dmd_code).ingredients:
            if not vocab.is_opioid(ing.name):
                total += ing.amount * line.dose_quantity
    return total


def check_plan(rxs: list[Prescription], plan: TaperPlan) -> None:
    catalogue = load_catalogue()
    vocab = default_vocabulary()
    res = default_taper_knowledge().dispensing.liquid_ml_resolution
    assert plan.status is PlanStatus.PLANNED, plan.not_planned
    steps = plan.steps
    # the current dose is what the OME calculator says it is
    assert calculate_ome(rxs).total_mg_per_day == steps[0].daily_ome_mg
    # never increases (and every step after the first is a real reduction)
    for before, after in itertools.pairwise(steps):
        assert after.daily_ome_mg < before.daily_ome_mg
        assert after.change_mg == after.daily_ome_mg - before.daily_ome_mg
        assert before.date is None or (after.date is not None and after.date > before.date)
        for item in after.items:
            old = next(i for i in before.items if i.prescription_index == item.prescription_index)
            assert item.daily_amount <= old.daily_amount
            # no non-opioid ingredient (paracetamol) per dose goes up, step to step
            if not item.stopped:
                assert non_opioid_per_dose(item.lines) <= non_opioid_per_dose(old.lines)
    # reaches the target, and goes no further than needed
    assert plan.target_reached
    assert steps[-1].daily_ome_mg <= plan.target_ome_mg
    if len(steps) > 1:
        assert steps[-2].daily_ome_mg > plan.target_ome_mg
    # every step is dispensable from the catalogue: same ingredients and form as prescribed,
    # whole tablets and patches, liquids in whole resolution steps (a dose not yet changed is
    # the one the pharmacy already dispenses, e.g. 0.6 mL)
    first = {i.prescription_index: i for i in steps[0].items}
    for step in steps[1:]:
        for item in step.items:
            if item == first[item.prescription_index]:
                continue
            original = resolve_prescription(rxs[item.prescription_index], vocab)
            assert original.form is not None
            for line in item.lines:
                product = catalogue.by_code(line.dmd_code)
                assert product.ingredient_names == tuple(i.name for i in original.ingredients)
                assert product.form == original.form.name
                assert product.strength == line.strength
                step_units = line.dose_quantity / (res if line.dose_unit == "mL" else 1)
                assert step_units == step_units.to_integral_value()
        # and the OME calculator agrees with the plan's total
        assert calculate_ome(step.prescriptions()).total_mg_per_day == step.daily_ome_mg


@given(st.lists(taperable(), min_size=1, max_size=3), options)
def test_plans_never_increase_are_dispensable_and_reach_the_target(
    rxs: list[Prescription], opts: dict[str, object]
) -> None:
    plan = taper_plan(rxs, start=START, **opts)  # type: ignore[arg-type]
    check_plan(rxs, plan)
    assert taper_plan(rxs, start=START, **opts) == plan  # type: ignore[arg-type]  # deterministic


def oxy(mg: int, n: int) -> Prescription:
    return Prescription(
        drug="oxycodone",
        form="modified-release tablet",
        strength=f"{mg} mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=n,
    )


def morphine_mr(mg: int, n: int) -> Prescription:
    return Prescription(
        drug="morphine",
        form="modified-release tablet",
        strength=f"{mg} mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=n,
    )


FENTANYL_50 = Prescription(
    drug="fentanyl",
    form="transdermal patch",
    strength="50 microgram/hour",
    dose_quantity=1,
    dose_unit="patch",
    interval_hours=72,
)

# 120 mg OME/day regimens and a bound on the number of reduction steps, by hand. Each step goes
# to a strictly lower state, so the steps are at most: (dispensable per-dose amounts below the
# starting one) + (doses a day - 1, dropped one at a time at the smallest amount) + 1 (stop).
# - oxycodone 40 mg bd (1.5 x 80): every multiple of 5 mg is dispensable (5-mg steps):
#   35, 30, ..., 5 = 7 amounts; + 1 + 1 = 9
# - oxycodone 20 mg qds: 15, 10, 5 = 3; + 3 + 1 = 7
# - morphine MR 60 mg bd (5, 10, 15, 30, 60 ... mg tablets, up to 3): 55, 50, ..., 5 = 11;
#   + 1 + 1 = 13
# - fentanyl 50 microgram/hour (2.4 x 50): 49.5, 37.5, 37, 25, 24, 12 = 6; + 0 + 1 = 7
BOUNDED_120 = [(oxy(40, 2), 9), (oxy(20, 4), 7), (morphine_mr(60, 2), 13), (FENTANYL_50, 7)]


@given(st.sampled_from(BOUNDED_120))
def test_ten_percent_from_120_reaches_zero_in_bounded_steps(case: tuple[Prescription, int]) -> None:
    rx, bound = case
    plan = taper_plan([rx], start=START)  # defaults: 10% every 14 days
    assert plan.start_ome_mg == 120
    assert plan.final_ome_mg == 0
    reductions = len(plan.steps) - 1
    assert reductions <= bound
    # and in time: at most (bound - 1) x 14 days after the start
    end = plan.end_date
    assert end is not None
    assert end <= START + dt.timedelta(days=14 * (bound - 1))


def test_the_40_mg_bd_bound_is_reached_exactly() -> None:
    # worked in test_taper_examples: 9 steps, each 5 mg a dose lower; stopped on day 112
    plan = taper_plan([oxy(40, 2)], start=START)
    assert len(plan.steps) - 1 == 9
    assert plan.end_date == START + dt.timedelta(days=112)


@given(taperable(), st.data())
def test_replan_with_the_planned_dose_gives_the_same_tail(
    rx: Prescription, data: st.DataObject
) -> None:
    # re-planning from step k with exactly the planned dose continues the same plan
    # (reduce_from "current"; patches at most 2 worn, as taper.toml allows)
    if rx.dose_unit == "patch" and rx.dose_quantity is not None and rx.dose_quantity > 2:
        return
    plan = taper_plan([rx], start=START)
    k = data.draw(st.integers(0, len(plan.steps) - 1))
    taken = plan.steps[k].prescriptions()
    if not taken:  # the last step stopped it: nothing to re-plan
        return
    again = replan(plan, k, taken)
    assert [s.daily_ome_mg for s in again.steps] == [s.daily_ome_mg for s in plan.steps[k:]]
    assert [s.date for s in again.steps[1:]] == [s.date for s in plan.steps[k + 1 :]]
