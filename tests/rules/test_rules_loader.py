"""Loading rulesets: good files load; every kind of bad file is a clear, located load error."""

from __future__ import annotations

from pathlib import Path

import pytest

from opioidcds import (
    HitPolicy,
    KnowledgeBaseError,
    OpioidCDSError,
    Ruleset,
    RulesetLoadError,
    load_ruleset,
    load_rulesets,
)
from opioidcds._decide.rules.schema import MAX_CONDITION_DEPTH, MAX_FILE_BYTES

from .dsl_helpers import FIXTURES, MINIMAL, write


def load_text(tmp_path: Path, text: str) -> RulesetLoadError:
    with pytest.raises(RulesetLoadError) as info:
        load_ruleset(write(tmp_path, text))
    return info.value


def test_fixture_rulesets_load(alerts: Ruleset, tier: Ruleset, level: Ruleset) -> None:
    assert alerts.hit_policy is HitPolicy.COLLECT
    assert [r.id for r in tier.rules] == ["letter", "brief-gp", "pcn", "specialist"]
    assert level.rule("moderate").priority == 2
    assert str(tier.parameters["high_dose_mg_per_day"].value) == "120"


def test_minimal_loads(tmp_path: Path) -> None:
    rs = load_ruleset(write(tmp_path, MINIMAL))
    assert rs.id == "mini"
    assert rs.input_names == ("x", "flag", "colour")


def test_load_error_is_knowledge_base_error(tmp_path: Path) -> None:
    err = load_text(tmp_path, MINIMAL.replace('hit_policy = "collect"', 'hit_policy = "any"'))
    assert isinstance(err, KnowledgeBaseError)
    assert isinstance(err, OpioidCDSError)
    assert "hit_policy" in str(err)


def test_malformed_toml_names_line(tmp_path: Path) -> None:
    err = load_text(tmp_path, 'kind = "ruleset"\nid = \n')
    assert "malformed TOML" in str(err)
    assert err.line == 2


def test_unknown_key_is_error_with_rule_and_line(tmp_path: Path) -> None:
    text = MINIMAL.replace('rationale = "Because."', 'rationale = "Because."\nseverity = "x"')
    err = load_text(tmp_path, text)
    assert "unknown key" in str(err)
    assert err.rule_id == "r1"
    assert err.line is not None
    assert err.line > 30


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = load_text(tmp_path, MINIMAL.replace('owner = "tests"', 'owner = "tests"\nauthor = "me"'))
    assert "author: unknown key" in str(err)


def test_duplicate_rule_id(tmp_path: Path) -> None:
    text = MINIMAL + MINIMAL[MINIMAL.index("[[rules]]") :]
    err = load_text(tmp_path, text)
    assert "duplicate rule id 'r1'" in str(err)
    assert err.problems[0].rule_id == "r1"


def test_undeclared_input(tmp_path: Path) -> None:
    err = load_text(tmp_path, MINIMAL.replace('when = "x > limit"', 'when = "y > limit"'))
    assert "undeclared input 'y'" in str(err)
    assert err.rule_id == "r1"


def test_unknown_parameter(tmp_path: Path) -> None:
    err = load_text(tmp_path, MINIMAL.replace('when = "x > limit"', 'when = "x > limt"'))
    assert "unknown parameter 'limt'" in str(err)


def test_number_compared_with_string(tmp_path: Path) -> None:
    err = load_text(tmp_path, MINIMAL.replace('when = "x > limit"', "when = \"x > 'ten'\""))
    assert "type mismatch" in str(err)


def test_enum_compared_with_number_parameter(tmp_path: Path) -> None:
    err = load_text(tmp_path, MINIMAL.replace('when = "x > limit"', 'when = "colour = limit"'))
    assert "type mismatch" in str(err)


def test_enum_value_must_be_declared(tmp_path: Path) -> None:
    err = load_text(tmp_path, MINIMAL.replace('when = "x > limit"', "when = \"colour = 'blue'\""))
    assert "'blue' is not a declared value" in str(err)


