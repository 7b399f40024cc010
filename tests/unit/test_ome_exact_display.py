"""``exact`` says whether the arithmetic was exact, whatever the display rounds (issue 20).

Found while comparing the per-call changes with the code before them: writing an amount with
more than two decimal places for people ("~0.13 mg") rounds it, and that rounding, done between
the calculation and the check of its exactness, marked an exact total as inexact. The text is
now written apart from the calculation; the arithmetic still shows the rounded figure, marked
"~".
"""

from __future__ import annotations

from decimal import Decimal

from opioidcds import Prescription, calculate_ome, load_catalogue


def test_a_strength_shown_rounded_leaves_the_total_exact() -> None:
    code = next(
        p.dmd_code
        for p in load_catalogue()
        if p.product_name == "Fentanyl 133microgram sublingual tablets sugar free"
    )
    rx = Prescription(dmd_code=code, dose_quantity=2, dose_unit="tablet", interval_hours=12)
    result = calculate_ome([rx])
    # 0.133 mg x 2 tablets x 24 h / 12 h = 0.532 mg/day; x 130 (transmucosal fentanyl,
    # Opioids Aware) = 69.16 mg OME/day: every step a terminating decimal
    assert result.total_mg_per_day == Decimal("69.16")
    assert result.items[0].exact is True
    assert result.exact is True
    assert result.items[0].arithmetic.startswith("fentanyl ~0.13 mg x 2 tablet")


def test_three_decimal_strength_is_exact() -> None:
    rx = Prescription(
        drug="oxycodone",
        form="tablet",
        strength="2.125 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )
    result = calculate_ome([rx])
    # 2.125 mg x 2 = 4.25 mg/day; x 1.5 (oxycodone, Opioids Aware) = 6.375 mg OME/day
    assert result.total_mg_per_day == Decimal("6.375")
    assert result.exact is True
    assert "= ~6.38 mg OME/day" in result.items[0].arithmetic  # shown rounded, marked
