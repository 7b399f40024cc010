"""The service's OpenAPI document, exercised by schemathesis: no 500 on any generated request.

Bounded (``max_examples`` per operation) so the whole module runs in well under a minute; marked
``schemathesis`` and run by the normal test command.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from opioidcds.cdshooks import CDSHooksService, FeedbackStore
from opioidcds.cdshooks.app import create_app

_TMP = Path(tempfile.mkdtemp(prefix="opioidcds-schemathesis-"))
_STORE = FeedbackStore(_TMP / "feedback.sqlite3")
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(CDSHooksService(today=lambda: dt.date(2026, 11, 22)), feedback=_STORE),
)

pytestmark = pytest.mark.schemathesis


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    shutil.rmtree(_TMP, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate()
