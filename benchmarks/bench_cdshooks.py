"""Load benchmark of the CDS Hooks service (issue 8). Prints figures; asserts nothing.

Starts ``opioidcds serve`` in a subprocess on 127.0.0.1 (a free port, a temporary feedback
file), then sends ``order-sign`` requests with 5 draft orders (and 3 current prescriptions,
conditions) at a fixed rate from one asyncio client on 32 keep-alive connections (open loop:
each request is due at ``start + i / rate`` and its latency is counted from that moment, so a
slow server cannot hide its queue). Target: p99 <= 20 ms at 200 requests/s on the 2-core
machine (CDS Hooks asks for about 500 ms). Prints p50/p90/p99/max, errors and the rate
achieved.

By default every request carries the same resources, as a prescribing system re-sends a
patient's medication list, so MedicationRequest reads hit the service's cache; ``--distinct``
gives every request new resource ids (every read misses); ``--vary`` also gives every request
different medicines and doses (a different product mix, dose and frequency per request, so no
result anywhere in the service, not even the OME of a list, can be reused), and the run prints
how many of its inputs were distinct. ``--workers N`` starts ``opioidcds serve --workers N``
(the server CPU then sums all its processes). ``--auth`` starts the server with a
trusted-issuers file (a fresh ES384 key) and sends a new signed JWT with every request, so the
figures include verifying it (the tokens are signed before the run, not by the load generator).

Run: ``.venv/bin/python benchmarks/bench_cdshooks.py [--rate 200] [--seconds 10] [--distinct]
[--auth]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

LOOPBACK = "127.0.0.1"
CONNECTIONS = 32
WARMUP = 200
SNOMED = "http://snomed.info/sct"
PRODUCTS = [
    ("36127311000001102", "Morphine 30mg modified-release tablets", "tablet"),
    ("42015811000001101", "Oxycodone 10mg capsules", "capsule"),
    ("42010411000001105", "Codeine 30mg tablets", "tablet"),
    ("36120011000001101", "Fentanyl 25micrograms/hour transdermal patches", "patch"),
]


def _request(
    i: int, product: int, dose: int, per_day: int, status: str, *, tag: str = ""
) -> dict[str, Any]:
    code, name, unit = PRODUCTS[product]
    return {
        "resourceType": "MedicationRequest",
        "id": f"mr-{status}-{i}{tag}",
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/bench"},
        "medicationCodeableConcept": {
            "coding": [{"system": SNOMED, "code": code, "display": name}]
        },
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit}}],
            }
        ],
    }


def _bundle(resources: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": [{"resource": r} for r in resources]}


def _mix(n: int) -> list[tuple[int, int, int]]:
    """Request ``n``'s (product, dose, doses a day) for its 8 orders, distinct for every n.

    The 8 products are the base-4 digits of ``n`` (4**8 = 65,536 mixes), so no two requests of
    a run share their medicines; doses and frequencies vary with ``n`` too.
    """
    out = []
    for k in range(8):
        product = (n >> (2 * k)) % len(PRODUCTS)
        dose = 1 + ((n * 2654435761) >> (3 * k)) % 4
        out.append((product, dose, 1 + ((n >> k) + k) % 4))
    return out


def body(tag: str = "", vary: int | None = None) -> dict[str, Any]:
    """An order-sign request: 5 distinct draft orders, 3 current prescriptions.

    ``tag`` is appended to every resource id: distinct tags make distinct resources.
    ``vary``: the medicines, doses and frequencies of request number ``vary`` (else fixed).
    """
    fixed = [(0, 1, 2), (1, 1, 4), (2, 2, 4), (0, 2, 1), (1, 2, 2), (2, 1, 4), (0, 1, 1), (1, 1, 1)]
    mix = fixed if vary is None else _mix(vary)
    drafts = [_request(i, *mix[i], "draft", tag=tag) for i in range(5)]
    current = [_request(i, *mix[i], "active", tag=tag) for i in range(5, 8)]
    condition = {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": SNOMED, "code": "35489007"}]},
    }
    return {
        "hook": "order-sign",
        "hookInstance": "bench",
        "context": {
            "userId": "Practitioner/bench",
            "patientId": "bench",
            "draftOrders": _bundle(drafts, "collection"),
        },
        "prefetch": {
            "patient": {"resourceType": "Patient", "gender": "female", "birthDate": "1960-01-01"},
            "medications": _bundle(current, "searchset"),
            "conditions": _bundle([condition], "searchset"),
        },
    }


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` and its children (Linux /proc; else None).

    Children (``--workers`` processes) are found by their parent id; their CPU is counted
    while they run (live processes only).
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return None
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parts = stat.read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(parts[1]) == pid:
            total += _cpu_seconds(int(stat.parent.name)) or 0.0
    return total


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _wait(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


async def _roundtrip(
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes
) -> tuple[int, bytes]:
    """One HTTP/1.1 keep-alive exchange on ``conn``: status and body (Content-Length)."""
    reader, writer = conn
    writer.write(request)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in {b"\r\n", b""}:
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


ISSUER = "https://ehr.bench.invalid"
SERVICE_URL = "https://cds.bench.invalid"


class _Tokens:
    """Signs one JWT per request before the run (CDS Hooks 2.0 client JWT, ES384)."""

    def __init__(self, trust_file: Path) -> None:
        import jwt  # noqa: PLC0415 - only with --auth
        from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

        self._jwt = jwt
        self._key = ec.generate_private_key(ec.SECP384R1())
        public = jwt.algorithms.ECAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        public["kid"] = "bench-1"
        trust = {
            "service_base_url": SERVICE_URL,
            "issuers": [{"iss": ISSUER, "jwks": {"keys": [public]}}],
        }
        trust_file.write_text(json.dumps(trust), encoding="utf-8")
        self._n = 0

    def next(self) -> str:
        now = int(time.time())
        self._n += 1
        claims = {
            "iss": ISSUER,
            "sub": "bench-client",
            "aud": f"{SERVICE_URL}/cds-services/opioidcds-order-sign",
            "iat": now,
            "exp": now + 300,
            "jti": f"bench-{self._n}",
        }
        return str(
            self._jwt.encode(claims, self._key, algorithm="ES384", headers={"kid": "bench-1"})
        )


def _http(port: int, payload: bytes, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n".encode() if token else b""
    return (
        b"POST /cds-services/opioidcds-order-sign HTTP/1.1\r\n"
        + f"Host: {LOOPBACK}:{port}\r\n".encode()
        + auth
        + b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )


async def _load(
    port: int,
    rate: float,
    seconds: float,
    *,
    distinct: bool,
    vary: bool,
    tokens: _Tokens | None,
) -> tuple[list[float], int, float, int]:
    """Send ``rate * seconds`` requests on a pool of keep-alive connections, open loop.

    A minimal HTTP/1.1 client on asyncio streams (the request bytes are built once), so the
    load generator costs little CPU beside the server on a 2-core machine.
    """
    n = int(rate * seconds)

    def token() -> str | None:
        return tokens.next() if tokens is not None else None

    same_body = json.dumps(body()).encode()
    warm = [_http(port, same_body, token()) for _ in range(WARMUP)]
    payloads = [
        json.dumps(body(f"-{i}", vary=i if vary else None)).encode()
        if distinct or vary
        else same_body
        for i in range(n)
    ]
    # distinct inputs: the medicines and doses of a request, without its ids
    kinds = {json.dumps(_mix(i)) for i in range(n)} if vary else {"same"}
    requests = [_http(port, p, token()) for p in payloads]
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        pool.put_nowait(await asyncio.open_connection(LOOPBACK, port))
    latencies: list[float] = []
    errors = 0

    async def one(due: float, request: bytes) -> None:
        nonlocal errors
        conn = await pool.get()
        try:
            status, content = await _roundtrip(conn, request)
            ok = status == 200 and content.startswith(b'{"cards":[{')
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            ok = False
            conn = await asyncio.open_connection(LOOPBACK, port)
        latencies.append(time.perf_counter() - due)
        errors += 0 if ok else 1
        pool.put_nowait(conn)

    await asyncio.gather(*(one(time.perf_counter(), w) for w in warm))
    latencies.clear()
    errors = 0
    start = time.perf_counter()
    tasks = []
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, requests[i])))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not pool.empty():
        _reader, writer = pool.get_nowait()
        writer.close()
    return latencies, errors, n / elapsed, len(kinds)


def main() -> None:  # noqa: PLR0915 - one run, step by step
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the run")
    parser.add_argument(
        "--distinct",
        action="store_true",
        help="new resource ids in every request (no MedicationRequest cache hits)",
    )
    parser.add_argument(
        "--vary",
        action="store_true",
        help="different medicines, doses and frequencies in every request (and new ids)",
    )
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument(
        "--auth", action="store_true", help="require and send CDS Hooks client JWTs (ES384)"
    )
    args = parser.parse_args()
    port = _free_port()
    base = f"http://{LOOPBACK}:{port}"
    with tempfile.TemporaryDirectory() as tmp:
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
            str(Path(tmp) / "fb.sqlite3"),
            "--workers",
            str(args.workers),
        ]
        tokens = None
        if args.auth:
            tokens = _Tokens(Path(tmp) / "trust.json")
            cmd += ["--trusted-issuers", str(Path(tmp) / "trust.json")]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(base, proc)
            load_before = os.getloadavg()[0]
            cpu_before = _cpu_seconds(proc.pid)
            latencies, errors, achieved, kinds = asyncio.run(
                _load(
                    port,
                    args.rate,
                    args.seconds,
                    distinct=args.distinct,
                    vary=args.vary,
                    tokens=tokens,
                )
            )
            cpu_after = _cpu_seconds(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    kind = "distinct resources (cold cache)" if args.distinct else "same resources (warm cache)"
    if args.vary:
        kind = "different medicines and doses in every request (cold everything)"
    kind += f", {args.workers} worker process(es)"
    kind += ", JWT verified per request" if args.auth else ", no authentication (loopback)"
    print(f"CDS Hooks order-sign, 5 draft orders + 3 current, loopback, open loop, {kind}")
    print(f"  requests      {len(ms)} at {args.rate:g}/s target, {achieved:.1f}/s achieved")
    print(f"  errors        {errors}")
    if args.vary:
        print(f"  distinct      {kinds} distinct medicine/dose inputs in {len(ms)} requests")
    print(f"  p50           {q[49]:.2f} ms")
    print(f"  p90           {q[89]:.2f} ms")
    print(f"  p99           {q[98]:.2f} ms   (target <= 20 ms)")
    print(f"  max           {ms[-1]:.2f} ms")
    if cpu_before is not None and cpu_after is not None:
        per = (cpu_after - cpu_before) / (len(ms) + WARMUP) * 1000
        print(f"  server CPU    {per:.2f} ms per request (user + system)")
    print(f"  machine load  {load_before:.2f} (1-min load average at start; 2 cores)")


if __name__ == "__main__":
    main()
