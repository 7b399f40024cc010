"""CDS Hooks 2.0 "Trusting CDS Clients": the JWT checks, in-process and from the serve command.

Keys are generated per test session (no network: the issuers' JWK Sets are inline).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from opioidcds import KnowledgeBaseError
from opioidcds.cdshooks import CDSHooksService, FeedbackStore
from opioidcds.cdshooks.app import LOGGER_NAME, create_app
from opioidcds.cdshooks.auth import AuthError, JWTVerifier, TrustConfig, load_trusted_issuers

from .hooks_helpers import AsgiClient, hook_request, med_request

BASE = "https://cds.example.org/opioids"
SIGN_ID = "opioidcds-order-sign"
SIGN = f"/cds-services/{SIGN_ID}"
EHR = "https://ehr.example.org"
EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_EC_KEY = ec.generate_private_key(ec.SECP384R1())


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    algo = ECAlgorithm if isinstance(key, ec.EllipticCurvePublicKey) else RSAAlgorithm
    out: dict[str, Any] = algo.to_jwk(key, as_dict=True)
    out["kid"] = kid
    return out


def trust_data() -> dict[str, Any]:
    return {
        "service_base_url": BASE,
        "issuers": [
            {
                "iss": EHR,
                "jwks": {
                    "keys": [
                        _jwk(EC_KEY.public_key(), "ec-1"),
                        _jwk(RSA_KEY.public_key(), "rsa-1"),
                    ]
                },
                "jwks_url": f"{EHR}/jwks.json",
                "sub": ["ehr-client"],
            }
        ],
    }


def token(
    *,
    alg: str = "ES384",
    key: Any = EC_KEY,
    kid: str = "ec-1",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": EHR,
        "sub": "ehr-client",
        "aud": f"{BASE}{SIGN}",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, **(headers or {})})


def _unsigned(payload: dict[str, Any]) -> str:
    import base64  # noqa: PLC0415 - only this helper builds a raw token

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': 'ec-1'})}.{part(payload)}."


@pytest.fixture
def client(tmp_path: Path) -> AsgiClient:
    verifier = JWTVerifier(TrustConfig.model_validate(trust_data()))
    service = CDSHooksService(today=lambda: dt.date(2026, 11, 22))
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    return AsgiClient(create_app(service, feedback=store, verifier=verifier))


def body() -> dict[str, Any]:
    return hook_request("order-sign", [med_request("codeine-30", status="draft", rid="d1")])


def call(client: AsgiClient, tok: str | None) -> Any:
    headers = {} if tok is None else {"Authorization": f"Bearer {tok}"}
    return client.post(SIGN, json=body(), headers=headers)


def problem(response: Any) -> str:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    details = response.json()["details"]
    assert details[0]["path"] == "header.Authorization"
    return str(details[0]["problem"])


@pytest.mark.parametrize(
    ("alg", "key", "kid"), [("ES384", EC_KEY, "ec-1"), ("RS384", RSA_KEY, "rsa-1")]
)
def test_valid_token_is_accepted(client: AsgiClient, alg: str, key: Any, kid: str) -> None:
    r = call(client, token(alg=alg, key=key, kid=kid))
    assert r.status_code == 200, r.text
    assert "cards" in r.json()


def test_aud_may_be_an_array(client: AsgiClient) -> None:
    r = call(client, token(aud=["https://other.example.org", f"{BASE}{SIGN}"]))
    assert r.status_code == 200, r.text


def test_missing_header(client: AsgiClient) -> None:
    assert "Authorization" in problem(call(client, None))
    r = client.post(SIGN, json=body(), headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert "Bearer" in problem(r)


def test_expired(client: AsgiClient) -> None:
    now = int(time.time())
    # expired 10 minutes ago: beyond the 30 s leeway
    assert "expired" in problem(call(client, token(iat=now - 700, exp=now - 600)))


def test_issued_in_the_future(client: AsgiClient) -> None:
    now = int(time.time())
    assert "future" in problem(call(client, token(iat=now + 600, exp=now + 660)))


def test_wrong_audience(client: AsgiClient) -> None:
    other = f"{BASE}/cds-services/opioidcds-order-select"  # another service of ours
    assert "aud" in problem(call(client, token(aud=other)))
    assert "aud" in problem(call(client, token(aud="https://evil.example.org" + SIGN)))


def test_wrong_issuer(client: AsgiClient) -> None:
    assert "issuer" in problem(call(client, token(iss="https://rogue.example.org")))


def test_bad_signature(client: AsgiClient) -> None:
    # signed by another key under a trusted kid
    assert "signature" in problem(call(client, token(key=OTHER_EC_KEY)))
    good = token()
    head, payload, sig = good.split(".")
    tampered = json.loads(jwt.utils.base64url_decode(payload))
    tampered["sub"] = "ehr-client "
    forged = jwt.utils.base64url_encode(json.dumps(tampered).encode()).decode()
    assert "signature" in problem(call(client, f"{head}.{forged}.{sig}"))


def test_alg_none_and_symmetric_are_refused(client: AsgiClient) -> None:
    now = int(time.time())
    payload = {
        "iss": EHR,
        "sub": "ehr-client",
        "aud": f"{BASE}{SIGN}",
        "iat": now,
        "exp": now + 60,
        "jti": "x1",
    }
    assert "algorithm" in problem(call(client, _unsigned(payload)))
    # algorithm confusion: HS384 keyed with a public key's text
    assert "algorithm" in problem(call(client, token(alg="HS384", key="a-shared-secret-" * 4)))
    # ES256 is a valid asymmetric algorithm but not on the default allow-list
    p256 = ec.generate_private_key(ec.SECP256R1())
    assert "algorithm" in problem(call(client, token(alg="ES256", key=p256)))


def test_replayed_jti(client: AsgiClient) -> None:
    tok = token()
    assert call(client, tok).status_code == 200
    assert "used before" in problem(call(client, tok))
    assert call(client, token()).status_code == 200  # a new jti is fine


def test_missing_claims(client: AsgiClient) -> None:
    for claim in ("jti", "exp", "iat", "aud"):  # CDS Hooks 2.0.1's required claims (with iss)
        omitted: dict[str, Any] = {claim: None}
        assert f"no {claim} claim" in problem(call(client, token(**omitted)))
    # this issuer lists its sub values, so a token must carry one of them
    assert "sub is not allowed" in problem(call(client, token(sub=None)))


def _client_for(tmp_path: Path, data: dict[str, Any]) -> AsgiClient:
    verifier = JWTVerifier(TrustConfig.model_validate(data))
    service = CDSHooksService(today=lambda: dt.date(2026, 11, 22))
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    return AsgiClient(create_app(service, feedback=store, verifier=verifier))


def test_spec_shaped_token_without_sub_is_accepted(tmp_path: Path) -> None:
    """CDS Hooks 2.0.1 defines iss, aud, exp, iat, jti and an optional tenant; no sub."""
    data = trust_data()
    del data["issuers"][0]["sub"]
    client = _client_for(tmp_path, data)
    r = call(client, token(sub=None, tenant="practice-a"))
    assert r.status_code == 200, r.text
    r = call(client, token(sub=None))
    assert r.status_code == 200, r.text
    assert "sub must be a non-empty string" in problem(call(client, token(sub="")))


def test_tenant_allow_list(tmp_path: Path) -> None:
    data = trust_data()
    data["issuers"][0]["tenant"] = ["practice-a"]
    client = _client_for(tmp_path, data)
    assert call(client, token(tenant="practice-a")).status_code == 200
    assert "tenant is not allowed" in problem(call(client, token(tenant="practice-b")))
    assert "tenant is not allowed" in problem(call(client, token()))


def test_sub_jku_kid_and_lifetime(client: AsgiClient) -> None:
    assert "sub" in problem(call(client, token(sub="someone-else")))
    jku = {"jku": "https://attacker.example.org/jwks.json"}
    assert "jku" in problem(call(client, token(headers=jku)))
    now = int(time.time())
    assert "longer" in problem(call(client, token(iat=now, exp=now + 3600)))
    assert "typ" in problem(call(client, token(headers={"typ": "at+jwt"})))
    assert "kid" in problem(call(client, token(kid="")))
    assert "not a JWT" in problem(call(client, "not.a.jwt"))


def test_unknown_kid_without_a_jwks_url() -> None:
    data = trust_data()
    del data["issuers"][0]["jwks_url"]
    verifier = JWTVerifier(TrustConfig.model_validate(data))
    with pytest.raises(AuthError, match="no trusted key"):
        verifier.verify(f"Bearer {token(kid='unknown-kid')}", SIGN_ID)
    with pytest.raises(AuthError, match="jku"):  # no jwks_url: no jku is allowed at all
        verifier.verify(f"Bearer {token(headers={'jku': f'{EHR}/jwks.json'})}", SIGN_ID)
    assert verifier.verify(f"Bearer {token()}", SIGN_ID)["sub"] == "ehr-client"


def test_discovery_and_health_stay_open(client: AsgiClient) -> None:
    assert client.get("/cds-services").status_code == 200
    assert client.get("/health").status_code == 200


def test_feedback_needs_a_token_too(client: AsgiClient) -> None:
    fb = {
        "feedback": [
            {"card": "c1", "outcome": "accepted", "outcomeTimestamp": "2026-11-22T10:00:00Z"}
        ]
    }
    r = client.post(f"{SIGN}/feedback", json=fb)
    assert problem(r)
    r = client.post(f"{SIGN}/feedback", json=fb, headers={"Authorization": f"Bearer {token()}"})
    assert r.status_code == 200, r.text
    # CDS Hooks: aud is the endpoint invoked, here the feedback URL; the service URL also passes
    tok = token(aud=f"{BASE}{SIGN}/feedback")
    r = client.post(f"{SIGN}/feedback", json=fb, headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200, r.text
    # ... but the feedback URL is not an audience for the service call itself
    assert "aud" in problem(call(client, token(aud=f"{BASE}{SIGN}/feedback")))


def test_token_never_logged(client: AsgiClient, caplog: pytest.LogCaptureFixture) -> None:
    tok = token(aud="https://wrong.example.org")
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        call(client, tok)
        call(client, token())
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "auth_audience" in text
    for part in tok.split("."):
        assert part not in text


def test_trust_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(trust_data()))
    assert load_trusted_issuers(path).issuers[0].iss == EHR
    bad: list[dict[str, Any]] = []
    d = trust_data()
    d["algorithms"] = ["HS256"]
    bad.append(d)
    d = trust_data()
    d["issuers"][0]["jwks"]["keys"][0]["d"] = "private"
    bad.append(d)
    d = trust_data()
    del d["issuers"][0]["jwks"]
    del d["issuers"][0]["jwks_url"]
    bad.append(d)
    d = trust_data()
    d["unexpected"] = 1
    bad.append(d)
    d = trust_data()
    d["issuers"][0]["jwks_url"] = "http://ehr.example.org/jwks.json"  # not https
    bad.append(d)
    for data in bad:
        path.write_text(json.dumps(data))
        with pytest.raises(KnowledgeBaseError):
            load_trusted_issuers(path)


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys; from opioidcds.cli import main; "
        "sys.argv = ['opioidcds', *sys.argv[1:]]; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_refuses_non_loopback_without_trust(tmp_path: Path) -> None:
    proc = _serve("--host", "0.0.0.0", "--feedback-db", str(tmp_path / "f.sqlite3"))  # noqa: S104
    assert proc.returncode == 2
    assert "refusing" in proc.stderr
    bad = tmp_path / "trust.json"
    bad.write_text("{}")
    db = tmp_path / "f2.sqlite3"
    proc = _serve("--host", "0.0.0.0", "--trusted-issuers", str(bad), "--feedback-db", str(db))  # noqa: S104
    assert proc.returncode == 2
    assert "trusted-issuers" in proc.stderr
    assert not db.exists()  # refused before anything is created


def test_serve_with_trusted_issuers_over_tcp(tmp_path: Path) -> None:
    import socket  # noqa: PLC0415 - only this test binds a port

    import httpx  # noqa: PLC0415

    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(trust_data()), encoding="utf-8")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = (
        "import sys; from opioidcds.cli import main; "
        "sys.argv = ['opioidcds', *sys.argv[1:]]; main()"
    )
    args = ["serve", "--port", str(port), "--trusted-issuers", str(trust)]
    args += ["--feedback-db", str(tmp_path / "f.sqlite3")]
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("opioidcds serve did not answer within 30 s")
                time.sleep(0.1)
        url = f"{base}{SIGN}"
        assert httpx.post(url, json=body(), timeout=10).status_code == 401
        tok = token()
        ok = httpx.post(url, json=body(), headers={"Authorization": f"Bearer {tok}"}, timeout=10)
        assert ok.status_code == 200, ok.text
    finally:
        proc.terminate()
        try:
            _out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate(timeout=20)
    assert "authentication on: 1 trusted issuer(s)" in err
    assert tok.split(".")[1] not in err
