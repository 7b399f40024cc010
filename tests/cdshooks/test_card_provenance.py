"""Cards name all the knowledge behind them, including what the service read the request with.

A card's decision depends on the rulesets, table, vocabulary, dose units and catalogue (the
alert's provenance) and on the knowledge the service used to read the FHIR request: which
Condition codes mean cancer pain or palliative care (``codelists/risk-inputs.toml``), the
RxNorm products, the hospital settings' codes and the card content. HAZ-011
(``docs/safety/provenance.md``): the hash on the card covers both.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from opioidcds import Patient, Prescription, check_prescription
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.provenance import combine
from opioidcds.cdshooks import CDSHooksService, load_codelists
from opioidcds.cdshooks.cards import provenance_extension
from opioidcds.cdshooks.models import HookRequest

from .hooks_helpers import high_dose_request

PROVENANCE = "org.opioidcds.provenance"


def _cards(service: CDSHooksService) -> list[Any]:
    request = HookRequest.model_validate(high_dose_request())
    return list(service.call("opioidcds-order-sign", request).cards)


def test_the_card_hash_covers_the_decision_and_the_reading_knowledge() -> None:
    service = CDSHooksService(today=lambda: dt.date(2026, 11, 22))
    kinds = {s.kind for s in service.reading_provenance.knowledge}
    assert kinds == {
        "fhir-codelists",
        "card-content",
        "fhir-acute-mapping",
        "fhir-rxnorm-products",
    }
    # The extension of an alert's card: the alert's provenance combined with the reading one.
    morphine = Prescription(
        drug="morphine",
        form="modified-release tablet",
        strength="30 mg",
        dose_quantity=4,
        dose_unit="tablet",
        doses_per_day=2,
    )
    (alert, *_rest) = check_prescription(Patient(), morphine, knowledge=service.knowledge)
    expected = combine(alert.provenance, service.reading_provenance)
    shown = provenance_extension(alert.provenance, service.reading_provenance)[PROVENANCE]
    assert shown["knowledge_sha256"] == expected.knowledge_sha256
    assert shown["knowledge_sha256"] != alert.provenance.knowledge_sha256
    # the dose units are in the decision's own provenance (every result with a vocabulary)
    assert "dose-units" in {s.id for s in alert.provenance.knowledge}
    assert {s.id for s in expected.knowledge} >= {"dose-units", alert.ruleset_id}
    # and every fired card of a real request carries such a combined hash, one per request
    fired = [c for c in _cards(service) if c.indicator in ("warning", "critical")]
    assert fired
    assert len({c.extension[PROVENANCE]["knowledge_sha256"] for c in fired}) == 1


def test_another_codelist_changes_the_card_hash(tmp_path: Path) -> None:
    bundled = knowledge_dir("codelists") / "risk-inputs.toml"
    text = bundled.read_text(encoding="utf-8")
    version = load_codelists().version
    local = tmp_path / "risk-inputs.toml"
    local.write_text(
        text.replace(f'version = "{version}"', f'version = "{version}-local"', 1),
        encoding="utf-8",
    )
    today = lambda: dt.date(2026, 11, 22)  # noqa: E731
    bundled_service = CDSHooksService(today=today)
    local_service = CDSHooksService(codelists=load_codelists(local), today=today)
    assert load_codelists(local).version == f"{version}-local"

    def hashes(service: CDSHooksService) -> set[str]:
        return {
            c.extension[PROVENANCE]["knowledge_sha256"]
            for c in _cards(service)
            if c.indicator != "info"
        }

    # the same decision (same rulesets, same cards) but read with another codelist file
    assert [c.summary for c in _cards(bundled_service)] == [
        c.summary for c in _cards(local_service)
    ]
    assert hashes(bundled_service).isdisjoint(hashes(local_service))
