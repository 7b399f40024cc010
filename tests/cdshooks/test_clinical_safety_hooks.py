"""Issue 15 through the CDS Hooks service: the same patients as tests/assess/test_clinical_safety.py
give the same alerts as ``check_prescription``. Hand-worked with the UK Opioids Aware factors
(morphine 1, codeine 0.1, fentanyl patch 2.4 per microgram/hour)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from opioidcds.cdshooks import CDSHooksService
from opioidcds.cdshooks.models import Card, HookRequest

from .hooks_helpers import hook_request, med_request, named_request

SIGN = "opioidcds-order-sign"
TODAY = dt.date(2026, 11, 22)


@pytest.fixture(scope="module")
def svc() -> CDSHooksService:
    return CDSHooksService(today=lambda: TODAY)


def call(svc: CDSHooksService, body: dict[str, Any]) -> list[Card]:
    return list(svc.call(SIGN, HookRequest.model_validate(body)).cards)


def summaries(cards: list[Card]) -> list[tuple[str, str]]:
    return sorted((c.indicator, c.summary) for c in cards)


def test_zopiclone_for_a_patient_on_fentanyl_is_a_critical_card(svc: CDSHooksService) -> None:
    # fentanyl 25 microgram/hour, 2 patches every 3 days: 50 x 2.4 = 120 mg OME/day; draft
    # zopiclone (a z-drug, recognised by name): critical, naming the class
    body = hook_request(
        "order-sign",
        [named_request("Zopiclone 7.5mg tablets", rid="draft-1", status="draft")],
        current=[med_request("fentanyl-25", dose=2, per_day=1, period_days=3)],
    )
    got = summaries(call(svc, body))
    assert [i for i, _s in got] == ["critical"]
    assert "z-drug" in got[0][1]


def test_codeine_then_fentanyl_25_is_not_tolerant_and_a_large_step(svc: CDSHooksService) -> None:
    # codeine 30 mg four times a day: 120 mg x 0.1 = 12 mg OME/day; draft fentanyl 25: 60 ->
    # total 72: +60 mg, +500%. 12 < 60: not opioid tolerant (critical).
    body = hook_request(
        "order-sign",
        [med_request("fentanyl-25", per_day=1, period_days=3, status="draft", rid="d-1")],
        current=[med_request("codeine-30", per_day=4)],
    )
    cards = call(svc, body)
    got = summaries(cards)
    assert [i for i, _s in got] == ["critical", "warning"]
    assert "not opioid tolerant" in got[0][1]
    assert "Large increase" in got[1][1]
    assert all("**Total: 72 mg OME/day.**" in c.detail for c in cards)


def test_a_draft_replacing_an_active_order_is_counted_once(svc: CDSHooksService) -> None:
    # active morphine MR 30 mg, 1 twice a day (60 mg OME/day, id mr-1); the draft doubles it
    # (2 twice a day = 120) and names mr-1 as its priorPrescription: total 120, not 180.
    # Script Switch (> 100) and a large step (+60 mg, +100%).
    draft = med_request("morphine-mr-30", dose=2, per_day=2, status="draft", rid="mr-2")
    draft["priorPrescription"] = {"reference": "MedicationRequest/mr-1"}
    body = hook_request("order-sign", [draft], current=[med_request("morphine-mr-30", rid="mr-1")])
    cards = call(svc, body)
    assert sorted(c.indicator for c in cards) == ["warning", "warning"]
    for card in cards:
        assert "**Total: 120 mg OME/day.**" in card.detail
        assert "Total 120 mg OME/day with this prescription; 60 mg OME/day before." in card.detail


def test_benzodiazepine_and_very_high_dose(svc: CDSHooksService) -> None:
    # active morphine MR 30 mg, 4 twice a day = 240 mg OME/day, with diazepam; the same order
    # re-issued: re-authorisation (> 100), opioid + benzodiazepine (critical), very-high-dose
    # band (240 >= 200)
    current = [med_request("morphine-mr-30", dose=4, per_day=2), named_request(
        "Diazepam 5mg tablets")]  # fmt: skip
    draft = med_request("morphine-mr-30", dose=4, per_day=2, status="draft")
    got = summaries(call(svc, hook_request("order-sign", [draft], current=current)))
    assert [i for i, _s in got] == ["critical", "warning", "warning"]
    text = " ".join(s for _i, s in got)
    assert "benzodiazepine" in text
    assert "very high dose band" in text
    assert "Re-authorising" in text


def test_a_switch_from_codeine_to_a_fentanyl_patch_is_a_new_item(svc: CDSHooksService) -> None:
    # codeine 30 mg four times a day: 120 mg x 0.1 = 12 mg OME/day (id mr-1); the draft
    # fentanyl 25 microgram/hour patch names mr-1 as its priorPrescription (a switch): before 12,
    # after 25 x 2.4 = 60 (the codeine is replaced). 12 < 60: not opioid tolerant, the critical
    # alert of a new fentanyl patch, which a re-authorisation would not get; +48 mg, +400%: a
    # large step. The card says why it is a new order.
    draft = med_request("fentanyl-25", per_day=1, period_days=3, status="draft", rid="d-1")
    draft["priorPrescription"] = {"reference": "MedicationRequest/mr-1"}
    body = hook_request("order-sign", [draft], current=[med_request("codeine-30", per_day=4)])
    cards = call(svc, body)
    got = summaries(cards)
    assert [i for i, _s in got] == ["critical", "warning"]
    assert "not opioid tolerant" in got[0][1]
    assert "Large increase" in got[1][1]
    for card in cards:
        assert "**Total: 60 mg OME/day.**" in card.detail
        assert "a switch" in card.detail
        assert "re-authorisation" not in card.detail


def test_a_reissued_order_is_not_counted_again_in_later_orders(svc: CDSHooksService) -> None:
    # current: morphine MR 30 mg, 1 twice a day = 60 mg OME/day. Draft 1 re-issues it (the
    # same medicine and dose: counted once); draft 2 adds oxycodone 10 mg, 2 twice a day =
    # 40 mg x 1.5 = 60 mg OME/day. Draft 2's totals: before 60, after 60 + 60 = 120 (not 120
    # before and 180 after, as when the re-issue was counted a second time). 120 > 100: the
    # Script Switch alert; +60 mg, +100%: a large step; 120 is not above 120: no risk-factor
    # reminder.
    drafts = [
        med_request("morphine-mr-30", dose=1, per_day=2, status="draft", rid="d-1"),
        med_request("oxycodone-10", dose=2, per_day=2, status="draft", rid="d-2"),
    ]
    body = hook_request(
        "order-sign", drafts, current=[med_request("morphine-mr-30", dose=1, per_day=2)]
    )
    cards = call(svc, body)
    got = summaries(cards)
    assert [i for i, _s in got] == ["warning", "warning"]
    for card in cards:
        assert "Order: draft order 2" in card.detail
        assert "**Total: 120 mg OME/day.**" in card.detail
        assert "Total 120 mg OME/day with this prescription; 60 mg OME/day before." in card.detail


def test_a_second_reissue_of_the_same_order_is_a_duplicate(svc: CDSHooksService) -> None:
    # current: morphine MR 30 mg, 1 twice a day = 60 mg OME/day. Drafts 1 and 2 both re-issue
    # it: signing both would supply it twice, so draft 2 gets the duplicate card naming draft
    # 1, as two identical new orders do. 60 mg OME/day is below every threshold: no other card.
    drafts = [
        med_request("morphine-mr-30", dose=1, per_day=2, status="draft", rid="d-1"),
        med_request("morphine-mr-30", dose=1, per_day=2, status="draft", rid="d-2"),
    ]
    body = hook_request(
        "order-sign", drafts, current=[med_request("morphine-mr-30", dose=1, per_day=2)]
    )
    cards = call(svc, body)
    assert summaries(cards) == [
        ("info", "Draft order 2 has the same medicine and dose as another order: counted once.")
    ]
    assert "as draft order 1: Morphine 30mg modified-release tablets" in cards[0].detail


def test_two_drafts_replacing_one_order_take_it_off_once(svc: CDSHooksService) -> None:
    # current: morphine MR 30 mg, 1 twice a day = 60 mg OME/day (mr-1). Draft 1 (2 twice a
    # day = 120) and draft 2 (1 twice a day = 60) both name mr-1 as their priorPrescription
    # (a dose change written as two orders). Draft 1: before 60, after 120. Draft 2: mr-1 is
    # already taken off by draft 1, so before = 120 (draft 1), after = 120 + 60 = 180:
    # +60 mg, +50%, a large step (more than 20% and more than 30 mg). Before the fix draft 2
    # counted mr-1 again "before" (60 + 120 = 180 before, 180 after: no increase seen).
    def prior(resource: dict[str, Any]) -> dict[str, Any]:
        resource["priorPrescription"] = {"reference": "MedicationRequest/mr-1"}
        return resource

    drafts = [
        prior(med_request("morphine-mr-30", dose=2, per_day=2, status="draft", rid="d-1")),
        prior(med_request("morphine-mr-30", dose=1, per_day=2, status="draft", rid="d-2")),
    ]
    body = hook_request(
        "order-sign", drafts, current=[med_request("morphine-mr-30", dose=1, per_day=2)]
    )
    cards = call(svc, body)
    second = [c for c in cards if "Order: draft order 2" in c.detail]
    assert second
    for card in second:
        assert "Total 180 mg OME/day with this prescription; 120 mg OME/day before." in card.detail
        assert "an earlier draft order of this request already replaces" in card.detail
    assert any("Large increase" in c.summary for c in second)
    first = [c for c in cards if "Order: draft order 1" in c.detail]
    assert all(
        "Total 120 mg OME/day with this prescription; 60 mg OME/day before." in c.detail
        for c in first
    )
