"""Bad input is a typed error naming fields, never values (no patient data in messages)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from opioidcds import AcuteEpisode, InvalidInputError, UnknownProductError, check_discharge

from .acute_helpers import OXY_IR, T0, bolus

SECRET_NAME = "Mrs Zebedee Quux-Patient"  # noqa: S105 - a fake name, not a password


def base(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "care_setting": "discharge",
        "discharge_prescriptions": [{"prescription": OXY_IR, "days_supply": 5}],
    }
    data.update(fields)
    return data


def rx(days: object) -> list[dict[str, Any]]:
    return [{"prescription": OXY_IR, "days_supply": days}]


@pytest.mark.parametrize(
    ("days", "field"),
    [
        (-987654, "discharge_prescriptions.0.days_supply"),
        (0, "discharge_prescriptions.0.days_supply"),
        ("7", "discharge_prescriptions.0.days_supply"),  # strict: a string is not a number
        (7.5, "discharge_prescriptions.0.days_supply"),
        (True, "discharge_prescriptions.0.days_supply"),
    ],
)
def test_bad_days_supply(days: object, field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        AcuteEpisode.model_validate(base(discharge_prescriptions=rx(days)))
    assert info.value.field == field
    assert "987654" not in str(info.value)


def test_implausible_days_supply_is_refused_by_the_ruleset() -> None:
    """The ruleset declares at most 366 days: 400 is an input error, not a dose."""
    episode = AcuteEpisode.model_validate(base(discharge_prescriptions=rx(400)))
    with pytest.raises(InvalidInputError) as info:
        check_discharge(episode)
    assert info.value.field.startswith("discharge_prescriptions[].days_supply")
    assert "400" not in str(info.value)


def test_implausible_dose_is_named_at_its_discharge_position() -> None:
    """Oxycodone 5 mg x 2,000 a day = 10 g/day: over the 5 g/day plausibility limit (a limit
    on the total of one ingredient, so the list is named, not one item)."""
    huge = {**OXY_IR, "doses_per_day": 2000}
    episode = AcuteEpisode.model_validate(
        base(discharge_prescriptions=[*rx(5), {"prescription": huge, "days_supply": 3}])
    )
    with pytest.raises(InvalidInputError) as info:
        check_discharge(episode)
    assert info.value.field == "discharge_prescriptions"
    assert "2000" not in str(info.value)


@pytest.mark.parametrize(
    "field", ["opioid_before_admission", "weaning_plan_recorded", "gp_communication_recorded"]
)
@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_tri_state_fields_are_strict_booleans(field: str, value: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        AcuteEpisode.model_validate(base(**{field: value}))
    assert info.value.field == field


def test_naive_datetimes_are_refused() -> None:
    naive = dt.datetime(2026, 11, 20, 8, 0)
    with pytest.raises(InvalidInputError) as info:
        AcuteEpisode.model_validate({"care_setting": "inpatient", "assessment_time": naive})
    assert info.value.field == "assessment_time"
    with pytest.raises(InvalidInputError) as info:
        AcuteEpisode.model_validate(
            {
                "care_setting": "inpatient",
                "assessment_time": T0,
                "parenteral_administrations": [{**bolus(0), "start": "2026-11-20T08:00:00"}],
            }
        )
    assert info.value.field == "parenteral_administrations.0.start"


def test_administration_after_assessment_time_is_refused() -> None:
    with pytest.raises(InvalidInputError) as info:
        AcuteEpisode.model_validate(
            {
                "care_setting": "inpatient",
                "assessment_time": T0,
                "parenteral_administrations": [bolus(0), bolus(1)],
            }
        )
    assert info.value.field.endswith("parenteral_administrations[1].start")
    assert "wrong order" in str(info.value)
    assert "2026" not in str(info.value)


def test_inpatient_needs_assessment_time() -> None:
    with pytest.raises(InvalidInputError, match="assessment_time"):
        AcuteEpisode.model_validate({"care_setting": "inpatient"})


@pytest.mark.parametrize(
    "data",
    [
        {"care_setting": "ward"},
        {"care_setting": "discharge", "patient_name": SECRET_NAME},
        {"care_setting": "discharge", "other_medicines": [""]},
        {"care_setting": "discharge", "other_medicines": SECRET_NAME},
        {
            "care_setting": "inpatient",
            "assessment_time": T0,
            "parenteral_administrations": [{**bolus(0), "route": SECRET_NAME}],
        },
    ],
)
def test_invalid_fields_never_echo_values(data: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError) as info:
        AcuteEpisode.model_validate(data)
    assert SECRET_NAME not in str(info.value)
    assert "ward" not in str(info.value)


def test_invalid_prescription_names_its_position() -> None:
    bad = {**OXY_IR, "strength": "5 MG/kg"}
    with pytest.raises(InvalidInputError) as info:
        AcuteEpisode.model_validate(base(discharge_prescriptions=[*rx(5), {"prescription": bad}]))
    assert info.value.field.startswith("discharge_prescriptions.1.prescription")


def test_contradictory_prescription_named_at_discharge_position() -> None:
    contradiction = {
        "dmd_code": "36129511000001101",
        "drug": "morphine",
        "dose_quantity": 1,
        "dose_unit": "tablet",
        "doses_per_day": 2,
    }
    episode = AcuteEpisode.model_validate(
        base(discharge_prescriptions=[*rx(5), {"prescription": contradiction, "days_supply": 3}])
    )
    with pytest.raises(InvalidInputError) as info:
        check_discharge(episode)
    assert info.value.field == "discharge_prescriptions[1].prescription.drug"


def test_unknown_opioid_product_is_an_error() -> None:
    unknown = {
        "product_name": "Oxycodone 999mg sparkly tablets",
        "dose_quantity": 1,
        "dose_unit": "tablet",
        "doses_per_day": 2,
    }
    episode = AcuteEpisode.model_validate(
        base(discharge_prescriptions=[{"prescription": unknown, "days_supply": 3}])
    )
    with pytest.raises(UnknownProductError) as info:
        check_discharge(episode)
    assert "sparkly" not in str(info.value)


def test_episode_is_frozen() -> None:
    episode = AcuteEpisode.model_validate(base())
    with pytest.raises(Exception, match="frozen"):
        episode.care_setting = "inpatient"  # type: ignore[misc,assignment]
