"""Issue 23: profiles carry their own examples, run by ``rules check``, the suite and at use.

Every bundled profile's ``[[examples]]`` (worked by hand in the profile file, the arithmetic in
each ``description``) must pass under the profile, and at least one of them must fail without
it: an example that holds either way does not test what the profile changes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opioidcds import ProfileError, default_knowledge, lint_path, load_profile
from opioidcds._decide.rules.evaluator import bind_profile, profile_example_failures
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.cli.app import app

RULES = knowledge_dir("rules")
PROFILES = sorted((RULES / "profiles").glob("*.toml"))


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.stem)
def test_every_bundled_profile_has_examples_that_pass(path: Path) -> None:
    profile = load_profile(path)
    assert profile.examples, f"{path.name} has no [[examples]]"
    kb = default_knowledge()
    assert profile_example_failures(kb.bound_all(profile), profile) == []
    # without the profile, at least one example fails: the examples test the change
    assert profile_example_failures(kb.bound_all(None), profile)


def test_the_90_profile_examples_by_hand() -> None:
    profile = load_profile(RULES / "profiles" / "opioids-aware-90.toml")
    kb = default_knowledge()
    failures = profile_example_failures(kb.bound_all(None), profile)
    # without the profile: 100 is not above 120 (example 1) and 95 is not above 120
    # (example 3) fail; exactly 90 is not above 120 either, as the profile expects (example 2)
    assert [ex.line for ex, _ in failures] == [
        profile.examples[0].line,
        profile.examples[2].line,
    ]
    assert "expected rule 'high-dose' fired, got not_fired" in failures[0][1]


def _broken_copy(tmp_path: Path) -> Path:
    """The bundled rules and the 90 mg profile with its threshold mistyped as 100."""
    for f in RULES.glob("*.toml"):
        shutil.copy(f, tmp_path / f.name)
    text = (RULES / "profiles" / "opioids-aware-90.toml").read_text()
    old = "[rulesets.risk-factors.parameters.high_dose_mg_per_day]\nvalue = 90"
    assert old in text
    path = tmp_path / "local-90.toml"
    path.write_text(text.replace(old, old.replace("90", "100")))
    return path


def test_a_failing_example_is_reported_with_its_line(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path)
    # example 1: 100 mg OME/day is not above 100, so the factor is absent: it fails;
    # example 2: 90 is not above 100 either, as it expects; example 3 reads the reminder (90)
    (failed,) = [f for f in lint_path(tmp_path).errors if f.file == str(path)]
    lines = path.read_text().splitlines()
    assert failed.code == "example"
    assert failed.line is not None
    assert lines[failed.line - 1].strip() == "[[examples]]"
    assert lines[failed.line].strip() == 'ruleset = "risk-factors"'
    assert "ome_mg_per_day = 100" in lines[failed.line + 2]
    assert "expected rule 'high-dose' fired, got not_fired" in failed.message
    # applying it is refused, by every command (one function applies profiles)
    with pytest.raises(ProfileError, match="its own example fails"):
        bind_profile(default_knowledge().rulesets, load_profile(path))


def test_rules_check_runs_the_examples(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path)
    result = CliRunner().invoke(app, ["rules", "check", str(tmp_path), "--json"])
    assert result.exit_code == 1
    (finding,) = json.loads(result.output)["findings"]
    assert finding["file"] == str(path)
    assert finding["code"] == "example"
    assert "expected rule 'high-dose' fired, got not_fired" in finding["message"]
