"""Rules-engine checks that kill mutants which survived the other tests (docs/safety/mutation.md).

Each test names the mutmut mutant it kills. Expectations are read from the DSL's documented
behaviour (docs/rules-dsl.md), not from the code's output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opioidcds.errors import InvalidInputError
from opioidcds.rules import RulesetLoadError, load_ruleset
from opioidcds.rules.conditions import render_condition

from .dsl_helpers import MINIMAL, write


def test_a_non_boolean_for_a_boolean_input_says_what_is_allowed(tmp_path: Path) -> None:
    """opioidcds.rules.evaluator.xǁBoundRulesetǁ_raise_boolean__mutmut_17."""
    rs = load_ruleset(write(tmp_path, MINIMAL))
    with pytest.raises(InvalidInputError, match=r"must be true, false or unknown \(None\)"):
        rs.evaluate({"x": 1, "flag": "yes"})


def test_explain_names_all_and_any(tmp_path: Path) -> None:
    """opioidcds.rules.conditions.x_render_condition__mutmut_7: the junction is named."""
    text = MINIMAL.replace(
        'when = "x > limit"', 'when = { all = ["x > limit", { any = [\'flag = true\', "x < 3"] }] }'
    )
    rule = load_ruleset(write(tmp_path, text)).rules[0]
    lines = render_condition(rule.condition)
    # the rule reads: ALL of (x > limit, ANY of (flag = true, x < 3)), one level per indent
    assert lines[0] == "ALL of:"
    assert "  ANY of:" in lines


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("true", "expected a number, not a boolean"),
        ('"abc"', "expected a decimal number written as a string"),
        ('"inf"', "the number must be finite"),
    ],
)
def test_schema_messages_have_no_pydantic_prefix(tmp_path: Path, value: str, reason: str) -> None:
    """opioidcds.rules.loader.x__schema_problems__mutmut_57: "Value error, " is removed."""
    with pytest.raises(RulesetLoadError) as err:
        load_ruleset(write(tmp_path, MINIMAL.replace("value = 10", f"value = {value}")))
    assert f"parameters.limit.value: {reason}" in str(err.value)
    assert "Value error" not in str(err.value)
