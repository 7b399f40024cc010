"""Properties of the service core over generated orders: well-formed cards, never silence."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from opioidcds.cdshooks import CDSHooksService, RequestError
from opioidcds.cdshooks.models import HookRequest

from .hooks_helpers import draft_orders, hook_request

SVC = CDSHooksService(today=lambda: dt.date(2026, 11, 22))


@given(drafts=draft_orders, current=draft_orders)
def test_cards_are_well_formed_and_unreadable_orders_always_speak(
    drafts: list[dict[str, Any]], current: list[dict[str, Any]]
) -> None:
    for rx in current:
        rx["status"] = "active"
    body = hook_request("order-sign", drafts, current=current)
    cards = SVC.call("opioidcds-order-sign", HookRequest.model_validate(body)).cards
    assert len({c.uuid for c in cards}) == len(cards)
    for c in cards:
        assert len(c.summary) < 140
        assert c.indicator in {"info", "warning", "critical"}
        assert c.source.label
    unreadable_drafts = sum(1 for d in drafts if "Unknownium" in str(d))
    said = [c for c in cards if c.summary.startswith("Draft order") and "checked" in c.summary]
    assert len(said) == unreadable_drafts
    if any("Unknownium" in str(rx) for rx in current):
        assert any("not recognised" in c.summary for c in cards)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
fhir_keys = st.sampled_from(
    [
        "status",
        "medicationCodeableConcept",
        "dosageInstruction",
        "priorPrescription",
        "code",
        "clinicalStatus",
        "verificationStatus",
        "valueCodeableConcept",
        "class",
        "period",
        "gender",
        "birthDate",
        "doNotPerform",
    ]
)
resources = st.builds(
    lambda rtype, fields: {"resourceType": rtype, **fields},
    st.sampled_from(["MedicationRequest", "Condition", "Observation", "Encounter", "Patient"]),
    st.dictionaries(fhir_keys, json_values, max_size=5),
)


@given(drafts=st.lists(resources, max_size=3), others=st.lists(resources, max_size=4))
def test_garbage_resources_never_escape_as_errors(
    drafts: list[dict[str, Any]], others: list[dict[str, Any]]
) -> None:
    body = hook_request(
        "order-sign",
        drafts,
        current=others,
        conditions=others,
        observations=others,
        encounters=others,
    )
    try:
        response = SVC.call("opioidcds-order-sign", HookRequest.model_validate(body))
    except RequestError as exc:
        assert exc.path
    else:
        for c in response.cards:
            assert len(c.summary) < 140
