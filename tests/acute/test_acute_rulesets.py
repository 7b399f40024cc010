"""The acute rulesets: loaded and linted clean, every rule with examples both ways."""

from __future__ import annotations

import pytest

from opioidcds import DecisionStatus, HitPolicy, Ruleset, lint_path
from opioidcds._decide.hospital import discharge_ruleset, inpatient_ruleset
from opioidcds._knowledge.paths import knowledge_dir


@pytest.mark.parametrize("rs", [discharge_ruleset(), inpatient_ruleset()], ids=lambda r: r.id)
def test_every_rule_has_fired_and_not_fired_examples(rs: Ruleset) -> None:
    assert rs.hit_policy is HitPolicy.COLLECT
    for rule in rs.rules:
        expects = {e.expect for e in rule.examples}
        assert DecisionStatus.FIRED in expects, rule.id
        assert DecisionStatus.NOT_FIRED in expects, rule.id
        assert DecisionStatus.CANNOT_EVALUATE in expects, rule.id
        assert rule.citations
        assert rule.rationale
        assert rule.stage.value == "de-escalate"


@pytest.mark.parametrize("rs", [discharge_ruleset(), inpatient_ruleset()], ids=lambda r: r.id)
def test_every_parameter_is_cited(rs: Ruleset) -> None:
    assert rs.parameters
    for p in rs.parameters.values():
        assert p.citations


def test_defaults_from_seed_002() -> None:
    params = discharge_ruleset().parameters
    assert params["max_days_supply_new_opioid"].value == 7
    assert params["high_dose_mg_per_day"].value == 120
    assert inpatient_ruleset().parameters["max_iv_morphine_bolus_hours"].value == 48


def test_rules_folder_lints_without_warnings() -> None:
    report = lint_path(knowledge_dir("rules"))
    assert report.errors == ()
    acute = [f for f in report.warnings if "discharge" in str(f) or "inpatient" in str(f)]
    assert acute == []
