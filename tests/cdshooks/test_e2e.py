"""End to end: the real server (uvicorn) on 127.0.0.1, a free port, called with httpx.

One server runs in a thread of this process (stopped after the module); one runs as the
``opioidcds serve`` command in a subprocess (terminated after its test). Every wait is bounded.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn

from opioidcds.cdshooks import CDSHooksService, FeedbackStore
from opioidcds.cdshooks.app import create_app

from .hooks_helpers import condition, for_patient, hook_request, med_request, named_request

LOOPBACK = "127.0.0.1"
PROFILE = Path(__file__).resolve().parents[2] / "rules" / "profiles" / "opioids-aware-90.toml"
TIMEOUT = httpx.Timeout(10.0)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, 0))
    return sock


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = FeedbackStore(tmp_path_factory.mktemp("e2e") / "feedback.sqlite3")
    app = create_app(CDSHooksService(today=lambda: dt.date(2026, 11, 22)), feedback=store)
    sock = _free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start within 20 s")
        time.sleep(0.02)
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


def test_discovery_cards_feedback_over_tcp(base_url: str) -> None:
    # Morphine MR 30 mg, 4 tablets twice a day = 240 mg/day x 1 = 240 mg OME/day, with a
    # current benzodiazepine: Script Switch (> 100), reminder (> 120), opioid + benzodiazepine.
    body = hook_request(
        "order-sign",
        [med_request("morphine-mr-30", dose=4, per_day=2, status="draft")],
        current=[named_request("Diazepam 5mg tablets")],
        conditions=[condition("35489007")],
    )
    with httpx.Client(base_url=base_url, timeout=TIMEOUT) as client:
        services = client.get("/cds-services").json()["services"]
        assert {s["hook"] for s in services} == {"order-select", "order-sign", "patient-view"}
        r = client.post("/cds-services/opioidcds-order-sign", json=body)
        assert r.status_code == 200
        cards = r.json()["cards"]
        # issue 15: also the very-high-dose band (240 >= 200) and starting opioids with a
        # modified-release product (no current opioid): two more warnings
        assert sorted(c["indicator"] for c in cards) == [
            "critical",
            "info",
            "warning",
            "warning",
            "warning",
        ]
        assert all("**Total: 240 mg OME/day.**" in c["detail"] for c in cards)
        fb = client.post(
            "/cds-services/opioidcds-order-sign/feedback",
            json={
                "feedback": [
                    {
                        "card": cards[0]["uuid"],
                        "outcome": "accepted",
                        "outcomeTimestamp": "2026-11-22T10:00:00Z",
                    }
                ]
            },
        )
        assert fb.json() == {"recorded": 1}
        assert client.get("/health").json()["status"] == "ok"


def test_concurrent_clients(base_url: str) -> None:
    body = hook_request(
        "order-sign",
        [
            med_request("oxycodone-10", dose=2, per_day=2, status="draft", rid=f"d{i}")
            for i in range(5)
        ],
    )

    def one(_: int) -> int:
        with httpx.Client(base_url=base_url, timeout=TIMEOUT) as client:
            r = client.post("/cds-services/opioidcds-order-sign", json=body)
            return r.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(one, range(32))) == {200}


def test_oversized_request_over_tcp(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=TIMEOUT) as client:
        r = client.post(
            "/cds-services/opioidcds-order-sign",
            content=b" " * 1_100_000,
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 413


def test_serve_command_in_a_subprocess(tmp_path: Path) -> None:
    sock = _free_socket()
    port = sock.getsockname()[1]
    sock.close()  # the command binds it itself; a race here only makes the test retry-worthy
    cmd = [
        sys.executable,
        "-c",
        "from opioidcds.cli import main; main()",
        "serve",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--feedback-db",
        str(tmp_path / "fb.sqlite3"),
        "--profile",
        str(PROFILE),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://{LOOPBACK}:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("opioidcds serve did not answer within 30 s")
                time.sleep(0.1)
        assert r.status_code == 200
        assert r.json()["knowledge"]["profile"] == "opioids-aware-90 1.1.2"
        body = hook_request(
            "order-sign", [med_request("morphine-mr-30", dose=4, per_day=2, status="draft")]
        )
        for_patient(body, "pid-SECRET-42")
        r = httpx.post(f"{base}/cds-services/opioidcds-order-sign", json=body, timeout=TIMEOUT)
        assert r.status_code == 200
    finally:
        proc.terminate()
        try:
            _out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate(timeout=20)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    requests = [x for x in lines if x.get("event") == "request"]
    assert len(requests) >= 2
    assert requests[-1]["service_id"] == "opioidcds-order-sign"
    assert requests[-1]["status"] == 200
    assert any(str(x.get("event", "")).startswith("authentication off") for x in lines)
    assert "SECRET" not in err
    assert "Morphine" not in err
    assert (tmp_path / "fb.sqlite3").exists()


def test_serve_without_the_extra_says_how_to_install() -> None:
    code = (
        "import sys; sys.modules['uvicorn'] = None; "
        "from opioidcds.cli import main; sys.argv = ['opioidcds', 'serve']; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "pip install 'opioidcds[service]'" in proc.stderr


@pytest.mark.parametrize(("days", "fires"), [(7, False), (8, True)])
def test_discharge_supply_limit_over_tcp(base_url: str, days: int, fires: bool) -> None:
    # codeine started in hospital (opioid-before-admission false), discharge supply of 7 or
    # 8 days: rules/discharge.toml max_days_supply_new_opioid = 7, so only 8 > 7 fires
    order = med_request("codeine-30", status="draft", rid="d1")
    order["category"] = [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                    "code": "discharge",
                }
            ]
        }
    ]
    order["dispenseRequest"] = {
        "expectedSupplyDuration": {
            "value": days,
            "unit": "days",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        }
    }
    order["extension"] = [
        {"url": "urn:opioidcds:fhir:opioid-before-admission", "valueBoolean": False},
        {"url": "urn:opioidcds:fhir:weaning-plan-recorded", "valueBoolean": True},
        {"url": "urn:opioidcds:fhir:gp-communication-recorded", "valueBoolean": True},
    ]
    body = hook_request("order-sign", [order])
    r = httpx.post(f"{base_url}/cds-services/opioidcds-order-sign", json=body, timeout=TIMEOUT)
    assert r.status_code == 200
    summaries = [c["summary"] for c in r.json()["cards"]]
    fired = any("more than the discharge maximum" in s for s in summaries)
    assert fired is fires, summaries
