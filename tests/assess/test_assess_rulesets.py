"""The bundled rulesets of issue 5: present, clean, exemplified, cited, kindly worded."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from opioidcds import (
    HitPolicy,
    KnowledgeBaseError,
    OpioidCDSError,
    Patient,
    Prescription,
    assess,
    check_prescription,
    default_knowledge,
    lint_path,
    load_knowledge,
    load_profile,
)
from opioidcds._decide.knowledge import REQUIRED_RULESETS
from opioidcds._knowledge.paths import knowledge_dir

KB = default_knowledge()
STIGMA = re.compile(r"\b(addict\w*|abuse\w*|misuse\w*|junkie|drug[- ]seeking)\b", re.IGNORECASE)


def test_required_rulesets_are_bundled_and_lint_without_warnings() -> None:
    assert set(REQUIRED_RULESETS) <= set(KB.rulesets)
    report = lint_path(knowledge_dir("rules"))
    assert report.errors == ()
    assert report.warnings == (), "\n".join(str(w) for w in report.warnings)


@pytest.mark.parametrize("ruleset_id", REQUIRED_RULESETS)
def test_every_rule_has_examples_citations_rationale(ruleset_id: str) -> None:
    rs = KB.rulesets[ruleset_id]
    assert rs.reviewer
    for rule in rs.rules:
        assert rule.citations
        assert rule.rationale
        assert rule.examples or rs.examples, rule.id
    for param in rs.parameters.values():
        assert param.citations
        assert param.description is not None
        # each parameter says when it took effect: at the latest the ruleset's effective date
        found = re.search(r"effective (\d{4}-\d{2}-\d{2})", param.description)
        assert found, param.name
        assert dt.date.fromisoformat(found.group(1)) <= rs.effective_date, param.name


def test_hit_policies() -> None:
    assert KB.rulesets["risk-level"].hit_policy is HitPolicy.UNIQUE
    assert KB.rulesets["support-tier"].hit_policy is HitPolicy.UNIQUE
    assert KB.rulesets["prescribing-alerts"].hit_policy is HitPolicy.COLLECT
    assert KB.rulesets["risk-factors"].hit_policy is HitPolicy.COLLECT


def test_tier_and_scope_wording_is_not_stigmatising() -> None:
    texts: list[str] = []
    for rule in KB.rulesets["support-tier"].rules:
        for _, value in rule.outcome:
            texts.extend(value if isinstance(value, tuple) else [str(value)])
    for rule in KB.rulesets["scope"].rules:
        texts.extend(str(v) for _, v in rule.outcome)
    for text in texts:
        assert not STIGMA.search(text), text


def test_alert_summaries_fit_140_characters() -> None:
    for rule in KB.rulesets["prescribing-alerts"].rules:
        summary = dict(rule.outcome)["summary"]
        assert isinstance(summary, str)
        assert len(summary) < 140


def test_a_bundle_without_a_required_ruleset_is_refused() -> None:
    with pytest.raises(KnowledgeBaseError):
        load_knowledge(knowledge_dir("conversion_tables"))  # a folder with no rulesets


def test_the_opioids_aware_90_profile_lowers_the_dose_factor() -> None:
    profile = load_profile(knowledge_dir("rules") / "profiles" / "opioids-aware-90.toml")
    # morphine 50 mg x 2/day = 100 mg OME/day: not > 120 (default), but > 90 (profile)
    rx = Prescription(
        drug="morphine",
        form="modified-release tablet",
        strength="50 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )
    patient = Patient(age=50, prescriptions=(rx,))
    assert assess(patient).factor("high-dose").status == "absent"
    local = assess(patient, profile=profile)
    assert local.factor("high-dose").status == "present"
    assert local.versions["profile"] == "opioids-aware-90 1.1.2"
    assert any("profile opioids-aware-90" in line for line in local.factor("high-dose").trace)
    bundled = load_knowledge(profile=knowledge_dir("rules") / "profiles" / "opioids-aware-90.toml")
    assert assess(patient, knowledge=bundled).factor("high-dose").status == "present"


@pytest.mark.parametrize("ruleset_id", REQUIRED_RULESETS)
def test_inline_examples_agree_on_the_durable_backend(ruleset_id: str) -> None:
    pytest.importorskip("durable")
    bound = KB.bound(ruleset_id)
    durable = KB.durable(bound)
    givens = [ex.given for rule in bound.ruleset.rules for ex in rule.examples]
    givens += [ex.given for ex in bound.ruleset.examples]
    assert givens
    for given in givens:
        inputs = dict(given)
        try:
            expected = bound.evaluate(inputs)
        except OpioidCDSError:  # e.g. a required input missing: the same error on both
            with pytest.raises(OpioidCDSError):
                durable.evaluate(inputs)
            continue
        got = durable.evaluate(inputs)
        assert dict(got.statuses) == dict(expected.statuses), given


def test_profile_thresholds_are_named_in_alerts() -> None:
    profile = load_profile(knowledge_dir("rules") / "profiles" / "opioids-aware-90.toml")

    def morphine(mg: int) -> Prescription:
        return Prescription(
            drug="morphine",
            form="modified-release tablet",
            strength=f"{mg} mg",
            dose_quantity=1,
            dose_unit="tablet",
            doses_per_day=2,
        )

    patient = Patient(prescriptions=(morphine(30),), medication_list_complete=True)
    # before: morphine 30 x 2 = 60; new morphine 20 x 2 = 40
    # -> total 100: > 90 (profile reminder), not > 100 (Script Switch stays at 100).
    # The step 60 -> 100 is +40 mg (> 30) and +66.7% (40 x 100 / 60 > 20): a large increase
    # (issue 15; the escalation steps are the ruleset's defaults, not changed by this profile).
    alerts = check_prescription(patient, morphine(20), profile=profile)
    assert [a.id for a in alerts] == ["dose-escalation", "check-risk-factors"]
    assert "risk-factor reminder above 90 mg/day" in alerts[1].detail
    assert alerts[1].profile_id == "opioids-aware-90"
    # default: 100 is not > 120, so no reminder; the step is still large
    assert [a.id for a in check_prescription(patient, morphine(20))] == ["dose-escalation"]
