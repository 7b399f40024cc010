"""Real records (issue 18): MedicationStatements, status meanings, partial results, the CLI.

A GP record read over FHIR holds MedicationStatements as well as MedicationRequests, statuses
other than active, and entries the adapter cannot read. The rest is always computed; every
entry left out is listed with its reason in the API, the CLI's JSON and its text; a total is
complete only when nothing that may be a current opioid was left out and something was read.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from fhir_cases import bundle, request
from typer.testing import CliRunner

from opioidcds import InvalidInputError, calculate_ome, from_bundle, read_bundle
from opioidcds._resolve.fhir import (
    COUNTED_STATEMENT_STATUSES,
    STATEMENT_STATUSES,
    prescriptions_from_medication_statement,
)
from opioidcds.cli.app import app

MORPHINE_MR_10 = "36126511000001106"  # dm+d VMP "Morphine 10mg modified-release tablets"
TWICE_DAILY = {
    "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
    "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
}


def statement(status: str = "active", *, dosage: bool = True, **extra: Any) -> dict[str, Any]:
    """An R4 MedicationStatement for morphine 10 mg MR tablets, 1 tablet twice a day."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://snomed.info/sct",
                    "code": MORPHINE_MR_10,
                    "display": "Morphine sulfate 10mg modified-release tablets",
                }
            ]
        },
        **extra,
    }
    if dosage:
        resource["dosage"] = [TWICE_DAILY]
    return resource


def with_status(status: str) -> dict[str, Any]:
    data = request()
    data["status"] = status
    return data


# --- the case of the issue --------------------------------------------------------------------


def test_active_statement_and_unknown_request_give_a_stated_lower_bound() -> None:
    # morphine MR 10 mg x 1 tablet x 2/day = 20 mg/day x 1 (oral morphine, Opioids Aware) = 20;
    # the oxycodone request has status "unknown" (it may be current): listed, and the total of
    # 20 is a lower bound. Before issue 18: total 0, complete.
    read = read_bundle(bundle(statement(), with_status("unknown")))
    assert read.sources == ("entry[0].resource.dosage[0]",)
    (skip,) = read.skipped
    assert (skip.path, skip.resource_type, skip.status) == (
        "entry[1].resource",
        "MedicationRequest",
        "unknown",
    )
    assert skip.reason.endswith("status unknown: the medicine may be taken now")
    assert skip.affects_total
    result = calculate_ome(read)
    assert result.total_mg_per_day == 20
    assert not result.complete
    assert result.lower_bound_reasons == (
        "an entry of the input that may be a current opioid was not read",
    )
    assert result.skipped == read.skipped
    text = result.explain()
    assert "entry 1, dosage 1: morphine: converted." in text
    assert "Not read from the input (1):" in text
    assert "entry 2 (MedicationRequest, status unknown, oxycodone hydrochloride 10 MG" in text
    assert "at least 20 mg OME/day" in text


def test_the_issue_case_on_the_command_line_json_and_text() -> None:
    data = json.dumps(bundle(statement(), with_status("unknown")))
    runner = CliRunner()
    out = runner.invoke(app, ["ome", "-", "--fhir", "--json"], input=data)
    assert out.exit_code == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["total_mg_per_day"] == "20"  # 10 mg x 2/day x 1, as above
    assert result["complete"] is False
    (skip,) = result["skipped"]
    assert skip["status"] == "unknown"
    assert skip["affects_total"] is True
    assert result["sources"] == ["entry[0].resource.dosage[0]"]
    text = runner.invoke(app, ["ome", "-", "--fhir"], input=data, env={"COLUMNS": "200"})
    assert text.exit_code == 0
    assert "Not read from the input (1):" in text.stdout
    assert "status unknown" in text.stdout
    assert "INCOMPLETE" in text.stdout


def test_every_skipped_entry_is_shown_even_when_none_affects_the_total() -> None:
    # a Patient and a completed request are listed, but cannot hide a current opioid: the
    # statement's 20 mg (as above) is then complete
    patient = {"resourceType": "Patient", "id": "p1"}
    result = calculate_ome(read_bundle(bundle(statement(), patient, with_status("completed"))))
    assert result.total_mg_per_day == 20
    assert result.complete
    assert [s.reason for s in result.skipped] == [
        "not a MedicationRequest or MedicationStatement",
        "status not counted (counted: active, draft): completed: no longer taken",
    ]
    assert "Not read from the input (2):" in result.explain()


