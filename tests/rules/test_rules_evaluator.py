"""The reference evaluator: tri-state logic, hit policies, traces, inputs, threads.

Expected values are worked out by hand from the fixture files (tests/rules/fixtures).
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from opioidcds import (
    DecisionStatus,
    InvalidInputError,
    OpioidCDSError,
    Ruleset,
    RulesetDefectError,
    UnknownRuleError,
    load_ruleset,
)

from .dsl_helpers import MINIMAL, write

F, N, U = DecisionStatus.FIRED, DecisionStatus.NOT_FIRED, DecisionStatus.CANNOT_EVALUATE


def test_collect_fires_every_matching_rule(alerts: Ruleset) -> None:
    d = alerts.evaluate(
        {
            "total_ome_mg_per_day": Decimal(130),
            "ome_complete": True,
            "benzodiazepine": True,
            "gabapentinoid": True,
            "new_item_form": "oral",
            "opioid_naive": False,
        }
    )
    assert d.fired_ids == (
        "above-alert-threshold",
        "opioid-with-benzodiazepine",
        "opioid-with-gabapentinoid",
    )
    assert d.complete
    assert d.unknown_inputs == ()
    assert d.ruleset_id == "fixture-alerts"
    assert d.ruleset_version == "1.0.0"
    assert d.profile_id is None


def test_threshold_is_exclusive_and_exact(alerts: Ruleset) -> None:
    # > 100: exactly 100 does not fire; 100.0000001 does
    assert alerts.evaluate({"total_ome_mg_per_day": 100}).statuses["above-alert-threshold"] is N
    d = alerts.evaluate({"total_ome_mg_per_day": "100.0000001"})
    assert d.statuses["above-alert-threshold"] is F


def test_unknown_is_not_silently_not_fired(alerts: Ruleset) -> None:
    d = alerts.evaluate({})
    assert set(d.statuses.values()) == {U}
    assert not d.complete
    assert d.unknown_inputs == (
        "benzodiazepine",
        "gabapentinoid",
        "new_item_form",
        "ome_complete",
        "opioid_naive",
        "total_ome_mg_per_day",
    )
    fentanyl = d["fentanyl-opioid-naive"]
    assert fentanyl.status is U
    assert fentanyl.unknown_inputs == ("new_item_form", "opioid_naive")


def test_kleene_and_false_beats_unknown(alerts: Ruleset) -> None:
    # all(form = patch, naive = true) with form oral and naive unknown is false, not unknown
    d = alerts.evaluate({"new_item_form": "oral"})
    fentanyl = d["fentanyl-opioid-naive"]
    assert fentanyl.status is N
    assert fentanyl.condition is False
    assert fentanyl.unknown_inputs == ()


def test_kleene_and_true_with_unknown_is_unknown(alerts: Ruleset) -> None:
    d = alerts.evaluate({"new_item_form": "transdermal patch"})
    fentanyl = d["fentanyl-opioid-naive"]
    assert fentanyl.status is U
    assert fentanyl.unknown_inputs == ("opioid_naive",)


def test_trace_lines(alerts: Ruleset) -> None:
    d = alerts.evaluate({"total_ome_mg_per_day": 130})
    assert d["above-alert-threshold"].trace == (
        "high_total -> true",
        "  total_ome_mg_per_day=130 > alert_threshold_mg_per_day=100 -> true",
    )
    d = alerts.evaluate({"new_item_form": "transdermal patch", "opioid_naive": False})
    assert d["fentanyl-opioid-naive"].trace == (
        "all -> false",
        "  new_item_form=transdermal patch = 'transdermal patch' -> true",
        "  opioid_naive=false = true -> false",
    )


def test_decision_carries_citations_outcome_and_versions(alerts: Ruleset) -> None:
    d = alerts.evaluate({"total_ome_mg_per_day": 130})
    hit = d["above-alert-threshold"]
    assert [c.id for c in hit.citations] == ["seed-002"]
    assert hit.outcome["severity"] == "warning"
    assert hit.outcome["actions"] == ("Review risk factors", "Discuss tapering options")
    assert hit.ruleset_id == "fixture-alerts"
    assert hit.ruleset_version == "1.0.0"
    assert hit.stage == "prevent"
    assert hit.rationale.startswith("Script Switch")


def test_report_serialises_to_json(alerts: Ruleset) -> None:
    report = alerts.evaluate({"total_ome_mg_per_day": "130.5"}).report()
    data = json.loads(report.model_dump_json())
    assert data["fired"] == ["above-alert-threshold"]
    assert data["decisions"][0]["trace"][1].startswith("  total_ome_mg_per_day=130.5 >")


def test_unique_table(tier: Ruleset) -> None:
    def tier_of(**inputs: object) -> object:
        d = tier.evaluate(inputs)
        return None if d.outcome is None else d.outcome["tier"]

    assert tier_of(risk_factor_count=0, mg_per_day=40, complex_needs=False) == "letter"
    assert tier_of(risk_factor_count=2, mg_per_day=40, complex_needs=False) == (
        "brief-gp-intervention"
    )
    assert tier_of(risk_factor_count=1, mg_per_day="119.99", complex_needs=False) == "letter"
    assert tier_of(risk_factor_count=1, mg_per_day=120, complex_needs=False) == "pcn-service"
    assert tier_of(risk_factor_count=1, mg_per_day=199, complex_needs=False) == "pcn-service"
    assert tier_of(risk_factor_count=1, mg_per_day=200, complex_needs=False) == "specialist-mdt"
    assert tier_of(risk_factor_count=0, complex_needs=True) == "specialist-mdt"
    # dose known high, complexity unknown: pcn or specialist, undetermined
    d = tier.evaluate({"risk_factor_count": 0, "mg_per_day": 150})
    assert d.outcome is None
    assert not d.complete
    assert d.unknown_inputs == ("complex_needs",)
    # very high dose decides even with complexity unknown
    assert tier_of(risk_factor_count=0, mg_per_day=300) == "specialist-mdt"


def test_required_input_missing_is_error(tier: Ruleset) -> None:
    with pytest.raises(InvalidInputError) as info:
        tier.evaluate({"mg_per_day": 10})
    assert info.value.field == "risk_factor_count"


def test_priority_table(level: Ruleset) -> None:
    d = level.evaluate({"factors": 5, "mg_per_day": 10})
    assert d.statuses == {
        "high": F,
        "moderate": DecisionStatus.OVERRIDDEN,
        "low": DecisionStatus.OVERRIDDEN,
    }
    assert d.outcome == {"level": "high"}
    d = level.evaluate({"factors": 2, "mg_per_day": 10})
    assert d.statuses == {"high": N, "moderate": F, "low": DecisionStatus.OVERRIDDEN}
    # dose unknown: 'high' could hold, so 'moderate' cannot be selected yet
    d = level.evaluate({"factors": 2})
    assert d.statuses == {"high": U, "moderate": U, "low": DecisionStatus.OVERRIDDEN}
    assert d.outcome is None
    assert d.unknown_inputs == ("mg_per_day",)
    assert d["moderate"].unknown_inputs == ("mg_per_day",)


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (0.5, "binary floats"),
        (True, "must be a number"),
        ("abc", "not a decimal"),
        ("NaN", "finite"),
        (-1, "below the declared minimum"),
        (1001, "above the declared maximum"),
        ([1], "must be a number"),
    ],
)
def test_bad_number_inputs(tmp_path: Path, value: object, rule: str) -> None:
    rs = load_ruleset(write(tmp_path, MINIMAL))
    with pytest.raises(InvalidInputError) as info:
        rs.evaluate({"x": value})
    assert info.value.field == "x"
    assert rule in str(info.value)
    assert repr(value) not in str(info.value) or repr(value) in ("True",)


def test_bad_boolean_and_enum_and_unknown_key(tmp_path: Path) -> None:
    rs = load_ruleset(write(tmp_path, MINIMAL))
    with pytest.raises(InvalidInputError, match="flag"):
        rs.evaluate({"flag": "yes"})
    with pytest.raises(InvalidInputError, match="colour"):
        rs.evaluate({"colour": "secret-blue"})
    with pytest.raises(InvalidInputError, match="is not an input") as info:
        rs.evaluate({"xx": 1})
    assert "secret" not in str(info.value)
    with pytest.raises(InvalidInputError):
        rs.evaluate([("x", 1)])  # type: ignore[arg-type]


def test_integer_input_must_be_whole(tier: Ruleset) -> None:
    with pytest.raises(InvalidInputError, match="whole"):
        tier.evaluate({"risk_factor_count": "1.5"})


def test_between_ends(tmp_path: Path) -> None:
    text = MINIMAL.replace('when = "x > limit"', 'when = "x between (10, 20]"')
    rs = load_ruleset(write(tmp_path, text))
    got = {v: rs.evaluate({"x": v}).statuses["r1"] for v in (10, 11, 20, 21)}
    assert got == {10: N, 11: F, 20: F, 21: N}


def test_member_and_not_in(tmp_path: Path) -> None:
    text = MINIMAL.replace('when = "x > limit"', "when = \"colour not in ['red']\"")
    rs = load_ruleset(write(tmp_path, text))
    assert rs.evaluate({"colour": "green"}).statuses["r1"] is F
    assert rs.evaluate({"colour": "red"}).statuses["r1"] is N
    assert rs.evaluate({}).statuses["r1"] is U


def test_is_known_never_unknown(tmp_path: Path) -> None:
    text = MINIMAL.replace('when = "x > limit"', 'when = { not = "flag is known" }')
    rs = load_ruleset(write(tmp_path, text))
    assert rs.evaluate({}).statuses["r1"] is F
    assert rs.evaluate({"flag": False}).statuses["r1"] is N


def test_gap_at_runtime_fails_closed(tmp_path: Path) -> None:
    text = MINIMAL.replace('hit_policy = "collect"', 'hit_policy = "unique"')
    rs = load_ruleset(write(tmp_path, text), check=False)
    with pytest.raises(RulesetDefectError, match="gap"):
        rs.evaluate({"x": 1})


def test_overlap_at_runtime_fails_closed(tmp_path: Path) -> None:
    text = MINIMAL.replace('hit_policy = "collect"', 'hit_policy = "unique"') + (
        '\n[[rules]]\nid = "r2"\nstage = "find"\nwhen = "x > 5"\ncitations = ["src"]\n'
        'rationale = "Overlaps r1."\n'
    )
    rs = load_ruleset(write(tmp_path, text), check=False)
    with pytest.raises(RulesetDefectError, match="overlapping rules r1, r2"):
        rs.evaluate({"x": 50})


def test_same_answers_across_threads(alerts: Ruleset, tier: Ruleset) -> None:
    inputs = [
        {"total_ome_mg_per_day": Decimal(n), "benzodiazepine": n % 2 == 0} for n in range(0, 300, 7)
    ]
    serial = [alerts.evaluate(i).fired_ids for i in inputs]
    results: list[list[tuple[str, ...]]] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [alerts.evaluate(i).fired_ids for _ in range(20) for i in inputs][: len(inputs)]
        with lock:
            results.append(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == serial for r in results)


def test_ruleset_is_immutable(alerts: Ruleset) -> None:
    with pytest.raises(TypeError):
        alerts.citations["x"] = "y"  # type: ignore[index]
    d = alerts.evaluate({"total_ome_mg_per_day": 130})
    hit = d["above-alert-threshold"]
    hit.outcome["severity"] = "info"  # a copy: the ruleset is untouched
    assert (
        alerts.evaluate({"total_ome_mg_per_day": 130})["above-alert-threshold"].outcome["severity"]
        == "warning"
    )


FIRST = (
    MINIMAL.replace(
        'hit_policy = "collect"', 'hit_policy = "first"\nhit_policy_reason = "Ordered."'
    )
    + '\n[[rules.examples]]\ngiven = { x = 50 }\nexpect = "fired"\n'
    + """
