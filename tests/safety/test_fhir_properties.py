"""The FHIR adapter reads generated MedicationRequests of every catalogue product to the same
OME as the prescription written directly (HAZ-022), and a Bundle of them to the sum."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from opioidcds import Prescription, calculate_ome, from_bundle
from opioidcds._resolve.fhir import from_medication_request
from opioidcds.testing import fhir_medication_requests


@settings(max_examples=60)
@given(fhir_medication_requests())
def test_fhir_request_gives_the_prescriptions_ome(
    case: tuple[dict[str, Any], Prescription],
) -> None:
    resource, rx = case
    read = from_medication_request(resource)
    assert read.dmd_code == rx.dmd_code
    assert read.prn == rx.prn
    direct = calculate_ome([rx])
    via_fhir = calculate_ome([read])
    assert via_fhir.total_mg_per_day == direct.total_mg_per_day
    assert via_fhir.complete == direct.complete


@settings(max_examples=20)
@given(st.lists(fhir_medication_requests(), min_size=1, max_size=4))
def test_bundle_gives_the_sum(cases: list[tuple[dict[str, Any], Prescription]]) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": resource} for resource, _rx in cases],
    }
    read = from_bundle(bundle)
    direct = calculate_ome([rx for _resource, rx in cases])
    assert calculate_ome(read).total_mg_per_day == direct.total_mg_per_day
