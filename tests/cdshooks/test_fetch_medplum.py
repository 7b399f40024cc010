"""The fetching tests again, against a real open-source FHIR implementation: Medplum.

No complete FHIR server installs from the package registries this project may use (HAPI needs
Maven Central, ``@medplum/server`` is not published, the npm ``fhir-server`` packages do not
install); Medplum's FHIR router and in-memory repository do (npm, Apache-2.0). Their search,
read and update are Medplum's own request handling; ``medplum/server.mjs`` is a thin HTTP glue
that adds the paging links the in-memory repository does not write. So these tests check the
service's queries and reads against an independent FHIR implementation (search parameters,
reference forms, Bundle shapes), and paging against the glue.

Marked ``medplum``. ``make medplum`` installs the npm packages (``npm ci`` in
``tests/cdshooks/medplum``; Node.js 20.19 or later, which the project's machines have). Without
Node.js or the packages the tests are skipped, except under ``OPIOIDCDS_CI=1`` (set by
``.ci/run``, which runs ``make medplum`` first), where that is a failure.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from opioidcds.cdshooks import CDSHooksService, FeedbackStore
from opioidcds.cdshooks.app import create_app
from opioidcds.cdshooks.fetch import FhirFetcher

from .hooks_helpers import AsgiClient, hook_request, med_request, named_request, patient

pytestmark = pytest.mark.medplum

HERE = Path(__file__).parent / "medplum"
TOKEN = "medplum-loopback-token"  # noqa: S105 - a test server's token, not a secret
SIGN = "/cds-services/opioidcds-order-sign"
TODAY = dt.date(2026, 11, 22)


def _unavailable(reason: str) -> None:
    if os.environ.get("OPIOIDCDS_CI") == "1":
        pytest.fail(f"Medplum tests cannot run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def medplum(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    node = shutil.which("node")
    if node is None:
        _unavailable("Node.js is not installed")
    if not (HERE / "node_modules" / "@medplum" / "fhir-router").is_dir():
        _unavailable("the Medplum packages are not installed: run 'make medplum'")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PORT": str(port), "TOKEN": TOKEN}
    log = tmp_path_factory.mktemp("medplum") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(node), "server.mjs"], cwd=HERE, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"{base}/Patient/none", timeout=2, headers=_auth())
                if r.status_code in {404, 200}:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace")
                pytest.fail(f"the Medplum server did not start: {text[-500:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}


def put(base: str, *resources: dict[str, Any]) -> None:
    for resource in resources:
        url = f"{base}/{resource['resourceType']}/{resource['id']}"
        r = httpx.put(url, content=json.dumps(resource), headers=_auth(), timeout=10)
        assert r.status_code in {200, 201}, r.text


def client(tmp_path: Path, page_size: int = 100) -> AsgiClient:
    service = CDSHooksService(today=lambda: TODAY, page_size=page_size)
    store = FeedbackStore(tmp_path / "f.sqlite3")
    return AsgiClient(create_app(service, feedback=store, fetcher=FhirFetcher()))


def request_to(base: str, drafts: list[dict[str, Any]], pid: str) -> dict[str, Any]:
    body = copy.deepcopy(hook_request("order-sign", [_for(pid, d) for d in drafts]))
    body.pop("prefetch")
    body["context"]["patientId"] = pid
    body["fhirServer"] = base
    body["fhirAuthorization"] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "opioidcds",
    }
    return body


def _for(pid: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {**resource, "subject": {"reference": f"Patient/{pid}"}}


def test_reads_and_searches_against_medplum(medplum: str, tmp_path: Path) -> None:
    pid = "mp-1"
    put(
        medplum,
        {**patient(), "id": pid},
        _for(pid, {**med_request("morphine-mr-30", dose=2, rid="mp-1-c1"), "id": "mp-1-c1"}),
    )
    r = client(tmp_path).post(SIGN, json=request_to(medplum, [med_request("oxycodone-10")], pid))
    assert r.status_code == 200, r.text
    detail = "\n".join(c["detail"] for c in r.json()["cards"])
    # morphine 30 x 2 x 2 = 120 (read from Medplum) + oxycodone 10 x 1 x 2 x 1.5 = 30: 150
    assert "**Total: 150 mg OME/day.**" in detail


def test_paging_through_medplum(medplum: str, tmp_path: Path) -> None:
    """Three current medicines, two per page: the benzodiazepine is on page 2."""
    pid = "mp-2"
    put(
        medplum,
        {**patient(), "id": pid},
        _for(pid, {**med_request("codeine-30", rid="mp-2-c1"), "id": "mp-2-c1"}),
        _for(pid, {**med_request("codeine-30", rid="mp-2-c2", dose=2), "id": "mp-2-c2"}),
        _for(pid, {**named_request("Diazepam 5mg tablets", rid="mp-2-c3"), "id": "mp-2-c3"}),
    )
    body = request_to(medplum, [med_request("oxycodone-10")], pid)
    r = client(tmp_path, page_size=2).post(SIGN, json=body)
    cards = r.json()["cards"]
    assert any(c["indicator"] == "critical" and "benzodiazepine" in c["summary"] for c in cards)


def test_statement_and_medication_reference_from_medplum(medplum: str, tmp_path: Path) -> None:
    pid = "mp-3"
    morphine = med_request("morphine-mr-30")["medicationCodeableConcept"]
    put(
        medplum,
        {**patient(), "id": pid},
        {"resourceType": "Medication", "id": "mp-3-med", "code": morphine},
        {
            "resourceType": "MedicationStatement",
            "id": "mp-3-s1",
            "status": "active",
            "subject": {"reference": f"Patient/{pid}"},
            "medicationReference": {"reference": "Medication/mp-3-med"},
            "dosage": [
                {
                    "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                    "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablet"}}],
                }
            ],
        },
    )
    r = client(tmp_path).post(SIGN, json=request_to(medplum, [med_request("codeine-30")], pid))
    detail = "\n".join(c["detail"] for c in r.json()["cards"])
    # statement: morphine 30 x 2 x 2 = 120 (its Medication read from Medplum); codeine 6: 126
    assert "**Total: 126 mg OME/day.**" in detail
