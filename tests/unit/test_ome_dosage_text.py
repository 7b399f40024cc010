"""Prescriptions with free-text dosage (issue 3): read by the grammar, never guessed."""

from __future__ import annotations

import pytest

from opioidcds import InvalidInputError, ItemStatus, Prescription, calculate_ome

OXY_40_MR = "36130911000001104"  # Oxycodone 40mg modified-release tablets
FENTANYL_25 = "36120011000001101"  # Fentanyl 25micrograms/hour transdermal patches


def total(**fields: object) -> object:
    return calculate_ome([Prescription(**fields)]).total_mg_per_day


def test_one_twice_a_day_of_a_tablet_product() -> None:
    # "ONE" of a tablet product = 1 tablet; 40 mg x 2/day = 80 mg x 1.5 = 120
    assert total(dmd_code=OXY_40_MR, dosage_text="ONE TO BE TAKEN TWICE A DAY") == 120


def test_prn_range_up_to_four_times() -> None:
    # maximum policy: 2 tablets x 4/day = 8 tablets x codeine 30 mg = 240 mg x 0.1 = 24
    assert (
        total(
            product_name="Co-codamol 30mg/500mg tablets",
            dosage_text="1-2 tablets up to four times a day when required",
        )
        == 24
    )


def test_prn_interval_range_with_daily_maximum() -> None:
    # 2 tablets every 4 h = 12/day, capped at max 8 in 24 h: 8 x 30 mg = 240 x 0.1 = 24
    assert (
        total(
            drug="codeine",
            form="tablet",
            strength="30 mg",
            dosage_text="one or two tablets every 4-6 hours when required for pain, "
            "max 8 in 24 hours",
        )
        == 24
    )


def test_patch_change_interval_does_not_change_ome() -> None:
    assert total(dmd_code=FENTANYL_25, dosage_text="APPLY ONE PATCH EVERY 72 HOURS") == 60


def test_liquid_in_ml_and_in_mg() -> None:
    # 10 mg/5 mL: 5 mL x 4/day = 20 mL = 40 mg; 10 mg every 4 h PRN (max policy) = 60 mg
    liquid = {"drug": "morphine", "form": "oral solution", "strength": "10 mg/5 mL"}
    assert total(**liquid, dosage_text="5ml four times a day") == 40
    assert total(**liquid, dosage_text="10mg every 4 hours when required") == 60


def test_bracketed_strength_is_not_the_dose() -> None:
    # "(100mg) 2 to be taken twice a day" of tramadol 50 mg capsules: 2 capsules, not 100 mg:
    # 2 x 50 mg x 2/day = 200 mg x 0.1 = 20
    assert (
        total(
            drug="tramadol",
            form="capsule",
            strength="50 mg",
            dosage_text="(100mg) 2 to be taken twice a day",
        )
        == 20
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [("as directed", "as directed"), ("take with a pinch of salt", "not fully understood")],
)
def test_no_daily_amount_is_not_convertible(text: str, words: str) -> None:
    result = calculate_ome([Prescription(dmd_code=OXY_40_MR, dosage_text=text)])
    (item,) = result.items
    assert item.status is ItemStatus.NOT_CONVERTIBLE
    assert words in (item.reason or "")
    assert not result.complete


def test_liquid_count_without_unit_is_not_guessed() -> None:
    # "ONE" of an oral solution could be 1 mL or one 5 mL spoon: not convertible, not guessed
    result = calculate_ome(
        [
            Prescription(
                drug="morphine",
                form="oral solution",
                strength="10 mg/5 mL",
                dosage_text="ONE TO BE TAKEN TWICE A DAY",
            )
        ]
    )
    assert result.items[0].status is ItemStatus.NOT_CONVERTIBLE


def test_structured_dose_wins_when_it_agrees() -> None:
    result = calculate_ome(
        [
            Prescription(
                dmd_code=OXY_40_MR,
                dose_quantity=1,
                dose_unit="tablet",
                doses_per_day=2,
                dosage_text="ONE TO BE TAKEN TWICE A DAY",
            )
        ]
    )
    assert result.total_mg_per_day == 120


@pytest.mark.parametrize(
    "text",
    [
        "TWO TO BE TAKEN TWICE A DAY",
        "ONE TO BE TAKEN THREE TIMES A DAY",
        "10mg twice a day",
        "one tablet twice a day when required",
    ],
)
def test_structured_and_text_disagreeing_is_an_input_error(text: str) -> None:
    p = Prescription(
        dmd_code=OXY_40_MR, dose_quantity=1, dose_unit="tablet", doses_per_day=2, dosage_text=text
    )
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([p], item_errors="raise")
    assert info.value.field == "prescriptions[0].dosage_text"
    assert text not in str(info.value)


def test_dosage_text_alone_is_a_valid_prescription_but_a_bare_dose_is_not() -> None:
    Prescription(dmd_code=OXY_40_MR, dosage_text="ONE TWICE A DAY")
    with pytest.raises(InvalidInputError):
        Prescription(dmd_code=OXY_40_MR)


@pytest.mark.parametrize(
    "partial",
    [{"doses_per_day": 2}, {"dose_unit": "tablet"}, {"prn": True}, {"max_quantity_per_day": 8}],
)
def test_partial_structured_dose_with_text_is_refused_not_dropped(
    partial: dict[str, object],
) -> None:
    with pytest.raises(InvalidInputError) as info:
        Prescription(dmd_code=OXY_40_MR, dosage_text="one tablet", **partial)
    assert info.value.field == "dose_quantity"