def test_ordering_on_boolean_refused(tmp_path: Path) -> None:
    err = load_text(tmp_path, MINIMAL.replace('when = "x > limit"', 'when = "flag > true"'))
    assert "needs a numeric input" in str(err)


def test_comparing_two_inputs_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace('when = "x > limit"', 'when = "x > x"')
    assert "is an input" in str(load_text(tmp_path, text))


def test_syntax_error_explains(tmp_path: Path) -> None:
    err = load_text(tmp_path, MINIMAL.replace('when = "x > limit"', 'when = "x == 3"'))
    assert "use '=' for equality" in str(err)
    err = load_text(tmp_path, MINIMAL.replace('when = "x > limit"', 'when = "x > 3 and"'))
    assert "unexpected 'and'" in str(err)


def test_empty_interval_refused(tmp_path: Path) -> None:
    err = load_text(tmp_path, MINIMAL.replace('when = "x > limit"', 'when = "x between (5, 5]"'))
    assert "empty interval" in str(err)


def test_toml_float_refused(tmp_path: Path) -> None:
    err = load_text(tmp_path, MINIMAL.replace("value = 10", "value = 10.5"))
    assert "TOML floats are not accepted" in str(err)
    assert err.line is not None


def test_decimal_string_accepted(tmp_path: Path) -> None:
    rs = load_ruleset(write(tmp_path, MINIMAL.replace("value = 10", 'value = "0.1"')))
    assert str(rs.parameters["limit"].value) == "0.1"


def test_missing_citation_reference(tmp_path: Path) -> None:
    text = MINIMAL.replace('citations = ["src"]\nrationale', 'citations = ["nope"]\nrationale')
    assert "unknown citation 'nope'" in str(load_text(tmp_path, text))


def test_empty_citations_and_rationale_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace('citations = ["src"]\nrationale', "citations = []\nrationale")
    assert "citations" in str(load_text(tmp_path, text))
    text = MINIMAL.replace('rationale = "Because."', 'rationale = "  "')
    assert "rationale" in str(load_text(tmp_path, text))
    text = MINIMAL.replace('src = "A source."', 'src = ""')
    assert "citations.src" in str(load_text(tmp_path, text))


def test_size_cap(tmp_path: Path) -> None:
    big = MINIMAL + "\n# " + "x" * MAX_FILE_BYTES
    err = load_text(tmp_path, big)
    assert "larger than" in str(err)


def test_depth_cap(tmp_path: Path) -> None:
    cond = '"x > 1"'
    for _ in range(MAX_CONDITION_DEPTH + 1):
        cond = "{ not = " + cond + " }"
    err = load_text(tmp_path, MINIMAL.replace('when = "x > limit"', f"when = {cond}"))
    assert "nested deeper" in str(err)


def test_deep_toml_does_not_crash(tmp_path: Path) -> None:
    deep = "x = " + "[" * 100_000 + "]" * 100_000
    err = load_text(tmp_path, deep)
    assert "malformed TOML" in str(err)


def test_named_condition_cycle(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "[[rules]]",
        '[conditions]\na = { ref = "b" }\nb = { any = ["x > 1", { ref = "a" }] }\n\n[[rules]]',
    ).replace('when = "x > limit"', 'when = { ref = "a" }')
    err = load_text(tmp_path, text)
    assert "cyclic reference" in str(err)
    assert "a -> b -> a" in str(err)


def test_missing_named_condition(tmp_path: Path) -> None:
    err = load_text(tmp_path, MINIMAL.replace('when = "x > limit"', 'when = { ref = "nothere" }'))
    assert "unknown named condition 'nothere'" in str(err)


def test_bad_junction_shapes(tmp_path: Path) -> None:
    for when in ("{ all = [] }", '{ all = ["x > 1"], any = ["x > 1"] }', '{ xor = ["x > 1"] }'):
        err = load_text(tmp_path, MINIMAL.replace('when = "x > limit"', f"when = {when}"))
        assert "condition" in str(err)


