"""The service stays up: slow clients, load, a JWK Set endpoint that is down or lies, large
resources in the cache, CORS, the Host allow-list. Over real loopback TCP where it matters
(uvicorn in a thread, bounded loops that stop by themselves; loopback addresses only)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from opioidcds.cdshooks import CDSHooksService, FeedbackStore
from opioidcds.cdshooks.app import create_app
from opioidcds.cdshooks.auth import JWTVerifier, TrustConfig
from opioidcds.cdshooks.record import MedicationReader

from .hooks_helpers import AsgiClient, hook_request, med_request
from .serving import served
from .test_auth import EHR, SIGN, _jwk, token, trust_data

TODAY = dt.date(2026, 11, 22)


def _app(tmp_path: Path, **kwargs: Any) -> Any:
    service = CDSHooksService(today=lambda: TODAY)
    return create_app(service, feedback=FeedbackStore(tmp_path / "f.sqlite3"), **kwargs)


def _health_ms(url: str) -> float:
    start = time.perf_counter()
    r = httpx.get(f"{url}/health", timeout=5)
    assert r.status_code == 200
    return (time.perf_counter() - start) * 1000


def test_slow_headers_are_cut_and_health_stays_up(tmp_path: Path) -> None:
    """300 connections that never finish their headers (and 50 that send nothing) are closed
    after the header deadline; /health answers meanwhile."""
    with served(_app(tmp_path), header_timeout=1.0) as url:
        port = int(url.rsplit(":", 1)[1])
        stalled = []
        for i in range(350):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if i < 300:
                s.sendall(
                    b"POST /cds-services/opioidcds-order-sign HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                )
            stalled.append(s)
        try:
            worst = max(_health_ms(url) for _ in range(5))
            assert worst < 1000, worst
            time.sleep(1.5)
            closed = 0
            for s in stalled:
                s.settimeout(3)
                try:
                    closed += s.recv(1) == b""
                except (ConnectionResetError, TimeoutError):
                    closed += 1
            assert closed == len(stalled)
            assert _health_ms(url) < 1000
        finally:
            for s in stalled:
                s.close()


def test_slow_body_gets_408(tmp_path: Path) -> None:
    with served(_app(tmp_path, body_timeout_seconds=0.5)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(
                b"POST /cds-services/opioidcds-order-sign HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"hook"'
            )
            start = time.perf_counter()
            answer = s.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
            assert time.perf_counter() - start < 3


def test_load_with_a_new_patient_every_request(tmp_path: Path) -> None:
    """600 requests, each with medicines never seen before, on 16 connections: no errors."""

    def body(n: int) -> dict[str, Any]:
        drafts = [med_request("oxycodone-10", rid=f"d{n}", dose=1 + n % 3)]
        current = [med_request("morphine-mr-30", rid=f"c{n}", dose=1 + (n // 3) % 2)]
        return hook_request("order-sign", drafts, current=current)

    with served(_app(tmp_path)) as url:

        def send(chunk: range) -> list[int]:
            with httpx.Client(base_url=url, timeout=30) as client:
                return [client.post(SIGN, json=body(n)).status_code for n in chunk]

        with ThreadPoolExecutor(max_workers=16) as pool:
            codes = [
                c for part in pool.map(send, [range(i, 600, 16) for i in range(16)]) for c in part
            ]
        assert codes == [200] * 600
        assert _health_ms(url) < 1000


class _KeyServer:
    """A JWK Set endpoint on loopback that is down in one of several ways."""

    def __init__(self, mode: str, keys: bytes = b'{"keys": []}') -> None:
        self.mode = mode
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.hits += 1
                if outer.mode == "hang":
                    time.sleep(3)
                body = {
                    "html": b"<html>maintenance</html>",
                    "empty": b'{"keys": []}',
                    "hang": b'{"keys": []}',
                    "keys": keys,
                }[outer.mode]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may have given up
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=["hang", "html", "empty"])
def key_server(request: pytest.FixtureRequest) -> Iterator[_KeyServer]:
    server = _KeyServer(request.param)
    yield server
    server.close()


def test_jwks_outage_is_401_fast_and_never_blocks(key_server: _KeyServer, tmp_path: Path) -> None:
    """Forged tokens with an unknown kid, while the issuer's JWK Set endpoint hangs, answers
    HTML or has no keys: each is a clean 401; after the first failure nothing is fetched for
    the cooldown; /health and a genuine token (inline key) are served meanwhile."""
    data = trust_data()
    data["issuers"][0]["jwks_url"] = key_server.url
    data["jwks_timeout_seconds"] = 0.5
    verifier = JWTVerifier(TrustConfig.model_validate(data))
    rogue = ec.generate_private_key(ec.SECP384R1())
    with (
        served(_app(tmp_path, verifier=verifier)) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):

        def forged(_: int) -> tuple[int, float, str]:
            tok = token(key=rogue, kid="rogue-kid")
            start = time.perf_counter()
            r = client.post(
                SIGN,
                json=hook_request("order-sign", [med_request("codeine-30")]),
                headers={"Authorization": f"Bearer {tok}"},
            )
            return r.status_code, time.perf_counter() - start, r.json()["details"][0]["problem"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            first = pool.map(forged, range(8))
            health = [_health_ms(url) for _ in range(5)]
            results = list(first)
        assert max(health) < 1000, health
        assert {code for code, _t, _p in results} == {401}
        problems = {p for _c, _t, p in results}
        assert problems <= {
            "the issuer's JWK Set could not be fetched or read",
            "the issuer's JWK Set is unavailable; try again later",
        }
        assert key_server.hits == 1  # one fetch; the others waited for it or cooled down
        later = [forged(0) for _ in range(20)]
        assert all(code == 401 and t < 0.5 for code, t, _p in later)
        assert key_server.hits == 1
        genuine = client.post(
            SIGN,
            json=hook_request("order-sign", [med_request("codeine-30")]),
            headers={"Authorization": f"Bearer {token()}"},
        )
        assert genuine.status_code == 200, genuine.text


def test_keys_from_jwks_url_are_fetched_once_and_used(tmp_path: Path) -> None:
    """A key only the issuer's JWK Set URL has: fetched (off the event loop), cached, used."""
    remote = ec.generate_private_key(ec.SECP384R1())
    keys = json.dumps({"keys": [_jwk(remote.public_key(), "remote-1")]}).encode()
    server = _KeyServer("keys", keys)
    try:
        data = trust_data()
        data["issuers"][0]["jwks_url"] = server.url
        verifier = JWTVerifier(TrustConfig.model_validate(data))
        with (
            served(_app(tmp_path, verifier=verifier)) as url,
            httpx.Client(base_url=url, timeout=10) as client,
        ):
            codes = [
                client.post(
                    SIGN,
                    json=hook_request("order-sign", [med_request("codeine-30")]),
                    headers={"Authorization": f"Bearer {token(key=remote, kid='remote-1')}"},
                ).status_code
                for _ in range(3)
            ]
        assert codes == [200, 200, 200]
        assert server.hits == 1  # cached after the first fetch
    finally:
        server.close()


