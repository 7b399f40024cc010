"""The service's OpenAPI document, exercised by schemathesis.

Every schemathesis check but one runs on every generated request: no 500, every status code and
response body as documented, ``Allow`` on 405. Left out: "schema-valid data is accepted". One
endpoint serves three services whose hooks and contexts differ (CDS Hooks defines each hook's
context in prose), so a request the schema allows is often one the service must refuse with a
documented 400 (a hook that is not the service's, a context without ``patientId``). Bounded
(``max_examples`` per operation) so the module runs in well under a minute; marked
``schemathesis`` and run by the normal test command.
"""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from opioidcds.cdshooks import CDSHooksService, FeedbackStore
from opioidcds.cdshooks.app import create_app

_TMP = Path(tempfile.mkdtemp(prefix="opioidcds-schemathesis-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)  # also when the tests are deselected
_STORE = FeedbackStore(_TMP / "feedback.sqlite3")
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(CDSHooksService(today=lambda: dt.date(2026, 11, 22)), feedback=_STORE),
)

pytestmark = pytest.mark.schemathesis


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])
