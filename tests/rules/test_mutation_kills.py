"""Rules-engine checks that kill mutants which survived the other tests (docs/safety/mutation.md).

Each test names the mutmut mutant it kills. Expectations are read from the DSL's documented
behaviour (docs/rules-dsl.md), not from the code's output.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from opioidcds import InvalidInputError, RulesetLoadError, load_ruleset
from opioidcds._decide.rules.conditions import render_condition
from opioidcds._decide.rules.loader import read_knowledge_file
from opioidcds._decide.rules.schema import MAX_FILE_BYTES

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


def _line_of(text: str, fragment: str) -> int:
    """1-based line number of the first line of ``text`` containing ``fragment``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def _load_error(tmp_path: Path, text: str) -> RulesetLoadError:
    with pytest.raises(RulesetLoadError) as err:
        load_ruleset(write(tmp_path, text))
    return err.value


def test_loaded_metadata_is_kept(tmp_path: Path) -> None:
    """loader _Builder.build mutants 37, 47, 67 and _inputs mutants 37, 47: nothing dropped."""
    text = MINIMAL.replace(
        '[inputs.x]\ntype = "number"\n',
        '[inputs.x]\ntype = "number"\nunit = "mg/day"\ndescription = "Total OME."\n',
    )
    path = write(tmp_path, text)
    rs = load_ruleset(path)
    assert rs.description == "minimal"
    assert rs.source == str(path)
    assert rs.parameters["limit"].name == "limit"
    x = rs.inputs[0]
    assert (x.name, x.unit, x.description) == ("x", "mg/day", "Total OME.")


def test_number_outputs_are_decimals(tmp_path: Path) -> None:
    """opioidcds.rules.loader.x__output_value__mutmut_7: a number output is read as a number."""
    text = (MINIMAL + '\n[outputs.score]\ntype = "number"\n').replace(
        'rationale = "Because."', 'rationale = "Because."\noutcome = { score = 5 }'
    )
    assert load_ruleset(write(tmp_path, text)).rules[0].outcome == (("score", Decimal(5)),)


@pytest.mark.parametrize(
    ("when", "message", "at"),
    [
        # _Builder.build mutant 27: 10 < x <= 10 is empty once limit = 10 is put in; found
        # after parsing, so located at the rule
        ('"x between (limit, limit]"', "empty interval with the parameters' values", "[[rules]]"),
        # _Builder._leaf mutants 7, 27: a syntax error in the rule's condition
        ('"x == 3"', "use '=' for equality, not '=='", "when = "),
        # _Builder._leaf mutant 17
        ('"y > 3"', "undeclared input 'y'", "when = "),
        # conditions _Parser.leaf mutant 67
        ('"x not 3"', "expected 'in' after 'not', found '3'", "when = "),
        # _Builder._leaf mutant 27: a boolean input compared with a number
        ('"flag > 3"', "type mismatch", "when = "),
    ],
)
def test_condition_errors_name_rule_and_line(
    tmp_path: Path, when: str, message: str, at: str
) -> None:
    """The error names the rule ('r1') and its line (the ``when`` line, or the rule's)."""
    text = MINIMAL.replace('when = "x > limit"', f"when = {when}")
    err = _load_error(tmp_path, text)
    assert message in str(err)
    assert (err.rule_id, err.line) == ("r1", _line_of(text, at))


def test_between_needs_its_comma(tmp_path: Path) -> None:
    """conditions _Parser.leaf mutant 97: "(5] 6)" has "]" where the ',' must be."""
    text = MINIMAL.replace('when = "x > limit"', 'when = "x between (5] 6)"')
    assert "expected ','" in str(_load_error(tmp_path, text))


@pytest.mark.parametrize(
    ("given", "message"),
    [
        # _Builder._given mutant 7: the example names an input the ruleset does not declare
        ("{ y = 1 }", "example gives undeclared input 'y'"),
        # _Builder._given mutant 27: "NaN" is a decimal but not a number a rule can compare
        ('{ x = "NaN" }', "example input 'x' does not match its declared type"),
    ],
)
def test_example_errors_name_rule_and_line(tmp_path: Path, given: str, message: str) -> None:
    text = MINIMAL + f'\n[[rules.examples]]\ngiven = {given}\nexpect = "fired"\n'
    err = _load_error(tmp_path, text)
    assert message in str(err)
    assert (err.rule_id, err.line) == ("r1", _line_of(text, "[[rules.examples]]"))


def test_named_condition_error_is_at_its_line(tmp_path: Path) -> None:
    """loader _Builder._named mutant 37: located at the named condition's own line."""
    text = MINIMAL.replace("[[rules]]", '[conditions]\nc1 = "y > 3"\n\n[[rules]]').replace(
        'when = "x > limit"', 'when = { ref = "c1" }'
    )
    err = _load_error(tmp_path, text)
    assert "undeclared input 'y'" in str(err)
    # every problem found in it (checking the condition, and using it in rule r1) is there
    assert {p.line for p in err.problems} == {_line_of(text, 'c1 = "y > 3"')}


def test_unknown_kind_is_named(tmp_path: Path) -> None:
    """opioidcds.rules.loader.x_read_knowledge_file__mutmut_17: the message says the kinds."""
    path = write(tmp_path, MINIMAL.replace('kind = "ruleset"', 'kind = "other"'))
    with pytest.raises(
        RulesetLoadError, match='\'kind\' must be "ruleset", "profile" or "extension"'
    ):
        read_knowledge_file(path)


def test_a_file_of_exactly_the_size_limit_is_read_whole(tmp_path: Path) -> None:
    """loader _read mutants 17, 27, 37: the limit is inclusive and the whole file is read.

    The ruleset is padded with a leading comment to exactly MAX_FILE_BYTES and ends without a
    newline, so reading one byte less would cut its last string open.
    """
    body = MINIMAL.rstrip("\n")
    padding = MAX_FILE_BYTES - len(body.encode()) - 2  # "#" + padding + "\n"
    path = tmp_path / "rs.toml"
    path.write_bytes(("#" + "x" * padding + "\n" + body).encode())
    assert path.stat().st_size == MAX_FILE_BYTES
    assert load_ruleset(path).id == "mini"
    path.write_bytes(("#" + "x" * (padding + 1) + "\n" + body).encode())
    with pytest.raises(RulesetLoadError, match=f"file larger than {MAX_FILE_BYTES} bytes"):
        load_ruleset(path)


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".YML"])
def test_yaml_files_are_refused_by_name(tmp_path: Path, suffix: str) -> None:
    """opioidcds.rules.loader.x__read__mutmut_7: every YAML suffix is refused as YAML."""
    path = write(tmp_path, MINIMAL, name=f"rs{suffix}")
    with pytest.raises(RulesetLoadError, match="YAML is not accepted"):
        load_ruleset(path)


def test_number_input_messages(tmp_path: Path) -> None:
    """evaluator _converter mutant 37 and _Plan.build mutant 17: exact field messages."""
    text = MINIMAL.replace(
        '[inputs.x]\ntype = "number"\n', '[inputs.x]\ntype = "number"\nrequired = true\n'
    )
    rs = load_ruleset(write(tmp_path, text))
    with pytest.raises(InvalidInputError) as err:
        rs.evaluate({"x": [1]})
    assert str(err.value) == "x: must be a number (int, Decimal or decimal string)"
    with pytest.raises(InvalidInputError) as err:
        rs.evaluate({"x": None})
    assert str(err.value) == "x: is required by ruleset 'mini'"
