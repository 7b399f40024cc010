"""A small FHIR R4 server on loopback for the service's fetching tests (real HTTP, stdlib only).

It holds resources in memory and answers what the service asks: reads (``GET /fhir/Type/id``)
and searches (``GET /fhir/Type?patient=...&status=...&_count=N``) as searchset Bundles paged
with ``Bundle.link`` ``next`` (``_offset``) and ``total``. It checks the bearer token, counts
requests, and can be told to misbehave: delay answers, refuse tokens, send a ``next`` link off
the server, or answer with something that is not FHIR. Synthetic data only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "loopback-token-1"  # noqa: S105 - a test server's token, not a secret


@dataclass
class Behaviour:
    """How the server answers (changed by tests)."""

    page_size: int = 2
    delay_seconds: float = 0.0
    token: str = TOKEN
    next_off_server: bool = False
    not_json_for: set[str] = field(default_factory=set)  # resource types answered with HTML


class LoopbackFhir:
    """A running server: ``base`` URL, ``resources``, ``behaviour``, ``requests`` seen."""

    def __init__(self) -> None:
        self.resources: dict[str, dict[str, dict[str, Any]]] = {}
        self.behaviour = Behaviour()
        self.requests: list[str] = []
        self.authorizations: list[str | None] = []
        self._lock = threading.Lock()
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        self._server = server
        self.base = f"http://127.0.0.1:{server.server_address[1]}/fhir"
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)

    def add(self, *resources: dict[str, Any]) -> None:
        """Store resources (each needs ``resourceType`` and ``id``)."""
        with self._lock:
            for r in resources:
                self.resources.setdefault(r["resourceType"], {})[r["id"]] = r

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _search(self, kind: str, query: dict[str, list[str]], url: str) -> dict[str, Any]:
        with self._lock:
            found = list(self.resources.get(kind, {}).values())
        patient = next(iter(query.get("patient", [])), None)
        if patient is not None:
            found = [r for r in found if _subject_id(r) == patient.rsplit("/", 1)[-1]]
        status = next(iter(query.get("status", [])), None)
        if status is not None:
            found = [r for r in found if r.get("status") in status.split(",")]
        count = min(int((query.get("_count") or [str(self.behaviour.page_size)])[0]), 1000)
        count = min(count, self.behaviour.page_size)
        offset = int((query.get("_offset") or ["0"])[0])
        page = found[offset : offset + count]
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "link": [{"relation": "self", "url": url}],
            "entry": [
                {
                    "fullUrl": f"{self.base}/{r['resourceType']}/{r['id']}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in page
            ],
        }
        if offset + count < len(found):
            rest = {k: v[0] for k, v in query.items() if k not in {"_offset", "_count"}}
            params = "&".join(f"{k}={v}" for k, v in rest.items())
            base = "http://127.0.0.2:9/fhir" if self.behaviour.next_off_server else self.base
            bundle["link"].append(
                {
                    "relation": "next",
                    "url": f"{base}/{kind}?{params}&_count={count}&_offset={offset + count}",
                }
            )
        return bundle

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                b = server.behaviour
                with server._lock:
                    server.requests.append(self.path)
                    server.authorizations.append(self.headers.get("Authorization"))
                if b.delay_seconds:
                    time.sleep(b.delay_seconds)
                if self.headers.get("Authorization") != f"Bearer {b.token}":
                    self._send(401, {"resourceType": "OperationOutcome", "issue": []})
                    return
                parts = urlsplit(self.path)
                path = parts.path.removeprefix("/fhir/").strip("/")
                kind, _sep, rid = path.partition("/")
                if kind in b.not_json_for:
                    self._raw(200, b"<html>not FHIR</html>", "text/html")
                    return
                if rid:
                    found = server.resources.get(kind, {}).get(rid)
                    if found is None:
                        self._send(404, {"resourceType": "OperationOutcome", "issue": []})
                    else:
                        self._send(200, found)
                    return
                url = f"{server.base}/{path}?{parts.query}"
                self._send(200, server._search(kind, parse_qs(parts.query), url))

            def _send(self, status: int, body: dict[str, Any]) -> None:
                self._raw(status, json.dumps(body).encode(), "application/fhir+json")

            def _raw(self, status: int, data: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _subject_id(resource: dict[str, Any]) -> str | None:
    subject = resource.get("subject")
    ref = subject.get("reference") if isinstance(subject, dict) else None
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


@contextmanager
def loopback_fhir() -> Iterator[LoopbackFhir]:
    """A started server, stopped afterwards."""
    server = LoopbackFhir()
    server.start()
    try:
        yield server
    finally:
        server.stop()
