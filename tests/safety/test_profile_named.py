"""Issue 23: a local profile in force is named in every human output, with what it changed.

The expected texts are written from the profile files by hand: the bundled rulesets' values
(risk-factors ``high_dose_mg_per_day`` 120, prescribing-alerts
``reminder_high_dose_mg_per_day`` 120, discharge ``max_days_supply_new_opioid`` 7 and
``high_dose_mg_per_day`` 120) and the profiles' (90, 90, 5 and 90), with the parameters'
display labels.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PROFILES = knowledge_dir("rules") / "profiles"
NINETY = (
    "Local profile opioids aware 90, version 1.1.2 in force: high dose above 120 -> 90 mg/day "
    "(risk factors); risk-factor reminder above 120 -> 90 mg/day (prescribing alerts)."
)

SWITCH_OFF = """kind = "profile"
id = "exampleshire-ics"
version = "0.1.0"
effective_date = 2026-12-05
owner = "Exampleshire ICS medicines optimisation team"
description = "The trial's profile: two prescribing alerts off."

[citations]
local = "Exampleshire ICS policy (test)."

[[rulesets.prescribing-alerts.disable]]
rule = "opioid-with-gabapentinoid"
reason = "Handled by the ICS pharmacist review instead."

[[rulesets.prescribing-alerts.disable]]
rule = "long-term-review-due"
reason = "Reviews are tracked elsewhere."
"""

# morphine MR 10 mg twice a day (20 mg OME/day), reviewed last month; the prescriber adds
# gabapentin: only the opioid-with-gabapentinoid alert applies
GABAPENTIN = {
    "age": 58,
    "sex": "female",
    "medication_list_complete": True,
    "cancer_pain": False,
    "palliative_care": False,
    "opioid_substitution_therapy": False,
    "as_of": "2026-11-20",
    "last_opioid_review": "2026-10-01",
    "prescriptions": [
        {
            "drug": "morphine",
            "form": "modified-release tablet",
            "strength": "10 mg",
            "dose_quantity": 1,
            "dose_unit": "tablet",
            "doses_per_day": 2,
        }
    ],
    "new_prescription": {
        "drug": "gabapentin",
        "form": "capsule",
        "strength": "300 mg",
        "dose_quantity": 1,
        "dose_unit": "capsule",
        "doses_per_day": 3,
    },
}


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return result.output


def test_assess_names_the_profile_and_its_changes() -> None:
    patient = str(EXAMPLES / "patient-assess.json")
    assert NINETY in _run("assess", patient, "--profile", str(PROFILES / "opioids-aware-90.toml"))
    assert "Local profile" not in _run("assess", patient)


def test_no_alerts_says_which_alerts_the_profile_switched_off(tmp_path: Path) -> None:
    source = tmp_path / "check.json"
    source.write_text(json.dumps(GABAPENTIN))
    plain = _run("check", str(source))
    assert "Opioid with a gabapentinoid" in plain  # the alert the profile will switch off
    profile = tmp_path / "exampleshire.toml"
    profile.write_text(SWITCH_OFF)
    out = _run("check", str(source), "--profile", str(profile))
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    assert lines == [
        "Local profile exampleshire ics, version 0.1.0 in force: 2 rule(s) disabled: Opioid with a "
        "gabapentinoid (prescribing alerts; a safety alert): Handled by the ICS pharmacist "
        "review instead; Long-term opioid without a recent recorded review (prescribing "
        "alerts): Reviews are tracked elsewhere.",
        "No alerts for this prescription.",
        "The local profile exampleshire ics, version 0.1.0 disabled 2 prescribing alert(s), "
        "which could not be shown: Opioid with a gabapentinoid; Long-term opioid without a "
        "recent recorded review.",
    ]


def test_discharge_names_the_trust_profile_and_its_changes() -> None:
    out = _run(
        "discharge",
        str(EXAMPLES / "discharge-example.json"),
        "--profile",
        str(PROFILES / "example-acute-trust.toml"),
    )
    assert (
        "Local profile example acute trust, version 1.1.2 in force: supply of a new opioid at "
        "discharge at most 7 -> 5 days (discharge); high dose above 120 -> 90 mg/day (discharge)."
    ) in out


def test_screen_and_its_report_name_the_profile(tmp_path: Path) -> None:
    out = _run(
        "screen",
        str(EXAMPLES / "population" / "issues.csv"),
        "--patients",
        str(EXAMPLES / "population" / "patients.csv"),
        "--out",
        str(tmp_path),
        "--html",
        "--profile",
        str(PROFILES / "opioids-aware-90.toml"),
    )
    assert NINETY in out
    page = (tmp_path / "report.html").read_text()
    assert NINETY.replace("->", "-&gt;") in page