def test_first_needs_reason(tmp_path: Path) -> None:
    text = MINIMAL.replace('hit_policy = "collect"', 'hit_policy = "first"')
    assert "hit_policy_reason" in str(load_text(tmp_path, text))


def test_priority_needs_unique_priorities(tmp_path: Path) -> None:
    text = MINIMAL.replace('hit_policy = "collect"', 'hit_policy = "priority"')
    assert "needs a 'priority'" in str(load_text(tmp_path, text))


def test_outcome_checked_against_outputs(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'rationale = "Because."', 'rationale = "Because."\noutcome = { level = "x" }'
    )
    assert "not a declared output" in str(load_text(tmp_path, text))
    text = MINIMAL.replace(
        "[[rules]]", '[outputs.level]\ntype = "enum"\nvalues = ["a"]\n\n[[rules]]'
    ).replace('rationale = "Because."', 'rationale = "Because."\noutcome = { level = "b" }')
    assert "not a valid enum" in str(load_text(tmp_path, text))


def test_failing_inline_example_blocks_load(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[rules.examples]]\ngiven = { x = 5 }\nexpect = "fired"\n'
    err = load_text(tmp_path, text)
    assert "expected fired, got not_fired" in str(err)
    assert err.rule_id == "r1"
    rs = load_ruleset(write(tmp_path, text), check=False)
    assert rs.id == "mini"


def test_example_with_undeclared_input(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[rules.examples]]\ngiven = { z = 5 }\nexpect = "fired"\n'
    assert "undeclared input 'z'" in str(load_text(tmp_path, text))


def test_yaml_refused_even_with_python_tag(tmp_path: Path) -> None:
    path = tmp_path / "rs.yaml"
    path.write_text("!!python/object/apply:os.system ['echo hacked']\n", encoding="utf-8")
    with pytest.raises(RulesetLoadError, match="YAML is not accepted"):
        load_ruleset(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RulesetLoadError, match="cannot read"):
        load_ruleset(tmp_path / "nope.toml")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "rs.toml"
    path.write_bytes(b'kind = "\xff"\n')
    with pytest.raises(RulesetLoadError, match="UTF-8"):
        load_ruleset(path)


def test_wrong_kind(tmp_path: Path) -> None:
    err = load_text(tmp_path, MINIMAL.replace('kind = "ruleset"', 'kind = "profile"'))
    assert "'kind' must be" in str(err)


def test_enum_input_needs_values(tmp_path: Path) -> None:
    text = MINIMAL.replace('values = ["red", "green"]\n', "")
    assert "needs a non-empty 'values'" in str(load_text(tmp_path, text))


def test_load_rulesets_folder(tmp_path: Path) -> None:
    loaded = load_rulesets(FIXTURES)
    assert set(loaded) == {"fixture-alerts", "fixture-tier", "fixture-level", "fixture-bench20"}


def test_load_rulesets_duplicate_ids(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL, "a.toml")
    write(tmp_path, MINIMAL, "b.toml")
    with pytest.raises(RulesetLoadError, match="also used by"):
        load_rulesets(tmp_path)


def test_errors_never_echo_values(tmp_path: Path) -> None:
    # an example value that looks like patient data must not appear in any message
    text = MINIMAL + '\n[[rules.examples]]\ngiven = { x = "987.654" }\nexpect = "not_fired"\n'
    err = load_text(tmp_path, text)
    assert "987.654" not in str(err).split("counter-example")[0]


def test_empty_interval_from_parameters(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "[[rules]]", '[parameters.top]\nvalue = 5\ncitations = ["src"]\n\n[[rules]]'
    ).replace('when = "x > limit"', 'when = "x between [limit, top]"')
    assert "empty interval" in str(load_text(tmp_path, text))
