"""Bundles and lists: which entries count, which are skipped and why; the CLI hook."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhir_cases import DATA, bundle, load, request

from opioidcds import (
    InvalidInputError,
    UnknownProductError,
    calculate_ome,
    from_bundle,
    read_bundle,
)
from opioidcds._resolve.fhir import COUNTED_STATUSES, R4_STATUSES
from opioidcds.cli.fhir_input import prescriptions_from_fhir_json
from opioidcds.cli.io import read_json

FENTANYL = "example-rec-05-mme-greater-than-fifty-context.json"


def _with_status(status: str) -> dict[str, Any]:
    data = request()
    data["status"] = status
    return data


@pytest.mark.parametrize("status", sorted(R4_STATUSES))
def test_status_handling(status: str) -> None:
    read = read_bundle(bundle(_with_status(status)))
    if status in {"active", "draft"}:
        assert len(read.prescriptions) == 1
        assert read.skipped == ()
    else:
        assert read.prescriptions == ()
        (skip,) = read.skipped
        assert (skip.path, skip.resource_type, skip.status) == (
            "entry[0].resource",
            "MedicationRequest",
            status,
        )
        assert skip.reason.startswith("status not counted (counted: active, draft): ")
        # "unknown" may be a current prescription: a total over the rest is a lower bound
        assert skip.affects_total is (status == "unknown")


def test_counted_statuses_can_be_chosen() -> None:
    data = [_with_status("active"), _with_status("on-hold")]
    assert len(from_bundle(data)) == 1
    assert len(from_bundle(data, statuses={"active", "on-hold"})) == 2
    assert {"active", "draft"} == COUNTED_STATUSES


def test_do_not_perform_is_skipped() -> None:
    data = request()
    data["doNotPerform"] = True
    read = read_bundle([data])
    assert read.prescriptions == ()
    assert read.skipped[0].reason.startswith("doNotPerform")


@pytest.mark.parametrize("value", ["true", 1, "false", 0])
def test_do_not_perform_must_be_a_boolean_in_a_bundle(value: object) -> None:
    data = request()
    data["doNotPerform"] = value
    with pytest.raises(InvalidInputError) as caught:
        from_bundle([data])
    assert caught.value.field == "[0].doNotPerform"
    # read_bundle keeps the rest and lists the entry: it may be a current opioid
    (skip,) = read_bundle([data, request()]).skipped
    assert skip.reason == "not read: [0].doNotPerform: must be a JSON boolean (true or false)"
    assert skip.affects_total


@pytest.mark.parametrize("kind", ["searchset", "collection", "transaction", "batch"])
def test_bundle_types(kind: str) -> None:
    read = read_bundle(bundle(load(FENTANYL), load("patient-no-meds.json"), kind=kind))
    assert calculate_ome(read.prescriptions, table="cdc-2022").total_mg_per_day == 180


def test_entry_without_resource_is_skipped() -> None:
    data = bundle(load(FENTANYL))
    data["entry"].append({"request": {"method": "DELETE", "url": "MedicationRequest/1"}})
    read = read_bundle(data)
    assert len(read.prescriptions) == 1
    assert read.skipped[0].reason == "entry has no resource"


def test_list_and_single_resource() -> None:
    assert len(from_bundle([load(FENTANYL), load("patient-no-meds.json")])) == 1
    assert len(from_bundle(load(FENTANYL))) == 1


def test_unknown_products_can_be_skipped_and_are_reported() -> None:
    other = request()
    other["medicationCodeableConcept"] = {
        "coding": [{"system": "http://snomed.info/sct", "code": "99999999"}]
    }
    with pytest.raises(UnknownProductError):
        read_bundle([load(FENTANYL), other], unknown_products="error")
    with pytest.raises(UnknownProductError):
        from_bundle([load(FENTANYL), other])
    read = read_bundle([load(FENTANYL), other])  # listing is the default
    assert len(read.prescriptions) == 1
    assert read.skipped[0].path == "[1]"
    assert "not understood" in read.skipped[0].reason
    # no display or text: nothing says it is not an opioid, so the total is a lower bound
    assert read.skipped[0].affects_total


def test_several_requests_add_up() -> None:
    # fentanyl 180 + oxycodone 10 mg q12h 30 + morphine 20 mg daily 20 = 230 (CDC 2022)
    resources = [
        load(FENTANYL),
        load("example-rec-05-mme-less-than-fifty-context.json"),
        load("morphineMedRecMMECalc.json"),
    ]
    assert calculate_ome(from_bundle(bundle(*resources)), table="cdc-2022").total_mg_per_day == 230


# --- the CLI hook -----------------------------------------------------------------------------


def test_cli_hook_reads_bundle_list_and_single(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle(load(FENTANYL), load("patient-no-meds.json"))))
    data = read_json(str(path))  # decimals arrive as strings ("0.075", "3.0")
    rxs = prescriptions_from_fhir_json(data)
    assert calculate_ome(rxs, table="cdc-2022").total_mg_per_day == 180
    assert len(prescriptions_from_fhir_json([load(FENTANYL)])) == 1
    assert len(prescriptions_from_fhir_json(load(FENTANYL))) == 1


def test_cli_hook_decimal_strings_stay_exact() -> None:
    data = read_json(str(DATA / "example-rec-05-mme-less-than-fifty-context.json"))
    (rx,) = prescriptions_from_fhir_json(data)
    assert rx.interval_hours == Decimal("12.0")


def test_importing_opioidcds_does_not_import_fhir_resources() -> None:
    code = (
        "import sys, opioidcds, opioidcds._resolve.fhir, opioidcds.cli.fhir_input;"
        "print(any(m.startswith('fhir.resources') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_option_intent_is_skipped() -> None:
    option = request()
    option["intent"] = "option"
    read = read_bundle([request(), option])
    assert len(read.prescriptions) == 1
    assert read.skipped[0].path == "[1]"
    assert read.skipped[0].reason.startswith("intent 'option'")
