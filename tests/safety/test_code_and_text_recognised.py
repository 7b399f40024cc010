"""Review of round 8 (issue 20): what the calculator takes for "a code and a text alone".

``calculate_ome`` reads a prescription whose record of the names given *is* the shared set
``CODE_AND_TEXT`` as a dm+d code and a dosage text with every other field at its default, and
looks its plan up by its code alone. ``Prescription``'s fast path gives that record to any
class built of a code and a text. Two ways to get it for a prescription that is not so:

* pydantic's ``model_construct(_fields_set=rx.model_fields_set, ...)`` stores the set it is
  given (pydantic 2.x, no copy): a prescription with a structured dose or a minimum dose then
  has the shared record, and the calculator ignores those fields (a wrong total, "complete");
* a subclass of ``Prescription`` built of a code and a text takes the fast path: its own
  defaults (here ``dose_is_minimum = True``) are never set (before round 8 too).

Fixed by the lead after round 9: ``Prescription.model_construct`` copies the shared set it is
given, and a subclass is always built by pydantic (its own defaults, fields and validators).

Morphine 5 mg modified-release tablets (dm+d 322710001; oral morphine, factor 1, the UK table
``conversion_tables/``): "one twice a day" is 2 x 5 mg = 10 mg OME/day.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from opioidcds import Prescription, calculate_ome

MORPHINE_5MG_MR = "322710001"
TEXT = "one twice a day"


def test_a_constructed_prescription_sharing_the_record_is_read_by_its_fields() -> None:
    fast = Prescription(dmd_code=MORPHINE_5MG_MR, dosage_text=TEXT)
    # a dose stated as a minimum: the total is a lower bound (incomplete), whatever its record
    fields: dict[str, Any] = {
        "dmd_code": MORPHINE_5MG_MR,
        "dosage_text": TEXT,
        "dose_is_minimum": True,
    }
    own = Prescription.model_construct(**fields)
    shared = Prescription.model_construct(_fields_set=fast.model_fields_set, **fields)
    own_result, shared_result = calculate_ome([own]), calculate_ome([shared])
    assert not own_result.complete  # the control: read by its fields, a lower bound
    assert shared_result.complete == own_result.complete
    assert shared_result.lower_bound_reasons == own_result.lower_bound_reasons


def test_a_constructed_structured_dose_sharing_the_record_is_not_read_as_its_text() -> None:
    fast = Prescription(dmd_code=MORPHINE_5MG_MR, dosage_text=TEXT)
    # three tablets three times a day given as a structured dose beside a text that says
    # otherwise: read by its fields, the two disagree and the item is not convertible (listed,
    # the total incomplete); read as its text alone, 10 mg OME/day "complete"
    fields: dict[str, Any] = {
        "dmd_code": MORPHINE_5MG_MR,
        "dosage_text": TEXT,
        "dose_quantity": Decimal(3),
        "dose_unit": "tablet",
        "doses_per_day": Decimal(3),
    }
    own = calculate_ome([Prescription.model_construct(**fields)])
    shared = calculate_ome(
        [Prescription.model_construct(_fields_set=fast.model_fields_set, **fields)]
    )
    assert not own.complete  # the control
    assert (shared.total_mg_per_day, shared.complete) == (own.total_mg_per_day, own.complete)


class _AtLeast(Prescription):
    """A feed whose doses are all minima (a subclass default)."""

    dose_is_minimum: bool = True


def test_a_subclass_built_of_a_code_and_a_text_keeps_its_own_defaults() -> None:
    rx = _AtLeast(dmd_code=MORPHINE_5MG_MR, dosage_text=TEXT)
    assert rx.dose_is_minimum is True
    result = calculate_ome([rx])
    assert result.total_mg_per_day == Decimal(10)  # 2 x 5 mg x factor 1, at least
    assert not result.complete
