"""``opioidcds assess`` and ``opioidcds check``: readable output, JSON, profile, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from opioidcds.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
ASSESS = ROOT / "examples" / "patient-assess.json"
CHECK = ROOT / "examples" / "patient-check.json"
PROFILE = ROOT / "rules" / "profiles" / "opioids-aware-90.toml"
runner = CliRunner()


def run(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, args, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_assess_example_readable() -> None:
    # oxycodone 40 x 2 x 1.5 = 120 mg OME/day; diazepam not counted. Present: male, older age
    # (70), benzodiazepine, depression -> 4 besides dose, dose absent (120 not > 120) -> High
    # -> PCN service (no past substance/alcohol dependence; words, not ids). History: 7 issues
    # from 2026-05-01 (184 days to 2026-11-01): long-term. Early: 08-21 -> 09-10 is 20 of 28
    # days (71% < 75); 09-10 -> 10-01 is 21 of 28 (75%, not early): 1 early < 2 -> absent.
    code, out, _ = run(["assess", str(ASSESS)])
    assert code == 0
    text = " ".join(out.split())
    assert "In scope" in text
    assert "120 mg OME/day" in text
    assert "not counted for OME: diazepam (benzodiazepine)" in text
    assert "Risk level: High" in text
    assert "Support tier: PCN service" in text
    assert "pcn-service" not in text
    assert "livewellwithpain.co.uk" in text


def test_assess_json_and_profile() -> None:
    code, out, _ = run(["assess", str(ASSESS), "--json"])
    assert code == 0
    data = json.loads(out)
    assert data["tier"]["tier"] == "pcn-service"
    assert data["factors"][0]["id"] == "male-sex"
    assert data["versions"]["profile"] == "none"
    # with the 90 mg profile: 120 > 90 -> dose factor present; 4 others + dose -> very-high
    code, out, _ = run(["assess", str(ASSESS), "--json", "--profile", str(PROFILE)])
    assert code == 0
    data = json.loads(out)
    assert data["risk_level"]["level"] == "very-high"
    assert data["versions"]["profile"] == "opioids-aware-90 1.1.2"


def test_check_example_readable_and_json() -> None:
    # morphine 30 x 2 = 60; new oxycodone 30 x 2 x 1.5 = 90; after 150 > 100 (Script Switch)
    # and > 120 from 60 (reminder); diazepam with an opioid being issued (critical); 60 -> 150
    # is +90 mg (> 30) and +150% (> 20%): dose escalation. The list is complete: no z-drug.
    code, out, _ = run(["check", str(CHECK)])
    assert code == 0
    text = " ".join(out.split())
    assert "4 alert(s), most serious first" in text
    assert text.index("CRITICAL") < text.index("WARNING") < text.index("INFO")
    assert "Total 150 mg OME/day with this prescription; 60 mg OME/day before." in text
    code, out, _ = run(["check", str(CHECK), "--json"])
    assert code == 0
    ids = [a["id"] for a in json.loads(out)]
    assert ids == [  # most serious first (the file has the Script Switch warning first)
        "opioid-with-benzodiazepine",
        "script-switch-above-threshold",
        "dose-escalation",
        "check-risk-factors",
    ]


def test_check_from_stdin_without_alerts() -> None:
    data = json.loads(CHECK.read_text())
    data["prescriptions"] = []
    # 5 x 2 x 1.5 = 15 mg OME/day, re-authorised (an opioid already taken: not a start)
    data["new_prescription"]["strength"] = "5 mg"
    data["prescriptions"] = [data["new_prescription"]]
    data["reauthorisation"] = True
    code, out, _ = run(["check", "-"], json.dumps(data))
    assert code == 0
    assert "No alerts" in out


def test_invalid_input_exits_2_without_echo() -> None:
    code, _, err = run(["assess", "-"], json.dumps({"age": 300, "sex": "Mxyz"}))
    assert code == 2
    assert "age" in err
    assert "Mxyz" not in err
    code, _, err = run(["check", "-"], json.dumps({"age": 40}))
    assert code == 2
    assert "new_prescription" in err
    code, _, err = run(["check", "-"], json.dumps({"new_prescription": {"drug": "x"}}))
    assert code == 2
    code, _, err = run(["assess", "-"], "[1, 2]")
    assert code == 2
    code, _, err = run(["assess", str(ASSESS), "--profile", "/nonexistent/profile.toml"])
    assert code == 2


def test_out_of_scope_is_explicit() -> None:
    data = json.loads(ASSESS.read_text())
    data["palliative_care"] = True
    code, out, _ = run(["assess", "-"], json.dumps(data))
    assert code == 0
    assert "Out of scope" in out
    assert "alliative" in out


def test_unknowns_are_shown_as_a_lower_bound() -> None:
    # morphine 10 mg x 2 = 20 mg OME/day; nothing else recorded: level low with unknowns
    # absent, higher if they were present -> "at least Low" (display names). The tier: letter
    # with the unknowns absent, specialist MDT with them present (3 steps >= 2): shown as a
    # range, recording the missing information first (issue 15, item 7).
    data = {
        "prescriptions": [
            {
                "drug": "morphine",
                "form": "modified-release tablet",
                "strength": "10 mg",
                "dose_quantity": 1,
                "dose_unit": "tablet",
                "doses_per_day": 2,
            }
        ]
    }
    code, out, _ = run(["assess", "-"], json.dumps(data))
    assert code == 0
    text = " ".join(out.split())
    assert "Risk level: at least Low" in text
    assert "Support tier: Letter to Specialist MDT" in text
    assert "First, record the missing information" in text
    assert "Recording these could raise the level or tier" in text
