"""Text written when it is read (issue 20) is the text an eager result holds, in any thread.

An OME item's arithmetic, an alert's detail and trace and a rule decision's trace are written
on first read. Hazards HAZ-014 and HAZ-018: whatever reads them first (an attribute, JSON, a
copy, a pickle, ``==``) and however many threads read at once, every reader sees the same
text, and the result equals one built eagerly from the same values.
"""

from __future__ import annotations

import copy
import pickle
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from opioidcds import (
    Alert,
    OMEItem,
    OMEResult,
    Patient,
    Prescription,
    calculate_ome,
    check_prescription,
)
from opioidcds._measure.ome import _measure_cached

PATCH = Prescription(dmd_code="36120011000001101", dosage_text="apply one patch every 72 hours")
TABLETS = Prescription(
    drug="oxycodone",
    form="tablet",
    strength="10 mg",
    dose_quantity=Decimal("1.5"),
    dose_unit="tablet",
    interval_hours=7,  # 24 / 7 does not terminate: the arithmetic shows a rounded figure
)
PATIENT = Patient(age=70, sex="male", prescriptions=(PATCH,))


def _fresh_ome() -> OMEResult:
    _measure_cached.cache_clear()  # items not shared with an earlier call
    return calculate_ome([PATCH, TABLETS])


def _eager(result: Any) -> Any:
    """The same result built by validating its values (every field given, nothing deferred)."""
    return type(result).model_validate(result.model_dump())


def test_arithmetic_read_first_equals_arithmetic_serialised_first() -> None:
    by_attribute = _fresh_ome()
    texts = [item.arithmetic for item in by_attribute.items]
    by_json = _fresh_ome()
    dumped = by_json.model_dump_json()
    assert [item.arithmetic for item in by_json.items] == texts
    assert by_attribute.model_dump_json() == dumped
    # fentanyl 25 microgram/hour x 1 patch = 25 microgram/hour, x 2.4 = 60 mg OME/day
    assert "x 2.4 = 60 mg OME/day" in texts[0]
    # oxycodone 1.5 x 10 mg every 7 h = 360 / 7 = 51.428... mg/day, x 1.5 = 77.142... mg
    # OME/day: not exact, so the arithmetic shows the figures rounded, marked "~"
    assert "= ~51.43 mg/day x 1.5 = ~77.14 mg OME/day" in texts[1]
    assert not by_json.items[1].exact


@pytest.mark.parametrize("read_first", ["json", "copy", "deepcopy", "pickle", "eq", "repr"])
def test_every_way_of_reading_gives_the_eager_result(read_first: str) -> None:
    result = _fresh_ome()
    alerts = check_prescription(PATIENT, TABLETS)
    expected = [_eager(a) for a in check_prescription(PATIENT, TABLETS)]
    for item in result.items:
        fresh: Any = {
            "json": lambda r: r.model_dump_json(),
            "copy": copy.copy,
            "deepcopy": copy.deepcopy,
            "pickle": lambda r: pickle.loads(pickle.dumps(r)),  # noqa: S301 - our own bytes
            "eq": lambda r: r == _eager(r),
            "repr": repr,
        }[read_first](item)
        assert fresh is not None
        assert item == _eager(item)
        assert isinstance(item, OMEItem)
    assert [a.model_dump_json() for a in alerts] == [a.model_dump_json() for a in expected]
    assert alerts == expected
    assert all(isinstance(a, Alert) for a in alerts)


def test_threads_reading_at_once_see_the_same_text() -> None:
    def read(objects: list[Any]) -> list[str]:
        return [o.model_dump_json() for o in objects]

    for _ in range(20):
        alerts = check_prescription(PATIENT, TABLETS.model_copy(update={"days_supply": 28}))
        items = list(_fresh_ome().items)
        objects: list[Any] = [*alerts, *items]
        with ThreadPoolExecutor(max_workers=8) as pool:
            seen = list(pool.map(read, [objects] * 8))
        assert all(s == seen[0] for s in seen)
        assert seen[0] == [_eager(o).model_dump_json() for o in objects]