def test_a_record_with_nothing_read_is_never_complete() -> None:
    for data in (bundle(), bundle({"resourceType": "Patient", "id": "p1"})):
        result = calculate_ome(read_bundle(data))
        assert result.total_mg_per_day == 0
        assert not result.complete
        assert result.lower_bound_reasons[0].startswith("nothing was read from the input")
    # a plain empty list of prescriptions stays complete: the caller says there are none
    assert calculate_ome([]).complete


# --- MedicationStatement ----------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(STATEMENT_STATUSES))
def test_statement_statuses(status: str) -> None:
    read = read_bundle([statement(status)])
    if status in COUNTED_STATEMENT_STATUSES:
        assert len(read.prescriptions) == 1
        assert read.skipped == ()
        return
    (skip,) = read.skipped
    assert skip.reason.startswith("status not counted (counted: active): ")
    assert skip.affects_total is (status == "unknown")
    assert skip.medication == "Morphine sulfate 10mg modified-release tablets"


def test_statement_statuses_can_be_chosen() -> None:
    read = read_bundle([statement("intended")], statement_statuses={"active", "intended"})
    assert len(read.prescriptions) == 1


def test_statement_without_dosage_is_listed_as_dose_unknown() -> None:
    # taken, dose not stated: the medicine is named, not counted as zero, the total a lower bound
    result = calculate_ome(read_bundle([statement(dosage=False)]))
    (item,) = result.items
    assert item.drug == "Morphine 10mg modified-release tablets"  # the catalogue name
    assert item.status.value == "not_convertible"
    assert not result.complete


def test_statement_with_a_contained_medication() -> None:
    contained = {
        "resourceType": "Medication",
        "id": "m",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": MORPHINE_MR_10}]},
    }
    data = statement(contained=[contained])
    del data["medicationCodeableConcept"]
    data["medicationReference"] = {"reference": "#m"}
    (rx,) = prescriptions_from_medication_statement(data)
    assert rx.dmd_code == MORPHINE_MR_10
    assert calculate_ome([rx]).total_mg_per_day == 20  # 10 mg x 2/day x 1


def test_statement_errors_name_their_path() -> None:
    bad = statement()
    bad["dosage"][0] = {**TWICE_DAILY, "timing": {"repeat": {"frequency": 2, "periodUnit": "d"}}}
    with pytest.raises(InvalidInputError) as info:
        prescriptions_from_medication_statement(bad)
    assert info.value.field == "dosage[0].timing.repeat.period"
    with pytest.raises(InvalidInputError) as info:
        prescriptions_from_medication_statement(with_status("active"))
    assert info.value.field == "resourceType"
    read = read_bundle([bad, statement()])
    assert len(read.prescriptions) == 1
    assert read.skipped[0].reason.startswith("not read: [0].dosage[0].timing.repeat.period:")


# --- unknown products and unreadable entries keep the rest ------------------------------------


def _unknown(display: str | None) -> dict[str, Any]:
    data = request()
    coding: dict[str, Any] = {"system": "http://snomed.info/sct", "code": "99999999"}
    if display is not None:
        coding["display"] = display
    data["medicationCodeableConcept"] = {"coding": [coding]}
    return data


@pytest.mark.parametrize(
    ("display", "may_be_opioid"),
    [
        ("Amlodipine 5mg tablets", False),  # names a medicine and no opioid
        ("Tapentadol 50mg tablets", True),  # names an opioid ingredient
        ("Zomorph 10mg modified-release capsules", True),  # an opioid brand
        (None, True),  # nothing says what it is
    ],
)
def test_unknown_dmd_code_gives_a_result_for_the_rest_with_that_item_named(
    display: str | None, may_be_opioid: bool
) -> None:
    # the statement's 20 mg (as above) is computed; the unknown code is listed with its name
    result = calculate_ome(read_bundle(bundle(statement(), _unknown(display))))
    assert result.total_mg_per_day == 20
    (skip,) = result.skipped
    assert skip.medication == display
    assert skip.reason == "medication not understood (not in the catalogue or vocabulary)"
    assert skip.affects_total is may_be_opioid
    assert result.complete is not may_be_opioid
    with pytest.raises(LookupError):  # from_bundle has nowhere to list it: it refuses
        from_bundle(bundle(statement(), _unknown(display)))


def test_an_unreadable_request_never_refuses_the_others() -> None:
    bad = request()
    bad["dosageInstruction"][0]["timing"]["repeat"]["periodUnit"] = "mo"
    read = read_bundle(bundle(bad, statement()))
    assert len(read.prescriptions) == 1
    (skip,) = read.skipped
    assert skip.reason.startswith("not read: entry[0].resource.dosageInstruction[0].timing")
    assert skip.affects_total  # oxycodone: an opioid
    result = calculate_ome(read)
    assert result.total_mg_per_day == Decimal(20)
    assert not result.complete
