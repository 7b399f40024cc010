"""Issue 23: local rules beside the bundled ones, in TOML alone, without forking a ruleset.

The trial's change (b) - an alert for a gabapentinoid with an opioid at 50 mg OME/day or
more - is the extension ``examples/local-rules/gabapentinoid.toml``: it
adds one parameter and one rule to the bundled ``prescribing-alerts`` 2.2.0, which it pins.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opioidcds import (
    Patient,
    Prescription,
    RulesetLoadError,
    check_prescription,
    default_knowledge,
    lint_path,
    load_knowledge,
    load_profile,
)
from opioidcds._decide.rules import load_local_rules
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.cdshooks.server import ServeConfig, load_service_knowledge
from opioidcds.cli.app import app

LOCAL = Path(__file__).resolve().parents[2] / "examples" / "local-rules"
EXTENSION = LOCAL / "gabapentinoid.toml"
RULE = "gabapentinoid-from-50-mg"
TITLE = "Gabapentinoid with an opioid at 50 mg OME/day or more"


def _line_of(path: Path, text: str, nth: int = 1) -> int:
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip() == text]
    return hits[nth - 1]


def _morphine(mg: int) -> Prescription:
    return Prescription(
        drug="morphine",
        form="modified-release tablet",
        strength=f"{mg} mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )


GABAPENTIN = Prescription(
    drug="gabapentin",
    form="capsule",
    strength="300 mg",
    dose_quantity=1,
    dose_unit="capsule",
    doses_per_day=3,
)


def _patient(mg: int) -> Patient:
    return Patient(
        age=58, sex="female", medication_list_complete=True, prescriptions=(_morphine(mg),)
    )


def test_the_local_folder_lints_clean() -> None:
    report = lint_path(LOCAL)
    assert report.findings == ()


def test_the_extension_adds_a_rule_without_forking() -> None:
    kb = load_knowledge(local_rules=LOCAL)
    alerts = kb.rulesets["prescribing-alerts"]
    bundled = default_knowledge().rulesets["prescribing-alerts"]
    assert alerts.version == bundled.version == "2.2.1"  # a profile's pin still holds
    assert [r.id for r in alerts.rules] == [*(r.id for r in bundled.rules), RULE]
    added = alerts.rule(RULE)
    assert (added.source, added.line) == (str(EXTENSION), _line_of(EXTENSION, "[[rules]]"))
    (ext,) = alerts.extensions
    assert (ext.id, ext.version, ext.rule_ids) == ("exampleshire-gabapentinoid", "0.1.2", (RULE,))
    assert alerts.fingerprint != bundled.fingerprint  # provenance names the local knowledge
    assert kb.versions()["extension:exampleshire-gabapentinoid"] == (
        "0.1.2 (adds to prescribing-alerts)"
    )
    assert not any(k.startswith("extension:") for k in default_knowledge().versions())


def test_the_local_alert_fires_from_50_mg() -> None:
    kb = load_knowledge(local_rules=LOCAL)
    # morphine MR 30 mg twice a day: 60 mg/day x factor 1 = 60 mg OME/day; 60 >= 50: fires
    fired = {a.id for a in check_prescription(_patient(30), GABAPENTIN, knowledge=kb)}
    assert RULE in fired
    assert "opioid-with-gabapentinoid" in fired  # the bundled alert is still there
    # morphine MR 20 mg twice a day: 40 mg OME/day; 40 < 50: the local alert does not fire
    fired = {a.id for a in check_prescription(_patient(20), GABAPENTIN, knowledge=kb)}
    assert RULE not in fired
    # without the local rules it never fires
    fired = {a.id for a in check_prescription(_patient(30), GABAPENTIN)}
    assert RULE not in fired


def test_a_bundled_profile_applies_with_local_rules() -> None:
    profile = knowledge_dir("rules") / "profiles" / "opioids-aware-90.toml"
    kb = load_knowledge(local_rules=LOCAL, profile=profile)
    fired = {a.id for a in check_prescription(_patient(30), GABAPENTIN, knowledge=kb)}
    assert RULE in fired
    assert kb.profile == load_profile(profile)


def test_check_names_the_local_rules(tmp_path: Path) -> None:
    source = tmp_path / "check.json"
    source.write_text(
        json.dumps(
            {
                **json.loads(_patient(30).model_dump_json(exclude_defaults=True)),
                "new_prescription": json.loads(GABAPENTIN.model_dump_json(exclude_defaults=True)),
            }
        )
    )
    result = CliRunner().invoke(
        app, ["check", str(source), "--rules", str(LOCAL)], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first == (
        "Local rules in force: exampleshire gabapentinoid, version 0.1.2 (Exampleshire ICS "
        f"medicines optimisation team (invented)) adds 1 rule(s) to prescribing alerts: {TITLE}; "
        "exampleshire group programme, version 0.1.1 (Exampleshire ICS medicines optimisation "
        "team (invented)), a local ruleset run for every patient (group-programme.toml)."
    )
    assert "Gabapentinoid with an opioid at a higher dose: book a medication review." in (
        result.output
    )


def test_serve_loads_the_local_rules() -> None:
    kb = load_service_knowledge(ServeConfig(rules=str(LOCAL)))
    assert kb.rulesets["prescribing-alerts"].extensions


# --- refused, with the extension's file and line ----------------------------------------------


def _copy(tmp_path: Path, old: str, new: str) -> Path:
    text = EXTENSION.read_text()
    assert old in text
    path = tmp_path / "ext.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_an_extension_pinned_to_another_version_is_refused(tmp_path: Path) -> None:
    path = _copy(tmp_path, 'extends_version = "2.2.1"', 'extends_version = "2.0.0"')
    with pytest.raises(RulesetLoadError, match="review the extension against it") as caught:
        load_local_rules(tmp_path, default_knowledge().rulesets)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == (str(path), _line_of(path, 'extends_version = "2.0.0"'))


def test_an_extension_cannot_redefine_a_bundled_parameter(tmp_path: Path) -> None:
    path = _copy(
        tmp_path,
        "[parameters.gabapentinoid_review_mg_per_day]",
        "[parameters.alert_threshold_mg_per_day]",
    )
    with pytest.raises(RulesetLoadError, match="never redefines") as caught:
        load_local_rules(tmp_path, default_knowledge().rulesets)
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert problem.line == _line_of(path, "[parameters.alert_threshold_mg_per_day]")


def test_an_extension_reading_an_input_nothing_supplies_is_refused(tmp_path: Path) -> None:
    path = _copy(tmp_path, '"opioid_after = true"', '"strong_opioid_days > 91"')
    with pytest.raises(RulesetLoadError, match="undeclared input 'strong_opioid_days'") as caught:
        load_local_rules(tmp_path, default_knowledge().rulesets)
    assert caught.value.problems[0].file == str(path)
    when = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.startswith("when"))
    assert caught.value.problems[0].line == when  # the rule's condition


def test_a_failing_example_of_an_added_rule_names_the_extension(tmp_path: Path) -> None:
    path = _copy(tmp_path, 'expect = "not_fired"', 'expect = "fired"')
    (found,) = lint_path(tmp_path).errors
    assert (found.file, found.rule_id, found.line) == (str(path), RULE, _line_of(path, "[[rules]]"))
    assert "example 2: expected fired, got not_fired" in found.message


def test_a_forked_copy_of_a_bundled_ruleset_is_refused(tmp_path: Path) -> None:
    shutil.copy(knowledge_dir("rules") / "prescribing-alerts.toml", tmp_path / "copy.toml")
    with pytest.raises(RulesetLoadError, match="add rules to it with an extension"):
        load_local_rules(tmp_path, default_knowledge().rulesets)


def test_assess_and_discharge_name_the_local_rules() -> None:
    examples = LOCAL.parent
    runner = CliRunner()
    for args in (
        ["assess", str(examples / "patient-assess.json")],
        ["discharge", str(examples / "discharge-example.json")],
    ):
        result = runner.invoke(app, [*args, "--rules", str(LOCAL)], env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        assert result.output.startswith(
            "Local rules in force: exampleshire gabapentinoid, version 0.1.2"
        )
        plain = runner.invoke(app, args, env={"COLUMNS": "400"})
        assert "Local rules" not in plain.output
