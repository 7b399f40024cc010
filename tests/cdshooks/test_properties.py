"""Properties of the service core over generated orders: well-formed cards, never silence."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from opioidcds import default_knowledge
from opioidcds.cdshooks import CDSHooksService, RequestError
from opioidcds.cdshooks.models import HookRequest

from .hooks_helpers import DMD, draft_orders, hook_request

SVC = CDSHooksService(today=lambda: dt.date(2026, 11, 22))

# The amount of opioid in one unit of each product of DMD, by its name in dm+d (written by hand
# from the names: "Morphine 30mg ...", "Fentanyl 25micrograms/hour ..."), and whether it is a
# patch (counted by its rate, not by how often it is changed).
_PER_UNIT = {
    DMD["morphine-mr-30"][0]: ("morphine", Decimal(30), False),
    DMD["oxycodone-10"][0]: ("oxycodone", Decimal(10), False),
    DMD["codeine-30"][0]: ("codeine", Decimal(30), False),
    DMD["fentanyl-25"][0]: ("fentanyl", Decimal(25), True),
    DMD["methadone-5"][0]: ("methadone", Decimal(5), False),
}


def _within_limits(orders: list[dict[str, Any]]) -> bool:
    """Whether every order together stays within the plausibility limits, for each opioid.

    A bound over all of them (drafts and current medicines summed, before any is counted once
    as a re-issue): when it holds, no order can be refused as implausible. Milligrams a day:
    amount per unit x units a dose x doses a day; patches: rate x patches.
    """
    limits = default_knowledge().vocabulary.limits
    mg: dict[str, Decimal] = {}
    rate: dict[str, Decimal] = {}
    for rx in orders:
        code = rx["medicationCodeableConcept"]["coding"][0]["code"]
        if code not in _PER_UNIT:  # a benzodiazepine, a gabapentinoid or an unknown name
            continue
        name, amount, patch = _PER_UNIT[code]
        dosage = rx["dosageInstruction"][0]
        units = Decimal(str(dosage["doseAndRate"][0]["doseQuantity"]["value"]))
        if patch:
            rate[name] = rate.get(name, Decimal(0)) + amount * units
        else:
            repeat = dosage["timing"]["repeat"]
            per_day = Decimal(repeat["frequency"]) / Decimal(repeat["period"])
            mg[name] = mg.get(name, Decimal(0)) + amount * units * per_day
    return all(v <= limits.max_daily_mg for v in mg.values()) and all(
        v <= limits.max_patch_rate_microgram_per_hour for v in rate.values()
    )


@given(drafts=draft_orders, current=draft_orders)
def test_cards_are_well_formed_and_unreadable_orders_always_speak(
    drafts: list[dict[str, Any]], current: list[dict[str, Any]]
) -> None:
    # Over the limits an order is refused as implausible, and says so (its own card: tested
    # in test_service.py); here every order is real, so only unreadable ones are not checked.
    assume(_within_limits(drafts + current))
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
