"""The risk-level and support-tier tables, checked over their whole domains.

The linter proves each table complete and without overlap; here every input combination is
evaluated to show the tables are monotone and match the design in docs/risk-and-tiers.md.
"""

from __future__ import annotations

import itertools

from opioidcds import default_knowledge

KB = default_knowledge()
LEVEL = KB.rulesets["risk-level"]
TIER = KB.rulesets["support-tier"]
LEVELS = LEVEL.outputs["level"].values
TIERS = TIER.outputs["tier"].values


def level(count: int, high_dose: bool) -> str:
    outcome = LEVEL.evaluate({"factor_count": count, "high_dose": high_dose}).outcome
    assert outcome is not None
    return str(outcome["level"])


FLAGS = (
    "factor_history_substance_misuse",
    "factor_benzodiazepine",
    "factor_several_sedatives",
    "factor_high_dose",
    "factor_very_high_dose",
)


def tier(risk_level: str, complex_needs: bool = False, **flags: bool) -> str:
    given = dict.fromkeys(FLAGS, False) | flags
    given["factor_history_substance_misuse"] = complex_needs
    d = TIER.evaluate({"in_scope": True, "risk_level": risk_level, **given})
    assert d.outcome is not None
    return str(d.outcome["tier"])


def designed_tier(lv: str, dep: bool, benzo: bool, several: bool, high: bool, very: bool) -> str:
    """The design of docs/risk-and-tiers.md (support-tier 2.0.0), written out independently:
    the tier of the level, raised to the highest floor that applies."""
    by_level = {"low": 1, "moderate": 2, "high": 3, "very-high": 4}[lv]
    floors = [by_level]
    if benzo or dep:
        floors.append(2)  # never a letter with a benzodiazepine/z-drug or past dependence
    if several or (benzo and high):
        floors.append(3)  # three or more sedative medicines, or a benzodiazepine at a high dose
    if very or (lv == "high" and dep):
        floors.append(4)  # very-high-dose band; high risk with past dependence
    return TIERS[max(floors)]


def test_level_table_matches_the_design() -> None:
    # dose absent: 0-1 low, 2-3 moderate, 4+ high; dose present: 0-2 high, 3+ very-high
    assert [level(n, False) for n in range(13)] == (["low"] * 2 + ["moderate"] * 2 + ["high"] * 9)
    assert [level(n, True) for n in range(13)] == ["high"] * 3 + ["very-high"] * 10


def test_level_is_monotone_in_count_and_dose() -> None:
    for dose in (False, True):
        ranks = [LEVELS.index(level(n, dose)) for n in range(13)]
        assert ranks == sorted(ranks)
    for n in range(13):
        assert LEVELS.index(level(n, True)) >= LEVELS.index(level(n, False))


def test_tier_is_monotone_and_one_per_level() -> None:
    expected = {
        ("low", False): "letter",
        ("low", True): "brief-gp-intervention",  # past dependence: never a letter (issue 15)
        ("moderate", False): "brief-gp-intervention",
        ("moderate", True): "brief-gp-intervention",
        ("high", False): "pcn-service",
        ("high", True): "specialist-mdt",
        ("very-high", False): "specialist-mdt",
        ("very-high", True): "specialist-mdt",
    }
    for (lv, cx), want in expected.items():
        assert tier(lv, cx) == want
    for cx in (False, True):
        ranks = [TIERS.index(tier(lv, cx)) for lv in LEVELS]
        assert ranks == sorted(ranks)
    for lv in LEVELS:
        assert TIERS.index(tier(lv, True)) >= TIERS.index(tier(lv, False))


def test_tier_floors_over_the_whole_domain() -> None:
    # every level x every combination of the five factor inputs: the designed tier, and
    # monotone: a factor becoming present never lowers the tier
    for lv in LEVELS:
        for bits in itertools.product((False, True), repeat=len(FLAGS)):
            flags = dict(zip(FLAGS, bits, strict=True))
            got = tier(lv, flags.pop("factor_history_substance_misuse"), **flags)
            dep, benzo, several, high, very = bits
            assert got == designed_tier(lv, dep, benzo, several, high, very), (lv, bits)
            for k in range(len(FLAGS)):
                if not bits[k]:
                    more = dict(zip(FLAGS, (*bits[:k], True, *bits[k + 1 :]), strict=True))
                    raised = tier(lv, more.pop("factor_history_substance_misuse"), **more)
                    assert TIERS.index(raised) >= TIERS.index(got), (lv, bits, k)


def test_tier_floors_named_in_the_issue() -> None:
    # woman of 40, morphine 60 mg OME/day with diazepam, nothing else: level low -> not a
    # letter but a brief GP intervention (MHRA 2020)
    assert tier("low", factor_benzodiazepine=True) == "brief-gp-intervention"
    # three or more sedative medicines (opioid, benzodiazepines, z-drugs, gabapentinoids): PCN
    assert tier("low", factor_benzodiazepine=True, factor_several_sedatives=True) == "pcn-service"
    assert tier("low", factor_several_sedatives=True) == "pcn-service"  # two gabapentinoids
    # a benzodiazepine with a high dose (the level is high anyway): at least PCN service
    assert tier("high", factor_benzodiazepine=True, factor_high_dose=True) == "pcn-service"
    # past substance misuse at low risk: brief GP intervention, with the liaison offer
    d = TIER.evaluate(
        {"in_scope": True, "risk_level": "low", **dict.fromkeys(FLAGS, False)}
        | {"factor_history_substance_misuse": True}
    )
    assert d.fired_ids == ("brief-gp-intervention-with-specialist-liaison",)
    assert any("specialist service" in step for step in d.outcome["next_steps"])  # type: ignore[index,union-attr]
    # the very-high-dose band: specialist MDT even with no other factor
    assert tier("high", factor_high_dose=True, factor_very_high_dose=True) == "specialist-mdt"


def test_out_of_scope_tier_whatever_the_level() -> None:
    for lv in (*LEVELS, None):
        d = TIER.evaluate({"in_scope": False, "risk_level": lv})
        assert d.fired_ids == ("out-of-scope",)
