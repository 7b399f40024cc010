"""Issue 23: every command and the Python API enforce a profile's version pins the same way.

The trial found ``opioidcds assess --profile`` applying a profile whose pin on
``prescribing-alerts`` did not hold, while ``check`` refused it: each command bound only the
rulesets it evaluates, so a pin on another ruleset was never looked at. A profile is now
applied to every ruleset at once (``bind_profile``), by every command.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opioidcds import (
    AcuteEpisode,
    Patient,
    Prescription,
    ProfileError,
    assess,
    check_episode,
    check_prescription,
    load_knowledge,
    load_profile,
)
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.cdshooks.server import ServeConfig, load_service_knowledge
from opioidcds.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BUNDLED = knowledge_dir("rules") / "profiles" / "opioids-aware-90.toml"
PIN = 'ruleset_version = "2.2.1"'


@pytest.fixture
def mismatched(tmp_path: Path) -> Path:
    """The 90 mg profile with its prescribing-alerts pin (only) set to a version not bundled."""
    text = BUNDLED.read_text()
    at = text.index("[rulesets.prescribing-alerts]")
    assert text.index(PIN, at) > at
    path = tmp_path / "mismatched.toml"
    path.write_text(text[:at] + text[at:].replace(PIN, 'ruleset_version = "1.9.0"', 1))
    return path


WHY = "written for version 1.9.0, not 2.2.1"


@pytest.mark.parametrize(
    "args",
    [
        ["assess", str(EXAMPLES / "patient-assess.json")],
        ["check", str(EXAMPLES / "patient-check.json")],
        ["discharge", str(EXAMPLES / "discharge-example.json")],
        [
            "screen",
            str(EXAMPLES / "population" / "issues.csv"),
            "--patients",
            str(EXAMPLES / "population" / "patients.csv"),
            "--out",
            "{out}",
        ],
    ],
    ids=lambda a: a[0],
)
def test_every_command_refuses_a_mismatched_pin(
    args: list[str], mismatched: Path, tmp_path: Path
) -> None:
    argv = [a.replace("{out}", str(tmp_path / "out")) for a in args]
    result = CliRunner().invoke(app, [*argv, "--profile", str(mismatched)])
    assert result.exit_code == 2, result.output
    assert WHY in result.output
    assert not (tmp_path / "out").exists()


def test_serve_refuses_a_mismatched_pin(mismatched: Path) -> None:
    with pytest.raises(ProfileError, match=WHY):
        load_service_knowledge(ServeConfig(profile=str(mismatched)))


def _patient() -> Patient:
    return Patient(
        age=50,
        sex="female",
        prescriptions=(
            Prescription(
                drug="morphine",
                form="modified-release tablet",
                strength="50 mg",
                dose_quantity=1,
                dose_unit="tablet",
                doses_per_day=2,
            ),
        ),
    )


def test_the_python_api_refuses_a_mismatched_pin(mismatched: Path) -> None:
    profile = load_profile(mismatched)
    patient = _patient()
    with pytest.raises(ProfileError, match=WHY):
        assess(patient, profile=profile)  # reads risk-factors, not prescribing-alerts
    with pytest.raises(ProfileError, match=WHY):
        check_prescription(patient, patient.prescriptions[0], profile=profile)
    with pytest.raises(ProfileError, match=WHY):
        load_knowledge(profile=mismatched)
    data = json.loads((EXAMPLES / "discharge-example.json").read_text())
    episode = AcuteEpisode.model_validate({k: v for k, v in data.items() if k != "description"})
    with pytest.raises(ProfileError, match=WHY):
        check_episode(episode, profile=profile)


def test_a_profile_naming_a_ruleset_not_loaded_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.toml"
    path.write_text(
        BUNDLED.read_text().replace("[rulesets.risk-factors]", "[rulesets.not-bundled]", 1)
    )
    with pytest.raises(ProfileError, match="'not-bundled', which is not loaded"):
        assess(_patient(), profile=load_profile(path))


def test_the_bundled_profile_still_applies_everywhere() -> None:
    profile = load_profile(BUNDLED)
    patient = _patient()
    # morphine MR 50 mg twice a day: 100 mg OME/day, above 90: the high-dose factor is present
    factor = next(f for f in assess(patient, profile=profile).factors if f.id == "high-dose")
    assert factor.status == "present"
