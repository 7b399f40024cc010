"""The catalogue of supplied inputs (``inputs/supplied-inputs.toml``) is what the code supplies.

The catalogue is data the linter trusts: a rule reading an input not in it is an error. So it
must list exactly what the library passes to each ruleset. This test runs the code that
derives the inputs (the assessment, the prescribing check, the discharge and inpatient
checks, the population screen) on the bundled examples, records the input names each
ruleset is given (by name, or by position: ``BoundRuleset.evaluation``), and compares them
with the catalogue, ruleset by ruleset.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opioidcds import default_knowledge
from opioidcds._decide.rules.evaluator import BoundRuleset
from opioidcds._decide.rules.loader import bundled_supplied_inputs
from opioidcds.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def test_the_catalogue_lists_what_the_code_supplies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    original = BoundRuleset.normalise

    def recording(self: BoundRuleset, inputs: Mapping[str, object]) -> object:
        seen[self.ruleset.id].update(inputs)
        return original(self, inputs)

    original_evaluation = BoundRuleset.evaluation

    def recording_evaluation(self: BoundRuleset, names: tuple[str, ...]) -> object:
        seen[self.ruleset.id].update(names)  # the prescribing check's inputs, by position
        return original_evaluation(self, names)

    monkeypatch.setattr(BoundRuleset, "normalise", recording)
    monkeypatch.setattr(BoundRuleset, "evaluation", recording_evaluation)
    runner = CliRunner()
    for args in (
        ["assess", str(EXAMPLES / "patient-assess.json")],
        ["check", str(EXAMPLES / "patient-check.json")],
        ["discharge", str(EXAMPLES / "discharge-example.json")],
        [
            "screen",
            str(EXAMPLES / "population" / "issues.csv"),
            "--patients",
            str(EXAMPLES / "population" / "patients.csv"),
            "--out",
            str(tmp_path / "out"),
        ],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    catalogue = bundled_supplied_inputs()
    risk_factor_ids = {r.id for r in default_knowledge().rulesets["risk-factors"].rules}
    for rid, entry in catalogue.entries.items():
        if rid == "inpatient":
            continue  # no bundled example episode is an inpatient one: checked below
        expected = set(entry.inputs)
        if entry.family_prefix:
            expected |= {
                name
                for name in seen[rid]
                if name.startswith(entry.family_prefix)
                and name.removeprefix(entry.family_prefix).replace("_", "-") in risk_factor_ids
            }
        assert seen[rid] == expected, rid
    # every ruleset the code ran is in the catalogue
    assert set(seen) <= set(catalogue.entries)


def test_the_inpatient_entry_is_the_code_s_inputs() -> None:
    from opioidcds._decide.hospital import _INPATIENT_FIELDS  # noqa: PLC0415

    assert set(bundled_supplied_inputs().entries["inpatient"].inputs) == set(_INPATIENT_FIELDS)


def test_every_bundled_input_a_rule_reads_is_supplied() -> None:
    catalogue = bundled_supplied_inputs()
    ids = {
        rid: frozenset(r.id for r in rs.rules) for rid, rs in default_knowledge().rulesets.items()
    }
    for rid, rs in default_knowledge().rulesets.items():
        for rule in rs.rules:
            for name in rule.fields:
                assert catalogue.supplies(rid, name, ids), (rid, rule.id, name)
