"""``opioidcds rules check`` and ``explain`` through typer's test runner."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from opioidcds.cli.rules_cli import rules_app

from .dsl_helpers import FIXTURES, MINIMAL, write

runner = CliRunner()


def test_check_clean_fixtures() -> None:
    result = runner.invoke(rules_app, ["check", str(FIXTURES)])
    assert result.exit_code == 0, result.output
    # the one warning: the fixture profile switches a rule off (issue 23: always reported)
    assert "0 error(s), 1 warning(s)" in result.output
    assert "[disabled]" in result.output


def test_check_default_bundled_folder() -> None:
    result = runner.invoke(rules_app, ["check"])
    assert result.exit_code == 0, result.output


def test_check_finds_gap(tmp_path: Path) -> None:
    text = MINIMAL.replace('hit_policy = "collect"', 'hit_policy = "unique"')
    result = runner.invoke(rules_app, ["check", str(write(tmp_path, text))])
    assert result.exit_code == 1
    assert "gap" in result.output
    assert "x=10" in result.output


def test_check_strict_fails_on_warnings(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    assert runner.invoke(rules_app, ["check", str(path)]).exit_code == 0
    assert runner.invoke(rules_app, ["check", "--strict", str(path)]).exit_code == 1


def test_check_missing_path() -> None:
    assert runner.invoke(rules_app, ["check", "/no/such/place"]).exit_code == 2


def test_explain_by_path_with_profile() -> None:
    result = runner.invoke(
        rules_app,
        [
            "explain",
            str(FIXTURES / "tier.toml"),
            "--profile",
            str(FIXTURES / "profiles" / "ics-90.toml"),
        ],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "fixture-tier" in out
    assert "Decision table" in out
    assert "120 -> 90" in out
    assert "specialist-mdt" in out
    assert "lint: clean" in out


def test_explain_by_id() -> None:
    result = runner.invoke(rules_app, ["explain", "fixture-level", "--rules-dir", str(FIXTURES)])
    assert result.exit_code == 0, result.output
    assert "priority" in result.output


def test_explain_unknown_id() -> None:
    result = runner.invoke(rules_app, ["explain", "no-such-ruleset", "--rules-dir", str(FIXTURES)])
    assert result.exit_code == 2


def test_explain_broken_file(tmp_path: Path) -> None:
    path = write(tmp_path, "kind = 'ruleset'\n")
    assert runner.invoke(rules_app, ["explain", str(path)]).exit_code == 2


def test_check_json(tmp_path: Path) -> None:
    text = MINIMAL.replace('hit_policy = "collect"', 'hit_policy = "unique"')
    result = runner.invoke(rules_app, ["check", "--json", str(write(tmp_path, text))])
    assert result.exit_code == 1
    data = json.loads(result.output)
    gaps = [f for f in data["findings"] if f["code"] == "gap"]
    assert {g["severity"] for g in gaps} == {"error"}
    # the only rule is x > 10 over [0, 1000]: every counter-example is at or below 10
    assert gaps
    assert all(Decimal(g["counterexample"]["x"]) <= 10 for g in gaps)
    assert {"x": "10"} in [g["counterexample"] for g in gaps]