[[rules]]
id = "r2"
stage = "find"
when = "x <= limit"
citations = ["src"]
rationale = "Otherwise."

[[rules.examples]]
given = { x = 50 }
expect = "not_fired"

[[rules]]
id = "r3"
stage = "find"
when = "x >= 0"
citations = ["src"]
rationale = "Catch-all, always shadowed."

[[rules.examples]]
given = { x = 5 }
expect = "overridden"
"""
)


def test_first_hit_policy(tmp_path: Path) -> None:
    rs = load_ruleset(write(tmp_path, FIRST))
    assert rs.evaluate({"x": 50}).statuses == {"r1": F, "r2": N, "r3": DecisionStatus.OVERRIDDEN}
    assert rs.evaluate({"x": 10}).statuses == {"r1": N, "r2": F, "r3": DecisionStatus.OVERRIDDEN}
    d = rs.evaluate({})
    assert d.statuses == {"r1": U, "r2": U, "r3": U}
    assert d.unknown_inputs == ("x",)
    assert d.outcome is None


def test_unique_winner_is_complete_with_an_unknown_input(tier: Ruleset) -> None:
    # very high dose: 'specialist' holds whatever complex_needs is, and every other rule is
    # false on the dose alone, so the unknown input changes nothing
    d = tier.evaluate({"risk_factor_count": 0, "mg_per_day": 300})
    assert d.outcome == {"tier": "specialist-mdt"}
    assert d.complete
    assert d.unknown_inputs == ()
    assert d.statuses["letter"] is N


def test_loaded_objects_refuse_assignment(alerts: Ruleset) -> None:
    with pytest.raises(AttributeError, match="immutable"):
        alerts.version = "9"
    with pytest.raises(AttributeError, match="immutable"):
        alerts.bind(None).profile = None
    d = alerts.evaluate({})
    with pytest.raises(AttributeError, match="immutable"):
        d._truths = ()


def test_unknown_rule_id(alerts: Ruleset) -> None:
    with pytest.raises(UnknownRuleError) as info:
        alerts.evaluate({})["no-such-rule"]
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, OpioidCDSError)
    with pytest.raises(KeyError):
        alerts.rule("no-such-rule")
