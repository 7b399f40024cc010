"""Property tests of the calculator (issue 2): totality, monotonicity, additivity, order
independence, unit invariance, PRN ordering and determinism, via ``opioidcds.testing``."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from opioidcds import ItemStatus, Prescription, calculate_ome
from opioidcds._knowledge.tables import default_table
from opioidcds.testing import (
    check_ome_invariants,
    convertible_prescriptions,
    decimals,
    prescription_lists,
)

CDC = default_table("cdc-2022")


@given(prescription_lists())
def test_invariants_uk(rxs: list[Prescription]) -> None:
    check_ome_invariants(rxs)


@given(prescription_lists(CDC))
def test_invariants_cdc(rxs: list[Prescription]) -> None:
    check_ome_invariants(rxs, CDC)


@given(convertible_prescriptions())
def test_totality_never_none_or_zero_for_an_opioid(rx: Prescription) -> None:
    (item,) = calculate_ome([rx]).items
    assert item.status is not ItemStatus.NOT_OPIOID
    if item.status is ItemStatus.CONVERTED:
        assert item.ome_mg_per_day is not None
        assert item.ome_mg_per_day > 0
    else:
        assert item.reason


@given(convertible_prescriptions(allow_prn=False), decimals("1.1", "3", 1))
def test_monotone_in_dose(rx: Prescription, scale: Decimal) -> None:
    bigger_dose = rx.model_copy(
        update={
            "dose_quantity": rx.dose_quantity * scale if rx.dose_quantity else None,
            "dose_quantity_max": rx.dose_quantity_max * scale if rx.dose_quantity_max else None,
        }
    )
    bigger = Prescription.model_validate(bigger_dose.model_dump())
    assert calculate_ome([bigger]).total_mg_per_day >= calculate_ome([rx]).total_mg_per_day


@given(prescription_lists(max_size=3), prescription_lists(max_size=3))
def test_additive(a: list[Prescription], b: list[Prescription]) -> None:
    total = calculate_ome(a + b).total_mg_per_day
    assert total == calculate_ome(a).total_mg_per_day + calculate_ome(b).total_mg_per_day


@given(prescription_lists(), st.randoms(use_true_random=False))
def test_order_independent(rxs: list[Prescription], rnd: object) -> None:
    shuffled = list(rxs)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert calculate_ome(shuffled).total_mg_per_day == calculate_ome(rxs).total_mg_per_day


@given(st.sampled_from([5, 12, 25, 37.5, 50, 75, 100]))
def test_unit_invariance_patch_rate(rate: float) -> None:
    # 0.025 mg/h = 25 microgram/hour = 25 mcg/hr: identical OME
    micro = Decimal(str(rate))
    spellings = [f"{micro} microgram/hour", f"{micro} mcg/hr", f"{micro / 1000} mg/h"]
    totals = {
        calculate_ome(
            [
                Prescription(
                    drug="fentanyl",
                    form="transdermal patch",
                    strength=s,
                    dose_quantity=1,
                    dose_unit="patch",
                )
            ]
        ).total_mg_per_day
        for s in spellings
    }
    assert len(totals) == 1


@given(decimals("0.1", "1.2", 1), st.integers(1, 4))  # <= 4.8 g/day: plausible
def test_unit_invariance_mass(grams: Decimal, per_day: int) -> None:
    # 1 g = 1000 mg = 1,000,000 microgram for the same dose
    doses = [(grams, "g"), (grams * 1000, "mg"), (grams * 1000000, "microgram")]
    totals = {
        calculate_ome(
            [
                Prescription(
                    drug="tramadol",
                    form="capsule",
                    dose_quantity=q,
                    dose_unit=u,
                    doses_per_day=per_day,
                )
            ]
        ).total_mg_per_day
        for q, u in doses
    }
    assert len(totals) == 1


@given(convertible_prescriptions())
def test_exact_matches_rational_arithmetic(rx: Prescription) -> None:
    # Recompute every converted item with Fractions from the item's own stated factor: the
    # Decimal value must agree exactly when the item says exact, and to 1e-100 otherwise.
    (item,) = calculate_ome([rx]).items
    if item.status is not ItemStatus.CONVERTED or item.daily_amount is None:
        return
    assert item.ome_mg_per_day is not None
    assert item.factor is not None
    multiplier = (
        Fraction(24, 1000)
        if (item.daily_amount_unit == "microgram/hour" and item.factor_per == "mg")
        else Fraction(1)
    )
    expected = Fraction(item.daily_amount) * multiplier * Fraction(item.factor)
    if item.exact:
        assert Fraction(item.ome_mg_per_day) == expected
    else:
        assert abs(Fraction(item.ome_mg_per_day) - expected) < Fraction(1, 10**100)
