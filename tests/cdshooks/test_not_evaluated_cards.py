"""The CDS Hooks card of alerts that could not be checked speaks in words (issue 19's standard).

Its detail named the rules by id and the unknown inputs by variable name, from the alert's
text. Over generated orders (recognised opioids, a benzodiazepine, a gabapentinoid, a product
not recognised; nothing said about the other medicine classes, so those checks are open), no
card's summary, detail or source label carries a rule id, an input name of the prescribing
alerts or any ``snake_case`` word; the ids travel in the card's rule-trace extension.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import assume, given, settings

from human_text import knowledge_ids, unescape_markdown
from human_text import leaks as text_leaks
from opioidcds import default_knowledge
from opioidcds.cdshooks import CDSHooksService
from opioidcds.cdshooks.models import HookRequest

from .hooks_helpers import draft_orders, hook_request

SVC = CDSHooksService(today=lambda: dt.date(2026, 11, 22))
RULESET = default_knowledge().rulesets["prescribing-alerts"]
TRACE = "org.opioidcds.rule-trace"
IDS = knowledge_ids() | {"alerts-not-evaluated"}  # the bundled knowledge's ids, and the alert's


def leaks(markdown: str) -> list[str]:
    """Ids and ``snake_case`` words written in ``markdown`` as people see it (escapes undone)."""
    return text_leaks(unescape_markdown(markdown), IDS)


def test_the_scan_catches_the_old_wording() -> None:
    old = "Could not check: opioid-with-z-drug. Unknown: z_drug_coprescribed, opioid_use_days."
    assert leaks(old) == ["opioid-with-z-drug", "opioid_use_days", "z_drug_coprescribed"]
    assert leaks(r"Unknown: total\_ome\_mg\_per\_day.") == ["total_ome_mg_per_day"]  # escaped
    assert leaks("record whether a z-drug (zopiclone) is co-prescribed") == []


@settings(max_examples=60, deadline=None)
@given(drafts=draft_orders, current=draft_orders)
def test_no_card_text_names_a_rule_id_or_an_input(
    drafts: list[dict[str, Any]], current: list[dict[str, Any]]
) -> None:
    for rx in current:
        rx["status"] = "active"
    body = hook_request("order-sign", drafts, current=current)
    cards = SVC.call("opioidcds-order-sign", HookRequest.model_validate(body)).cards
    traces = [(c.extension or {}).get(TRACE, {}) for c in cards]
    pending = [t for t in traces if t.get("rule") == "alerts-not-evaluated"]
    assume(pending)  # orders with open checks: the card this is about
    for card in cards:
        text = "\n".join((card.summary, card.detail or "", card.source.label))
        assert leaks(text) == [], card.summary
    # the ids are in the extension, for the audit record
    for trace in pending:
        assert trace["not_checked"]
        assert set(trace["not_checked"]) <= {r.id for r in RULESET.rules}
        assert set(trace["unknown_inputs"]) <= set(RULESET.input_names)
