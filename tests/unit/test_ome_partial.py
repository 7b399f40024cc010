"""One unreadable item never refuses the others (issue 18).

The rest is computed, the item is listed as not convertible with the field and rule it broke,
and the total is a stated lower bound. ``item_errors="raise"`` keeps the old whole refusal;
plausibility limits (unit confusion, hazard HAZ-002) refuse in both modes. Tablets and
capsules in a dosage text are the same count of solid doses.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from opioidcds import (
    InvalidInputError,
    ItemStatus,
    Prescription,
    calculate_ome,
)

TRAMADOL_50_CAPS = "42017811000001106"  # dm+d VMP Tramadol 50mg capsules
DIHYDROCODEINE_30 = "39708511000001104"  # dm+d VMP Dihydrocodeine 30mg tablets
EMIS_TRAMADOL = "ONE OR TWO TO BE TAKEN UP TO FOUR TIMES A DAY. Maximum 8 Tablets in 24 Hours"
CAPSULES_AND_TABLETS = (
    "TAKE ONE OR TWO CAPSULES UP TO FOUR TIMES A DAY. Maximum 8 Tablets in 24 Hours"
)
DIHYDROCODEINE = Prescription(
    dmd_code=DIHYDROCODEINE_30, dosage_text="ONE TO BE TAKEN FOUR TIMES A DAY"
)


def test_emis_maximum_in_tablets_on_capsules_and_the_dihydrocodeine_give_52() -> None:
    # tramadol 50 mg capsules, 1-2 up to 4 times a day, "Maximum 8 Tablets in 24 Hours": the
    # maximum counts the capsules (same count of solid doses). Maximum policy: 2 x 4 = 8
    # capsules (the cap of 8 is the same) x 50 mg = 400 mg x 0.1 (tramadol oral, OA/BNF) = 40.
    # Dihydrocodeine 30 mg x 1 x 4/day = 120 mg x 0.1 = 12. Total 40 + 12 = 52.
    tramadol = Prescription(dmd_code=TRAMADOL_50_CAPS, dosage_text=EMIS_TRAMADOL)
    result = calculate_ome([tramadol, DIHYDROCODEINE])
    assert result.total_mg_per_day == 52
    assert result.complete
    assert [i.ome_mg_per_day for i in result.items] == [40, 12]
    assert "the same count of solid doses" in (result.items[0].policy_note or "")


def test_the_equivalence_is_only_between_tablets_and_capsules() -> None:
    # "patches" for a capsule product is not the same dose: the item is not read, and the
    # dihydrocodeine's 12 (as above) is kept as a stated lower bound
    text = "ONE OR TWO TO BE TAKEN UP TO FOUR TIMES A DAY. Maximum 8 patches in 24 Hours"
    result = calculate_ome(
        [Prescription(dmd_code=TRAMADOL_50_CAPS, dosage_text=text), DIHYDROCODEINE]
    )
    assert result.total_mg_per_day == 12
    assert not result.complete
    tramadol = result.items[0]
    assert tramadol.status is ItemStatus.NOT_CONVERTIBLE
    assert tramadol.drug == "Tramadol 50mg capsules"
    assert tramadol.reason == "not read: dose_unit: does not fit the form"


def test_a_structured_dose_in_the_other_solid_noun_is_still_refused() -> None:
    # the equivalence applies to what a dosage text says, never to a structured dose
    structured = Prescription(
        dmd_code=TRAMADOL_50_CAPS, dose_quantity=1, dose_unit="tablet", doses_per_day=4
    )
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([structured], item_errors="raise")
    assert (info.value.field, info.value.rule) == (
        "prescriptions[0].dose_unit",
        "does not fit the form",
    )


def test_capsules_with_a_maximum_in_tablets_stated_both_ways() -> None:
    # "TAKE ONE OR TWO CAPSULES ... Maximum 8 Tablets": 40 + 12 = 52, as above
    tramadol = Prescription(dmd_code=TRAMADOL_50_CAPS, dosage_text=CAPSULES_AND_TABLETS)
    assert calculate_ome([tramadol, DIHYDROCODEINE]).total_mg_per_day == 52


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (
            Prescription(
                dmd_code=DIHYDROCODEINE_30,
                strength="60 mg",
                dose_quantity=1,
                dose_unit="tablet",
                doses_per_day=2,
            ),
            "not read: strength: contradicts the dm+d product's strength",
        ),
        (
            Prescription(dmd_code="123456789", dosage_text="one daily"),
            "not read: dmd_code: not in the product catalogue",
        ),
        (
            Prescription(
                dmd_code=DIHYDROCODEINE_30,
                dose_quantity=2,
                dose_unit="tablet",
                doses_per_day=4,
                dosage_text="ONE TO BE TAKEN FOUR TIMES A DAY",
            ),
            "not read: dosage_text: disagrees with the structured dose_quantity",
        ),
    ],
)
def test_unreadable_items_are_listed_and_the_rest_kept(bad: Prescription, reason: str) -> None:
    # the readable dihydrocodeine gives 12 (30 mg x 4/day = 120 x 0.1); the bad item is listed
    result = calculate_ome([bad, DIHYDROCODEINE])
    assert result.total_mg_per_day == 12
    assert not result.complete
    assert result.lower_bound_reasons == ("see the items not converted",)
    first = result.items[0]
    assert (first.prescription_index, first.status, first.reason) == (
        0,
        ItemStatus.NOT_CONVERTIBLE,
        reason,
    )
    assert first.ome_mg_per_day is None
    assert "INCOMPLETE" in result.explain()
    with pytest.raises((InvalidInputError, LookupError)):
        calculate_ome([bad, DIHYDROCODEINE], item_errors="raise")


def test_implausible_amounts_still_refuse_the_whole_calculation() -> None:
    # 600 mg morphine x 10/day = 6 g/day of one opioid: over the 5 g limit (plausibility.toml)
    huge = Prescription(
        drug="morphine",
        form="tablet",
        strength="600 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=10,
    )
    with pytest.raises(InvalidInputError, match="implausible"):
        calculate_ome([huge, DIHYDROCODEINE])
    patch = Prescription(
        drug="fentanyl",
        form="transdermal patch",
        strength="1001 microgram/hour",
        dose_quantity=1,
        dose_unit="patch",
        interval_hours=72,
    )
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([DIHYDROCODEINE, patch])
    assert (info.value.field, info.value.rule) == (
        "prescriptions[1].strength",
        "patch rate above the plausible maximum",
    )


def test_item_errors_must_be_list_or_raise() -> None:
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([DIHYDROCODEINE], item_errors="ignore")  # type: ignore[arg-type]
    assert info.value.field == "item_errors"


def test_a_minimum_and_an_unread_item_give_both_reasons() -> None:
    minimum = Prescription(
        dmd_code=DIHYDROCODEINE_30,
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=4,
        dose_is_minimum=True,
    )
    unread = Prescription(dmd_code="123456789", dosage_text="one daily")
    result = calculate_ome([minimum, unread])
    assert result.total_mg_per_day == Decimal(12)  # 30 x 4 = 120 x 0.1
    assert result.lower_bound_reasons == (
        "see the items not converted",
        "a dose was given as a minimum (the least the patient takes)",
    )
