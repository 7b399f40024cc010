"""The risk-level and support-tier tables, checked over their whole domains.

The linter proves each table complete and without overlap; here every input combination is
evaluated to show the tables are monotone and match the design in docs/risk-and-tiers.md.
"""

from __future__ import annotations

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


def tier(risk_level: str, complex_needs: bool) -> str:
    d = TIER.evaluate({"in_scope": True, "risk_level": risk_level, "complex_needs": complex_needs})
    assert d.outcome is not None
    return str(d.outcome["tier"])


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
        ("low", True): "letter",
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


def test_out_of_scope_tier_whatever_the_level() -> None:
    for lv in (*LEVELS, None):
        d = TIER.evaluate({"in_scope": False, "risk_level": lv, "complex_needs": None})
        assert d.fired_ids == ("out-of-scope",)
