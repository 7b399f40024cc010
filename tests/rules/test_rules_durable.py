"""The durable-rules backend: same decisions as the reference, and each defect guard works.

Regression cases found while building the backend are kept here for ever (see
test_rules_differential.py for the randomised comparison).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest

from opioidcds import BackendError, Profile, Ruleset, RulesetDefectError, load_ruleset
from opioidcds._decide.rules import durable_backend as backend
from opioidcds._decide.rules.durable_backend import DurableRuleset, live_sessions

from .dsl_helpers import MINIMAL, write

pytest.importorskip("durable")


def both(
    rs: Ruleset, inputs: Mapping[str, object], profile: Profile | None = None
) -> tuple[object, object]:
    with DurableRuleset(rs, profile) as d:
        return rs.evaluate(inputs, profile).statuses, d.evaluate(inputs).statuses


def test_collect_fires_every_matching_rule_like_reference(alerts: Ruleset) -> None:
    # durable 'post' of an event would fire one rule only; facts fire all three
    inputs = {"total_ome_mg_per_day": 130, "benzodiazepine": True, "gabapentinoid": True}
    ref, dur = both(alerts, inputs)
    assert ref == dur
    with DurableRuleset(alerts) as d:
        assert d.evaluate(inputs).fired_ids == (
            "above-alert-threshold",
            "opioid-with-benzodiazepine",
            "opioid-with-gabapentinoid",
        )


def test_unknowns_agree(alerts: Ruleset, tier: Ruleset, level: Ruleset) -> None:
    assert both(alerts, {})[0] == both(alerts, {})[1]
    ref, dur = both(tier, {"risk_factor_count": 0, "mg_per_day": 150})
    assert ref == dur
    ref, dur = both(level, {"factors": 2})
    assert ref == dur


def test_exponent_form_numbers_are_converted(tmp_path: Path) -> None:
    # 0.00001 serialises as 1e-05 in JSON, which durable-rules 2.0.28 rejects (error 204)
    text = MINIMAL.replace("value = 10", 'value = "0.00001"')
    rs = load_ruleset(write(tmp_path, text))
    for x in ("0.00001", "0.000011", "0.000009", Decimal("1E-5"), "0"):
        ref, dur = both(rs, {"x": x})
        assert ref == dur, x


def test_decimal_places_beyond_constants_compare_exactly(tier: Ruleset) -> None:
    # 119.9999999999999999 < 120 (a float would round it to 120.0)
    for mg in ("119.9999999999999999", "120", "120.0000000000000001", "199.99999999999999999"):
        ref, dur = both(tier, {"risk_factor_count": 0, "mg_per_day": mg, "complex_needs": False})
        assert ref == dur, mg


def test_is_unknown_without_nex(tmp_path: Path) -> None:
    # '$nex' rules hang durable-rules' complete_and_start_action; known-ness is a flag instead
    text = MINIMAL.replace('when = "x > limit"', 'when = { any = ["flag is unknown", "x > 5"] }')
    rs = load_ruleset(write(tmp_path, text))
    for inputs in ({}, {"flag": True}, {"flag": False, "x": 6}, {"x": 1, "flag": True}):
        ref, dur = both(rs, inputs)
        assert ref == dur, inputs


def test_profile_compiled_into_durable(alerts: Ruleset, ics90: Profile) -> None:
    inputs = {"total_ome_mg_per_day": 95, "gabapentinoid": True}
    ref, dur = both(alerts, inputs, ics90)
    assert ref == dur
    with DurableRuleset(alerts, ics90) as d:
        got = d.evaluate(inputs)
        assert got.profile_id == "fixture-ics-90"
        assert got.statuses["opioid-with-gabapentinoid"] == "disabled"


def test_sessions_are_cleaned_up(alerts: Ruleset) -> None:
    with DurableRuleset(alerts) as d:
        for n in range(1_100):  # more than the 1,024 live-session limit
            d.evaluate({"total_ome_mg_per_day": n})
    assert live_sessions() == 0


def test_refuses_past_session_limit(alerts: Ruleset, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend._SESSIONS, "live", backend.MAX_LIVE_SESSIONS)
    with DurableRuleset(alerts) as d, pytest.raises(BackendError, match="session limit"):
        d.evaluate({"total_ome_mg_per_day": 1})


def test_action_exception_is_raised(alerts: Ruleset, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: DurableRuleset, sid: str, index: int, truth: bool) -> None:
        raise RuntimeError

    with DurableRuleset(alerts) as d:
        monkeypatch.setattr(DurableRuleset, "_record", boom)
        with pytest.raises(BackendError, match="action raised"):
            d.evaluate({"total_ome_mg_per_day": 1})
    assert live_sessions() == 0


def test_defects_raise_the_same_error(tmp_path: Path) -> None:
    text = MINIMAL.replace('hit_policy = "collect"', 'hit_policy = "unique"')
    rs = load_ruleset(write(tmp_path, text), check=False)
    with DurableRuleset(rs) as d, pytest.raises(RulesetDefectError):
        d.evaluate({"x": 1})


def test_threads_share_the_lock(alerts: Ruleset) -> None:
    inputs = [{"total_ome_mg_per_day": n, "benzodiazepine": n % 3 == 0} for n in range(0, 200, 9)]
    expected = [alerts.evaluate(i).statuses for i in inputs]
    failures: list[int] = []
    with DurableRuleset(alerts) as d:

        def work() -> None:
            failures.extend(
                1 for _ in range(5) if [d.evaluate(i).statuses for i in inputs] != expected
            )

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []
    assert live_sessions() == 0


def test_closed_backend_refuses(alerts: Ruleset) -> None:
    d = DurableRuleset(alerts)
    d.close()
    d.close()
    with pytest.raises(BackendError, match="closed"):
        d.evaluate({})


ENGINE_LIMIT_CASE = """
kind = "ruleset"
id = "regression-113"
version = "1.0.0"
effective_date = 2026-11-22
owner = "tests"
reviewer = "tests"
description = "Found by the differential test: presence guards pushed this rule over a limit."
hit_policy = "collect"

[citations]
src = "Differential test regression."

[inputs.dose]
type = "number"
label = "the dose"

[inputs.count]
type = "integer"
label = "the count"

[inputs.sex]
type = "enum"
label = "the sex"
values = ["female", "male", "other"]

[[rules]]
id = "r"
stage = "find"
citations = ["src"]
rationale = "Regression."
when = { any = [
  "dose != 0",
  "count != 0",
  { all = ["count != 0", "count != 1"] },
  { all = ["count != 0", "sex in ['female', 'male']", { not = "dose between [0, 0]" }] },
] }
"""


def test_regression_engine_limit_113(tmp_path: Path) -> None:
    # presence guards on every comparison pushed this rule over a durable-rules limit
    # ("Could not create ruleset, error code: 113"); comparisons now carry no guard
    rs = load_ruleset(write(tmp_path, ENGINE_LIMIT_CASE), check=False)
    cases: list[dict[str, object]] = [
        {},
        {"dose": 0, "count": 0},
        {"dose": 0, "count": 1, "sex": "male"},
        {"dose": "0.001", "count": 0, "sex": "other"},
        {"count": 2},
    ]
    with DurableRuleset(rs) as d:
        for inputs in cases:
            assert rs.evaluate(inputs).statuses == d.evaluate(inputs).statuses, inputs