def test_cache_is_bounded_by_bytes() -> None:
    svc = CDSHooksService(today=lambda: TODAY)
    reader = MedicationReader(svc.knowledge.catalogue, svc.knowledge.vocabulary, max_bytes=5_000)
    for n in range(100):
        resource = med_request("codeine-30", rid=f"r{n}")
        resource["note"] = [{"text": f"note {n}"}]  # a different resource each time
        reader.read(resource, "x")
    assert 0 < reader.cached_bytes <= 5_000
    assert len(reader) < 100
    huge = med_request("codeine-30", rid="big")
    huge["note"] = [{"text": "x" * 200_000}]  # an element the service does not read
    before = len(reader)
    read, problem = reader.read(huge, "x")
    assert problem is None  # read...
    assert read
    assert len(reader) == before  # ...but not kept


def test_cache_shares_a_medicine_and_dose_across_ids_and_patients() -> None:
    """Other ids and subjects, the same medicine and dose: one result kept, and each read is
    what a reader that had seen nothing returns (its own id on every prescription)."""
    svc = CDSHooksService(today=lambda: TODAY)
    cat, vocab = svc.knowledge.catalogue, svc.knowledge.vocabulary
    reader = MedicationReader(cat, vocab)
    for n in range(20):
        resource = med_request("morphine-mr-30", rid=f"mr-{n}")
        resource["subject"] = {"reference": f"Patient/p{n}"}
        read, problem = reader.read(resource, "x")
        assert problem is None
        assert [rx.id for _path, rx in read] == [f"mr-{n}"]
        assert (read, problem) == MedicationReader(cat, vocab).read(resource, "x")
    assert len(reader) == 1


def test_cache_keeps_what_the_id_decides() -> None:
    """An id the R4 check refuses is refused after a valid one was kept; a replacement
    (priorPrescription, compared with the id) keeps its own id and what it replaces."""
    svc = CDSHooksService(today=lambda: TODAY)
    reader = MedicationReader(svc.knowledge.catalogue, svc.knowledge.vocabulary)
    assert reader.read(med_request("codeine-30", rid="ok-1"), "x")[1] is None
    read, problem = reader.read(med_request("codeine-30", rid="not an id!"), "x")
    assert read == []
    assert problem is not None
    assert problem.path == "x.id"
    for rid in ("a-1", "b-2"):
        read, problem = reader.read(med_request("codeine-30", rid=rid, prior=True), "x")
        assert problem is None
        assert [(rx.id, rx.replaces) for _path, rx in read] == [(rid, "previous")]


def test_cors_is_off_by_default_and_on_for_listed_origins(tmp_path: Path) -> None:
    origin = "https://sandbox.cds-hooks.org"
    preflight = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    off = AsgiClient(_app(tmp_path))
    r = off.request("OPTIONS", SIGN, headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    on = AsgiClient(_app(tmp_path, cors_origins=[origin]))
    r = on.request("OPTIONS", SIGN, headers=preflight)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == origin
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    r = on.get("/cds-services", headers={"Origin": origin})
    assert r.headers["access-control-allow-origin"] == origin
    r = on.get("/cds-services", headers={"Origin": "https://evil.example.org"})
    assert "access-control-allow-origin" not in r.headers


def test_host_allow_list(tmp_path: Path) -> None:
    client = AsgiClient(_app(tmp_path, allowed_hosts=["localhost", "127.0.0.1"]))
    assert client.get("/health", headers={"Host": "localhost:8080"}).status_code == 200
    assert client.get("/health", headers={"Host": "127.0.0.1"}).status_code == 200
    r = client.get("/health", headers={"Host": "rebound.attacker.example"})
    assert r.status_code == 421
    assert r.json()["error"] == "the Host header does not name this service"


def test_jwks_fetch_runs_off_the_event_loop() -> None:
    """may_fetch says when a verification would touch the network (then: a worker thread)."""
    data = trust_data()
    data["issuers"][0]["jwks_url"] = f"{EHR}/jwks.json"
    verifier = JWTVerifier(TrustConfig.model_validate(data))
    assert not verifier.may_fetch(f"Bearer {token()}")  # inline key
    assert verifier.may_fetch(f"Bearer {token(kid='unknown')}")
    assert not verifier.may_fetch("Bearer not-a-jwt")
    assert not verifier.may_fetch(None)
    assert json.dumps(data)  # the configuration stays JSON
