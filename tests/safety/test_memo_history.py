"""Hazard HAZ-018: a result depends only on its input, never on what was worked out before.

The per-call memos (issue 20) are keyed by content. Equal decimals may be written differently
(``1`` and ``1.0``), and a result shows an amount as its inputs write it (``30.0`` or ``30.00``
mg/day, ``total_ome_lower_bound_mg_per_day=60.000`` in a trace): a memo that answered one
input with what an earlier, equal input gave would make the JSON depend on the history of the
process. Each result here is compared with the same call in a fresh state (every bounded memo
of the library emptied, the loaded knowledge kept).
"""

from __future__ import annotations

import contextlib
import sys
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from opioidcds import OpioidCDSError, Patient, Prescription, calculate_ome, check_prescription
from opioidcds.testing import prescription_lists


def _fresh() -> None:
    """Empty every bounded memo of the library (as in a new process, knowledge loaded)."""
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("opioidcds"):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, type):  # a memo's class, not a memo
                continue
            info = getattr(value, "cache_info", None)
            clear = getattr(value, "cache_clear", None)
            if callable(info) and callable(clear) and info().maxsize is not None:
                clear()


def _rewritten(rx: Prescription) -> Prescription:
    """``rx`` with every decimal written with one more zero after the point (an equal value)."""
    update: dict[str, Any] = {}
    for name, value in rx.__dict__.items():
        if isinstance(value, Decimal):
            places = -int(value.as_tuple().exponent)
            if places < 10 and len(value.as_tuple().digits) < 20:  # within the field's limits
                text = str(value)
                update[name] = Decimal(text + ("0" if "." in text else ".0"))
    return Prescription.model_validate({**rx.model_dump(), **update})


def _oxycodone(quantity: str) -> Prescription:
    return Prescription(
        drug="oxycodone",
        form="tablet",
        strength="10 mg",
        dose_quantity=Decimal(quantity),
        dose_unit="tablet",
        doses_per_day=2,
    )


def test_ome_shows_the_numbers_as_this_input_writes_them() -> None:
    # 1 tablet x 2/day x 10 mg = 20 mg/day; x 1.5 (oxycodone, Opioids Aware) = 30 mg OME/day
    _fresh()
    fresh = calculate_ome([_oxycodone("1")]).model_dump_json()
    assert calculate_ome([_oxycodone("1")]).total_mg_per_day == Decimal(30)
    _fresh()
    calculate_ome([_oxycodone("1.00")])  # equal value, written with two places
    assert calculate_ome([_oxycodone("1")]).model_dump_json() == fresh


def test_alert_traces_show_this_patients_totals() -> None:
    # re-authorising 4 tablets x 2/day x 10 mg = 80 mg/day, x 1.5 = 120.0 mg OME/day (above
    # 100): the rule's trace shows the total as written, 120.0 here; with the dose written 4.0
    # and 2.0 it is 8.00 x 10 x 1.5 = 120.000
    new = Prescription(
        drug="oxycodone",
        form="tablet",
        strength="10 mg",
        dose_quantity=4,
        dose_unit="tablet",
        doses_per_day=2,
    )
    plain = Patient(prescriptions=(new,))
    wordy = Patient(prescriptions=(_rewritten(new),))
    _fresh()
    expected = [a.model_dump_json() for a in check_prescription(plain, new, reauthorisation=True)]
    assert any("total_ome_lower_bound_mg_per_day=120.0 " in text for text in expected)
    _fresh()
    check_prescription(wordy, _rewritten(new), reauthorisation=True)
    again = check_prescription(plain, new, reauthorisation=True)
    assert [a.model_dump_json() for a in again] == expected


@settings(max_examples=40, deadline=None)
@given(prescription_lists(max_size=3), st.booleans())
def test_any_list_gives_what_it_gives_fresh(rxs: list[Prescription], check: bool) -> None:
    def result() -> str:
        try:
            if check and rxs:
                return repr([a.model_dump_json() for a in check_prescription(Patient(), rxs[0])])
            return calculate_ome(rxs).model_dump_json()
        except OpioidCDSError as exc:  # the same refusal either way
            return repr(exc)

    _fresh()
    expected = result()
    _fresh()
    before = [_rewritten(rx) for rx in rxs]
    with contextlib.suppress(OpioidCDSError):
        calculate_ome(before)
        if check and rxs:
            check_prescription(Patient(), before[0])
    assert result() == expected
