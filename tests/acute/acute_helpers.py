"""Builders for acute episodes used across the acute tests (invented data, no patients)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from opioidcds import AcuteEpisode

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

# oxycodone 10 mg MR twice a day: 10 x 2 = 20 mg/day x 1.5 = 30 mg OME/day
OXY_MR = {
    "drug": "oxycodone",
    "form": "modified-release tablet",
    "strength": "10 mg",
    "dose_quantity": 1,
    "dose_unit": "tablet",
    "doses_per_day": 2,
}
# oxycodone 5 mg IR capsules four times a day: 5 x 4 = 20 mg/day x 1.5 = 30 mg OME/day
OXY_IR = {
    "drug": "oxycodone",
    "form": "capsule",
    "strength": "5 mg",
    "dose_quantity": 1,
    "dose_unit": "capsule",
    "doses_per_day": 4,
}
# morphine 10 mg IR tablets: dose_quantity tablets x 4 a day x factor 1
MORPHINE_IR = {
    "drug": "morphine",
    "form": "tablet",
    "strength": "10 mg",
    "dose_quantity": 1,
    "dose_unit": "tablet",
    "doses_per_day": 4,
}
PREGABALIN = {
    "drug": "pregabalin",
    "form": "capsule",
    "strength": "75 mg",
    "dose_quantity": 1,
    "dose_unit": "capsule",
    "doses_per_day": 2,
}
METHADONE = {
    "drug": "methadone",
    "form": "oral solution",
    "strength": "1 mg/mL",
    "dose_quantity": 10,
    "dose_unit": "mL",
    "doses_per_day": 1,
}


def discharge(*items: tuple[dict[str, Any], int | None], **fields: Any) -> AcuteEpisode:
    """A discharge episode; every tri-state field defaults to a value that fires nothing."""
    data: dict[str, Any] = {
        "care_setting": "discharge",
        "opioid_before_admission": False,
        "other_medicines": [],
        "weaning_plan_recorded": True,
        "gp_communication_recorded": True,
        "discharge_prescriptions": [
            {"prescription": rx, "days_supply": days} for rx, days in items
        ],
    }
    data.update(fields)
    return AcuteEpisode.model_validate(data)


def bolus(
    hours: float | int, *, drug: str = "morphine", route: str = "intravenous", kind: str = "bolus"
) -> dict[str, Any]:
    return {"drug": drug, "route": route, "kind": kind, "start": T0 + dt.timedelta(hours=hours)}


def inpatient(
    *admins: dict[str, Any], at_hours: float | int, active: bool | None = False, **fields: Any
) -> AcuteEpisode:
    data: dict[str, Any] = {
        "care_setting": "inpatient",
        "assessment_time": T0 + dt.timedelta(hours=at_hours),
        "parenteral_administrations": list(admins),
        "iv_morphine_bolus_order_active": active,
    }
    data.update(fields)
    return AcuteEpisode.model_validate(data)
