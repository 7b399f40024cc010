"""Every response the CDS Hooks tests produce is checked against the CDS Hooks 2.0.1 schemas.

The schemas (``data/cds_hooks_schemas/``, JSON Schema draft 2020-12) were written from the
specification's tables (HL7 cds-hooks 2.0.1; no official 2.0 schema exists) and self-tested
against the specification's own examples (``data/cds_hooks_schemas/README.md``).

Two places are watched for the whole session, so no test can produce a response that escapes:

- the service's ASGI guard (``opioidcds.cdshooks.app._Guard``), which every application built by
  ``create_app`` has, in-process (httpx's ASGI transport) or served by uvicorn in a thread:
  every ``200`` answer of ``GET /cds-services`` is checked against ``discovery`` and of
  ``POST /cds-services/{id}`` against ``cards-response``;
- the framework-free core (``CDSHooksService.call`` and ``.discovery``), for the tests that
  call it directly.

A response that does not conform fails the test that produced it, at its end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from opioidcds.cdshooks import app as app_module
from opioidcds.cdshooks.service import CDSHooksService

_SCHEMAS = Path(__file__).parent / "data" / "cds_hooks_schemas"


def _validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator of ``name``, after checking the schema itself is valid draft 2020-12."""
    schema = json.loads((_SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


_CARDS = _validator("cards-response.schema.json")
_DISCOVERY = _validator("discovery.schema.json")
FAILURES: list[str] = []
CHECKED: dict[str, int] = {"cards": 0, "discovery": 0}


def check_response(kind: str, body: Any) -> None:
    """Validate one response body (``kind``: ``cards`` or ``discovery``); record failures."""
    validator = _CARDS if kind == "cards" else _DISCOVERY
    CHECKED[kind] += 1
    for error in validator.iter_errors(body):
        where = "/".join(str(p) for p in error.absolute_path)
        FAILURES.append(f"{kind} response at '{where}': {error.message[:200]}")


def _kind(scope: dict[str, Any]) -> str | None:
    path = str(scope.get("path", "")).rstrip("/")
    parts = path.strip("/").split("/")
    if scope.get("method") == "GET" and path == "/cds-services":
        return "discovery"
    if scope.get("method") == "POST" and len(parts) == 2 and parts[0] == "cds-services":
        return "cards"
    return None


_original_guard_call = app_module._Guard.__call__


async def _checking_guard_call(self: Any, scope: Any, receive: Any, send: Any) -> None:
    kind = _kind(scope) if scope.get("type") == "http" else None
    if kind is None:
        await _original_guard_call(self, scope, receive, send)
        return
    state: dict[str, Any] = {"status": 0, "body": bytearray()}

    async def watching_send(message: Any) -> None:
        if message["type"] == "http.response.start":
            state["status"] = message["status"]
        elif message["type"] == "http.response.body":
            state["body"].extend(message.get("body", b""))
            if not message.get("more_body", False) and state["status"] == 200:
                check_response(kind, json.loads(bytes(state["body"])))
        await send(message)

    await _original_guard_call(self, scope, receive, watching_send)


_original_call = CDSHooksService.call
_original_discovery = CDSHooksService.discovery


def _checking_call(self: Any, *args: Any, **kwargs: Any) -> Any:
    result = _original_call(self, *args, **kwargs)
    check_response("cards", json.loads(result.model_dump_json(exclude_none=True)))
    return result


def _checking_discovery(self: Any) -> Any:
    result = _original_discovery(self)
    check_response("discovery", json.loads(result.model_dump_json(exclude_none=True)))
    return result


app_module._Guard.__call__ = _checking_guard_call  # type: ignore[method-assign]
CDSHooksService.call = _checking_call  # type: ignore[method-assign]
CDSHooksService.discovery = _checking_discovery  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _responses_conform() -> Iterator[None]:
    """Fail the test if any response it produced broke the CDS Hooks 2.0.1 schemas."""
    FAILURES.clear()
    yield
    found = list(FAILURES)
    FAILURES.clear()
    assert not found, "responses not conforming to CDS Hooks 2.0.1:\n" + "\n".join(found[:10])
