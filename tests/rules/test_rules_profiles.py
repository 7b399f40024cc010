"""Profiles: parameter overrides and disabled rules, named in every decision; bad profiles."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from opioidcds import (
    DecisionStatus,
    Profile,
    ProfileError,
    Ruleset,
    RulesetLoadError,
    load_profile,
    load_ruleset,
)

from .dsl_helpers import FIXTURES, write

PROFILE_HEAD = """
kind = "profile"
id = "p"
version = "0.1.0"
effective_date = 2026-11-22
owner = "tests"
description = "test profile"

[citations]
local = "Local policy."
"""


def profile_at(tmp_path: Path, body: str) -> Path:
    return write(tmp_path, PROFILE_HEAD + body, "profile.toml")


def test_override_changes_threshold_and_is_named(alerts: Ruleset, ics90: Profile) -> None:
    plain = alerts.evaluate({"total_ome_mg_per_day": 95})
    assert plain.statuses["above-alert-threshold"] is DecisionStatus.NOT_FIRED
    local = alerts.evaluate({"total_ome_mg_per_day": 95}, profile=ics90)
    assert local.statuses["above-alert-threshold"] is DecisionStatus.FIRED
    assert (local.profile_id, local.profile_version) == ("fixture-ics-90", "1.0.0")
    hit = local["above-alert-threshold"]
    assert hit.profile_id == "fixture-ics-90"
    assert "alert_threshold_mg_per_day=90 (profile fixture-ics-90 1.0.0)" in hit.trace[1]
    assert [c.id for c in hit.citations] == ["seed-002", "oa-2025"]


def test_disabled_rule_states_reason(alerts: Ruleset, ics90: Profile) -> None:
    d = alerts.evaluate({"gabapentinoid": True}, profile=ics90)
    gaba = d["opioid-with-gabapentinoid"]
    assert gaba.status is DecisionStatus.DISABLED
    assert gaba.disabled_reason == "Handled by the ICS pharmacist review instead (ics-policy)."
    assert "opioid-with-gabapentinoid" not in d.fired_ids


def test_profile_applies_to_unique_table(tier: Ruleset, ics90: Profile) -> None:
    inputs = {"risk_factor_count": 0, "mg_per_day": 100, "complex_needs": False}
    assert tier.evaluate(inputs).outcome == {"tier": "letter"}
    assert tier.evaluate(inputs, profile=ics90).outcome == {"tier": "pcn-service"}


def test_profile_without_section_changes_nothing_but_is_named(
    level: Ruleset, ics90: Profile
) -> None:
    d = level.evaluate({"factors": 0, "mg_per_day": 10}, profile=ics90)
    assert d.fired_ids == ("low",)
    assert d.profile_id == "fixture-ics-90"


def test_bind_is_cached_and_reused(tier: Ruleset, ics90: Profile) -> None:
    assert tier.bind(ics90) is tier.bind(ics90)


def test_unknown_parameter_refused(tier: Ruleset, tmp_path: Path) -> None:
    p = load_profile(
        profile_at(
            tmp_path,
            '[rulesets.fixture-tier.parameters.nope]\nvalue = 1\ncitations = ["local"]\n'
            'reason = "r"\n',
        )
    )
    with pytest.raises(ProfileError, match="unknown parameter 'nope'"):
        tier.evaluate({"risk_factor_count": 0}, profile=p)


def test_unknown_rule_refused(tier: Ruleset, tmp_path: Path) -> None:
    p = load_profile(
        profile_at(tmp_path, '[[rulesets.fixture-tier.disable]]\nrule = "zzz"\nreason = "r"\n')
    )
    with pytest.raises(ProfileError, match="unknown rule 'zzz'"):
        tier.bind(p)


def test_version_pin_refused(tier: Ruleset, tmp_path: Path) -> None:
    p = load_profile(profile_at(tmp_path, '[rulesets.fixture-tier]\nruleset_version = "9.9.9"\n'))
    with pytest.raises(ProfileError, match=r"written for version 9\.9\.9"):
        tier.bind(p)


def test_profile_opening_a_gap_refused(tier: Ruleset, tmp_path: Path) -> None:
    p = load_profile(
        profile_at(
            tmp_path, '[[rulesets.fixture-tier.disable]]\nrule = "pcn"\nreason = "no PCN service"\n'
        )
    )
    with pytest.raises(ProfileError, match=r"gap.*mg_per_day=120"):
        tier.bind(p)


def test_profile_needs_reason_and_citation(tmp_path: Path) -> None:
    with pytest.raises(RulesetLoadError, match="reason"):
        load_profile(
            profile_at(tmp_path, '[rulesets.x.parameters.y]\nvalue = 1\ncitations = ["local"]\n')
        )
    with pytest.raises(RulesetLoadError, match="unknown citation 'other'"):
        load_profile(
            profile_at(
                tmp_path,
                '[rulesets.x.parameters.y]\nvalue = 1\ncitations = ["other"]\nreason = "r"\n',
            )
        )
    with pytest.raises(RulesetLoadError, match="reason"):
        load_profile(profile_at(tmp_path, '[[rulesets.x.disable]]\nrule = "r"\n'))


def test_profile_float_refused(tmp_path: Path) -> None:
    with pytest.raises(RulesetLoadError, match="floats"):
        load_profile(
            profile_at(
                tmp_path,
                '[rulesets.x.parameters.y]\nvalue = 90.0\ncitations = ["local"]\nreason = "r"\n',
            )
        )


def test_fixture_profile_loads() -> None:
    p = load_profile(FIXTURES / "profiles" / "ics-90.toml")
    assert set(p.sections) == {"fixture-tier", "fixture-alerts"}
    assert str(p.sections["fixture-tier"].parameters["high_dose_mg_per_day"].value) == "90"


def test_profile_making_interval_empty_refused(tier: Ruleset, tmp_path: Path) -> None:
    p = load_profile(
        profile_at(
            tmp_path,
            "[rulesets.fixture-tier.parameters.high_dose_mg_per_day]\nvalue = 250\n"
            'citations = ["local"]\nreason = "typo"\n',
        )
    )
    with pytest.raises(ProfileError, match="empty interval"):
        tier.bind(p)


def test_binding_from_many_threads(ics90: Profile) -> None:
    tier = load_ruleset(FIXTURES / "tier.toml")  # fresh: nothing bound yet, threads race to bind
    inputs = {"risk_factor_count": 0, "mg_per_day": 100, "complex_needs": False}
    results: list[object] = []
    lock = threading.Lock()

    def work() -> None:
        got = [tier.evaluate(inputs, profile=ics90).outcome for _ in range(50)]
        with lock:
            results.extend(got)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{"tier": "pcn-service"}] * 400
