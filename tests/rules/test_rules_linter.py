"""The linter: gaps and overlaps with counter-examples, never-firing rules, examples, rules/."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from opioidcds import Ruleset, RulesetLoadError, Severity, lint_path, load_ruleset
from opioidcds._decide.rules import linter
from opioidcds._decide.rules.conditions import FieldSpec, FieldType
from opioidcds._decide.rules.linter import representatives
from opioidcds._knowledge.paths import knowledge_dir

from .dsl_helpers import FIXTURES, MINIMAL, write

TABLE = MINIMAL.replace('hit_policy = "collect"', 'hit_policy = "unique"')


def with_rules(base: str, *rules: tuple[str, str]) -> str:
    head = base[: base.index("[[rules]]")]
    body = "".join(
        f'\n[[rules]]\nid = "{rid}"\nstage = "find"\nwhen = {when}\ncitations = ["src"]\n'
        f'rationale = "r"\n'
        for rid, when in rules
    )
    return head + body


def codes(path: Path) -> list[tuple[str, str]]:
    return [(f.code, f.message) for f in lint_path(path).findings if f.code != "no-example"]


def test_bundled_rules_folder_is_clean() -> None:
    """Every ruleset and profile shipped in rules/ must lint clean (may be none yet)."""
    report = lint_path(knowledge_dir("rules"))
    assert report.errors == (), "\n".join(str(f) for f in report.errors)


def test_fixtures_are_clean() -> None:
    report = lint_path(FIXTURES)
    assert report.errors == ()
    # the one warning: the fixture profile switches a rule off (issue 23: always reported)
    assert [(w.code, w.rule_id, w.line) for w in report.warnings] == [
        ("disabled", "opioid-with-gabapentinoid", 28)
    ]
    assert len(report.checked) == 5


def test_gap_with_counterexample(tmp_path: Path) -> None:
    text = with_rules(TABLE, ("low", '"x < 10"'), ("high", '"x > 10"'))
    report = lint_path(write(tmp_path, text))
    gaps = [f for f in report.findings if f.code == "gap"]
    assert len(gaps) == 1
    assert gaps[0].counterexample == (("x", "10"),)
    with pytest.raises(RulesetLoadError, match="no rule applies"):
        load_ruleset(write(tmp_path, text))


def test_unknown_input_is_undetermined_not_gap(tmp_path: Path) -> None:
    text = with_rules(TABLE, ("low", '"x <= 10"'), ("high", '"x > 10"'))
    assert lint_path(write(tmp_path, text)).errors == ()


def test_overlap_with_counterexample(tmp_path: Path) -> None:
    text = with_rules(TABLE, ("low", '"x <= 10"'), ("high", '"x >= 10"'))
    report = lint_path(write(tmp_path, text))
    overlaps = [f for f in report.findings if f.code == "overlap"]
    assert len(overlaps) == 1
    assert overlaps[0].counterexample == (("x", "10"),)
    assert "'low' and 'high'" in overlaps[0].message


def test_gap_over_enum_and_boolean(tmp_path: Path) -> None:
    text = with_rules(
        TABLE,
        ("a", "\"colour = 'red'\""),
        ("b", '{ all = ["colour = \'green\'", "flag = true"] }'),
    )
    gaps = [f for f in lint_path(write(tmp_path, text)).findings if f.code == "gap"]
    assert [g.counterexample for g in gaps] == [(("flag", "false"), ("colour", "green"))]


def test_gap_in_unknown_branch_is_reported(tmp_path: Path) -> None:
    # 'flag is unknown' and 'flag = true' leave flag = false uncovered
    text = with_rules(TABLE, ("a", '"flag is unknown"'), ("b", '"flag = true"'))
    gaps = [f for f in lint_path(write(tmp_path, text)).findings if f.code == "gap"]
    assert [g.counterexample for g in gaps] == [(("flag", "false"),)]


def test_never_firing_rule_warned(tmp_path: Path) -> None:
    text = with_rules(MINIMAL, ("r1", '{ all = ["x > 5", "x < 3"] }'))
    assert ("never-fires", "condition can never be true over the declared inputs") in codes(
        write(tmp_path, text)
    )


def test_rule_outside_declared_bounds_never_fires(tmp_path: Path) -> None:
    text = with_rules(MINIMAL, ("r1", '"x > 1000"'))
    assert any(c == "never-fires" for c, _ in codes(write(tmp_path, text)))


def test_shadowed_rule_in_priority_table(level: Ruleset, tmp_path: Path) -> None:
    text = (FIXTURES / "level.toml").read_text()
    text = text.replace('when = "factors >= 2"', 'when = "factors >= 4"')
    text = text.replace("given = { factors = 2, mg_per_day = 130 }", "given = { factors = 4 }")
    text = text.replace(
        "[[examples]]\ngiven = { factors = 2 }\nexpect_fired = []\nexpect_complete = false\n", ""
    )
    found = codes(write(tmp_path, text))
    assert ("shadowed", "never selected: a higher-ranked rule always applies first") in found


def test_failing_examples_reported(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[rules.examples]]\ngiven = { x = 50 }\nexpect = "not_fired"\n'
    found = codes(write(tmp_path, text))
    assert ("example", "example 1: expected not_fired, got fired") in found


def test_unused_things_warned(tmp_path: Path) -> None:
    text = MINIMAL.replace('src = "A source."', 'src = "A source."\nother = "Unused."')
    report = lint_path(write(tmp_path, text))
    messages = [f.message for f in report.warnings]
    assert "citation 'other' is never cited" in messages
    assert "input 'flag' is never used" in messages
    assert report.ok


def test_integer_representatives_cover_cut_points() -> None:
    spec = FieldSpec("n", FieldType.INTEGER, 0, minimum=None, maximum=None, required=True)
    reps = representatives(spec, {Decimal("2.5"), Decimal(7)})
    assert reps == [Decimal(n) for n in (1, 2, 3, 4, 6, 7, 8)]


def test_number_representatives_include_midpoints_and_unknown() -> None:
    spec = FieldSpec("x", FieldType.NUMBER, 0, minimum=Decimal(0), maximum=Decimal(100))
    got = representatives(spec, {Decimal(10), Decimal(120)})
    assert got == [Decimal(0), Decimal(5), Decimal(10), Decimal(55), Decimal(100), None]


def test_lint_reports_load_errors(tmp_path: Path) -> None:
    write(tmp_path, "kind = 'ruleset'\n", "bad.toml")
    report = lint_path(tmp_path)
    assert not report.ok
    assert report.errors[0].code == "load"
    assert report.errors[0].severity is Severity.ERROR


def test_unused_named_condition_warned(tmp_path: Path) -> None:
    text = MINIMAL.replace("[[rules]]", '[conditions]\nspare = "x > 1"\n\n[[rules]]')
    assert ("unused", "named condition 'spare' is never used") in codes(write(tmp_path, text))


def test_first_table_shadowed_rule_warned(tmp_path: Path) -> None:
    text = with_rules(
        MINIMAL.replace('hit_policy = "collect"', 'hit_policy = "first"\nhit_policy_reason = "r"'),
        ("all", '"x >= 0"'),
        ("later", '"x > 5"'),
    )
    found = codes(write(tmp_path, text))
    assert ("shadowed", "never selected: a higher-ranked rule always applies first") in found
    assert not [c for c, _ in found if c == "gap"]


def test_table_too_large_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linter, "MAX_SEARCH_NODES", 3)
    report = lint_path(FIXTURES / "tier.toml")
    assert [f.code for f in report.errors] == ["too-large"]
