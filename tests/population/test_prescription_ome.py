"""Each prescription's OME from unit items x units a day (population.prescription_ome).

The screening no longer calls the calculator once per (product, text) or per set: it scales
the calculator's items for one unit of the product by the units a day of the dose. These tests
check, pair by pair, that the scaled result equals the calculator's own result for the same
prescription, that a text is called usable exactly when ``dosage_usable`` says so, that a
schedule that does not terminate is left to the library, and the hand-worked values.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from opioidcds import Prescription, calculate_ome, default_knowledge
from opioidcds._measure.results import ItemStatus
from opioidcds.population.build import Resolved, dosage_usable, resolve_product
from opioidcds.population.prescription_ome import Setting, UnitMeasures
from opioidcds.population.vector import _usable_texts, plain

from .helpers import code

_TEXTS = (
    "one tablet twice a day",
    "take 1-2 tablets four times a day when required",
    "TWO TABLETS EVERY 6 HOURS",
    "one tablet every 4-6 hours max 6 in 24 hours",
    "half a tablet at night",
    "one capsule three times a day",
    "one or two capsules qds prn",
    "5ml four times a day",
    "2.5 to 5 ml every 4 hours when required",
    "10mg every 4 hours when required",
    "apply one patch every 72 hours",
    "APPLY TWO PATCHES EVERY 3 DAYS",
    "apply one patch weekly",
    "one tablet every 3 days",  # 24/72 = 1/3 tablet a day: does not terminate
    "as directed",
    "one tablet when required",  # PRN, no frequency or maximum: no daily amount
    "take one",
    "one ampoule twice a day",
)
_PRODUCTS = (
    "Oxycodone 40mg modified-release tablets",
    "Co-codamol 30mg/500mg tablets",
    "Tramadol 50mg capsules",
    "Morphine sulfate 10mg/5ml oral solution",
    "Fentanyl 25micrograms/hour transdermal patches",
    "Methadone 10mg/1ml solution for injection ampoules",  # no factor in the UK table
    "Buprenorphine 5micrograms/hour transdermal patches",
    "Codeine 30mg tablets",
)


def _measures() -> UnitMeasures:
    kb = default_knowledge()
    return UnitMeasures(Setting(kb.table, kb.vocabulary, kb.catalogue))


def _resolved(name: str) -> Resolved:
    return resolve_product(code(name), None)


def _pairs() -> list[tuple[str, str]]:
    return [(p, t) for p in _PRODUCTS for t in _TEXTS]


@pytest.mark.parametrize(("name", "text"), _pairs())
def test_scaled_items_equal_the_calculator(name: str, text: str) -> None:
    m = _measures()
    r = _resolved(name)
    dose = m.text_dose(0, r, text)
    measured = None if dose is None else m.measure(r, dose)
    kb = default_knowledge()
    rx = Prescription(dmd_code=r.dmd_code, dosage_text=text)
    try:
        want = calculate_ome([rx], table=kb.table, vocabulary=kb.vocabulary, catalogue=kb.catalogue)
    except Exception:
        assert measured is None
        return
    if measured is None:
        return  # left to the library (the patient goes to the reference path)
    assert measured.ome == want.total_mg_per_day
    assert want.exact  # only exact values are measured here
    assert measured.unconverted == any(i.status is ItemStatus.NOT_CONVERTIBLE for i in want.items)
    assert measured.opioid_item == any(i.status is not ItemStatus.NOT_OPIOID for i in want.items)
    got = sorted((ing, unit, amount) for ing, unit, amount in measured.amounts)
    expected = sorted(
        (i.ingredient, i.daily_amount_unit, i.daily_amount)
        for i in want.items
        if i.daily_amount is not None
    )
    assert got == expected


def test_usable_is_dosage_usable() -> None:
    m = _measures()
    pairs = _pairs()
    resolved = [_resolved(name) for name in _PRODUCTS]
    rids = [_PRODUCTS.index(p) for p, _ in pairs]
    texts = [t for _, t in pairs]
    meds = pl.DataFrame({"rid": rids, "text": texts}, schema={"rid": pl.Int64, "text": pl.String})
    found = _usable_texts(meds, resolved, m)
    why = {(rid, text): w for rid, text, w in found.iter_rows()}
    got = [why[(rid, text)] for rid, text in zip(rids, texts, strict=True)]
    want = [dosage_usable(resolved[i].dmd_code, None, t) for i, t in zip(rids, texts, strict=True)]
    assert got == want
    assert 0 < got.count(None) < len(got)  # usable and unusable pairs: not vacuous


def test_most_pairs_are_measured_here() -> None:
    """The fast path really is used (else the differential tests would test the fallback)."""
    m = _measures()
    measured = 0
    for name, text in _pairs():
        r = _resolved(name)
        dose = m.text_dose(0, r, text)
        measured += dose is not None and m.measure(r, dose) is not None
    assert measured >= 40  # of the 44 usable pairs


def test_a_schedule_that_does_not_terminate_is_left_to_the_library() -> None:
    m = _measures()
    r = _resolved("Oxycodone 40mg modified-release tablets")
    dose = m.text_dose(0, r, "one tablet every 3 days")
    assert dose is not None
    assert m.measure(r, dose) is None
    # the calculator itself says its value is not exact (40 mg x 24 h / 72 h)
    assert not calculate_ome(
        [Prescription(dmd_code=r.dmd_code, dosage_text="one tablet every 3 days")]
    ).exact


@pytest.mark.parametrize(
    ("name", "text", "mg"),
    [
        # oxycodone 40 mg x 2 a day = 80 mg x 1.5 (Opioids Aware, oxycodone oral) = 120
        ("Oxycodone 40mg modified-release tablets", "one tablet twice a day", "120"),
        # fentanyl 25 microgram/hour x 1 patch x 2.4 (Opioids Aware, patches) = 60;
        # the change interval does not change the daily OME
        ("Fentanyl 25micrograms/hour transdermal patches", "apply one patch every 72 hours", "60"),
        # morphine 10 mg/5 mL: 5 mL = 10 mg, x 4 a day = 40 mg x 1 (oral morphine) = 40
        ("Morphine sulfate 10mg/5ml oral solution", "5ml four times a day", "40"),
        # tramadol 50 mg, 2 capsules x 4 a day (PRN at its maximum) = 400 mg x 0.1 = 40
        ("Tramadol 50mg capsules", "one or two capsules qds prn", "40"),
    ],
)
def test_hand_worked_values(name: str, text: str, mg: str) -> None:
    m = _measures()
    r = _resolved(name)
    dose = m.text_dose(0, r, text)
    assert dose is not None
    measured = m.measure(r, dose)
    assert measured is not None
    assert measured.ome == Decimal(mg)
    assert not measured.unconverted


def test_plain_keeps_the_value() -> None:
    assert str(plain(Decimal("60.000"))) == "60"
    assert str(plain(Decimal("6E+1"))) == "60"
    assert str(plain(Decimal("37.500"))) == "37.5"
    long = Decimal(10) / Decimal(7)  # 28 digits at the default precision
    assert plain(long) == long
