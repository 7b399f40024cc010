"""A patch without a usable dosage text is a lower bound in the decisions too, not only in the row.

Found in review (session 2): the row said "incomplete" but the risk-factor rules saw a complete
total, so "high dose" was absent instead of unknown. Factor: fentanyl transdermal 2.4 per
microgram/hour (conversion_tables/uk-opioids-aware.toml; "25 microgram/hour = 60 mg OME/day").
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from opioidcds.population import screen

from .helpers import AS_OF, code, day, issues, patients

PATCH = "Fentanyl 25micrograms/hour transdermal patches"


@pytest.mark.parametrize("engine", ["fast", "assess"])
def test_patch_without_dosage_text_leaves_high_dose_unknown(engine: str) -> None:
    fentanyl = code(PATCH)
    rows = [("P1", day(d), fentanyl, None, "10", None, "30") for d in (150, 100, 50, 2)]
    table = patients([{"patient_id": "P1", "age": "60", "sex": "female"}])
    result = screen(issues(rows), table, as_of=AS_OF, engine=engine)  # type: ignore[arg-type]
    (row,) = result.rows
    assert row.status == "screened"
    # one patch worn at a time assumed: 25 microgram/hour x 1 x 2.4 = 60 mg OME/day, at least
    assert row.ome_mg_per_day == Decimal(60)
    assert row.ome_complete is False
    # 60 is not above 120, but the true total may be: unknown, never absent
    assert "high-dose" in row.factors_unknown
    assert "high-dose" not in row.factors_present
