"""``opioidcds discharge``: readable output, JSON, --profile and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "discharge-example.json"
PROFILE = knowledge_dir("rules") / "profiles" / "example-acute-trust.toml"
runner = CliRunner()


def run(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, args, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_example_readable() -> None:
    code, out, _ = run(["discharge", str(EXAMPLE)])
    assert code == 0
    _, data, _ = run(["discharge", str(EXAMPLE), "--json"])
    fired = json.loads(data)["alerts"]
    assert [a["rule_id"] for a in fired] == [
        "supply-over-limit-new-opioid",
        "modified-release-new-opioid",
        "opioid-with-gabapentinoid",
        "new-opioid-no-weaning-plan-or-gp-communication",
    ]
    flat = " ".join(out.split())
    for alert in fired:  # people read the summary and the sources; ids and traces are in --json
        assert " ".join(alert["summary"].split()) in flat
        assert alert["rule_id"] not in out
    assert "Sources:" in out
    # oxycodone 10 mg MR x 2 = 20 mg; oxycodone 5 mg PRN capped at 4 a day = 20 mg;
    # 40 mg oxycodone x 1.5 = 60 mg OME/day
    assert "60 mg/day" in out
    assert "Suggested action" in out


def test_example_json() -> None:
    code, out, _ = run(["discharge", str(EXAMPLE), "--json"])
    assert code == 0
    data = json.loads(out)
    assert data["ruleset_id"] == "discharge"
    assert data["complete"] is True
    assert data["ome"]["total_mg_per_day"] == "60.0"
    assert len(data["alerts"]) == 4
    assert data["prescriptions"][0]["modified_release_source"] == "dm+d catalogue"


def test_profile_option() -> None:
    code, out, _ = run(["discharge", str(EXAMPLE), "--json", "--profile", str(PROFILE)])
    assert code == 0
    assert json.loads(out)["profile_id"] == "example-acute-trust"


def test_stdin_inpatient() -> None:
    episode = {
        "care_setting": "inpatient",
        "assessment_time": "2026-11-22T10:00:00+00:00",
        "iv_morphine_bolus_order_active": False,
        "parenteral_administrations": [
            {
                "drug": "morphine",
                "route": "intravenous",
                "kind": "bolus",
                "start": "2026-11-20T09:00:00+00:00",
            },
            {
                "drug": "morphine",
                "route": "intravenous",
                "kind": "bolus",
                "start": "2026-11-22T09:00:00+00:00",
            },
        ],
    }
    code, out, _ = run(["discharge", "-"], stdin=json.dumps(episode))
    assert code == 0
    # 2026-11-20 09:00 to 2026-11-22 09:00 is 48 hours: not beyond 48
    assert "No alerts." in out
    assert "48 hours" in out


def test_unknowns_are_printed() -> None:
    episode = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    del episode["opioid_before_admission"]
    code, out, _ = run(["discharge", "-"], stdin=json.dumps(episode))
    assert code == 0
    assert "Could not be checked" in out
    shown = " ".join(out.split())
    # the ruleset's label of the unknown input, then the episode field to record, in words
    assert "needs whether the opioid was started in hospital (record: opioid before" in shown
    assert "opioid before admission" in shown
    assert "opioid_before_admission" not in out  # field names in words


def test_invalid_input_exit_2_without_values(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "care_setting": "discharge",
                "discharge_prescriptions": [
                    {
                        "prescription": {
                            "drug": "oxycodone",
                            "form": "tablet",
                            "strength": "5 mg",
                            "dose_quantity": 1,
                            "dose_unit": "tablet",
                            "doses_per_day": 4,
                        },
                        "days_supply": -31337,
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    code, _, err = run(["discharge", str(bad)])
    assert code == 2
    assert "days_supply" in err
    assert "31337" not in err


def test_not_json_exit_2() -> None:
    code, _, err = run(["discharge", "-"], stdin="{not json")
    assert code == 2
    assert "not valid JSON" in err


def test_primary_care_exit_2() -> None:
    code, _, err = run(["discharge", "-"], stdin='{"care_setting": "primary-care"}')
    assert code == 2
    assert "care_setting" in err


def test_bad_profile_exit_2(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text('kind = "profile"\n', encoding="utf-8")
    code, _, _ = run(["discharge", str(EXAMPLE), "--profile", str(profile)])
    assert code == 2
