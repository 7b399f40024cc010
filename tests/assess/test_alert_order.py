"""Alerts are shown most serious first, in the ruleset's file order within a severity (issue 19).

Every output (API, CLI, CDS Hooks cards) reads the same ordered lists: ``check_prescription``
and the hospital checks sort them, the CLI prints them as given.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from opioidcds import AcuteEpisode, Patient, Prescription, check_discharge, check_prescription
from opioidcds._display import SEVERITY_ORDER, most_serious_first
from opioidcds.cli.assess_cmd import parse_check

ROOT = Path(__file__).resolve().parents[2]


def mr(drug: str, mg: int) -> Prescription:
    return Prescription(
        drug=drug,
        form="modified-release tablet",
        strength=f"{mg} mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )


def test_example_critical_before_warning_before_info() -> None:
    # examples/patient-check.json: morphine MR 30 mg bd = 60 mg OME/day, diazepam; new
    # oxycodone MR 30 mg bd = 60 mg/day x 1.5 = 90 -> total 150 mg OME/day:
    #   > 100 Script Switch (warning, first in the file), opioid + benzodiazepine (critical),
    #   first above 120 (info, last in the file). File order was warning, critical, info.
    #   60 -> 150 is +90 mg (> 30) and +150% (> 20%): dose escalation (warning, issue 15),
    #   after the Script Switch warning in the file.
    data = json.loads((ROOT / "examples" / "patient-check.json").read_text(encoding="utf-8"))
    patient, new, reauth = parse_check(data)
    alerts = check_prescription(patient, new, reauthorisation=reauth)
    assert [(a.severity.value, a.id) for a in alerts] == [
        ("critical", "opioid-with-benzodiazepine"),
        ("warning", "script-switch-above-threshold"),
        ("warning", "dose-escalation"),
        ("info", "check-risk-factors"),
    ]


def test_same_severity_keeps_the_file_order() -> None:
    # morphine MR 30 mg bd (60) + pregabalin; new oxycodone MR 30 mg bd (90) -> 150:
    # warnings in their order in the file (Script Switch, gabapentinoid, then the dose
    # escalation of issue 15: 60 -> 150 is +90 mg and +150%), then info.
    pregabalin = Prescription(
        drug="pregabalin",
        form="capsule",
        strength="75 mg",
        dose_quantity=1,
        dose_unit="capsule",
        doses_per_day=2,
    )
    patient = Patient(
        age=50,
        sex="female",
        prescriptions=(mr("morphine", 30), pregabalin),
        medication_list_complete=True,
    )
    alerts = check_prescription(patient, mr("oxycodone", 30))
    assert [a.id for a in alerts] == [
        "script-switch-above-threshold",
        "opioid-with-gabapentinoid",
        "dose-escalation",
        "check-risk-factors",
    ]


def test_most_serious_first_is_stable_and_puts_unknown_last() -> None:
    items = [("info", 1), ("odd", 2), ("warning", 3), ("critical", 4), ("warning", 5), ("info", 6)]
    ordered = most_serious_first(items, lambda x: x[0])
    assert ordered == [
        ("critical", 4),
        ("warning", 3),
        ("warning", 5),
        ("info", 1),
        ("info", 6),
        ("odd", 2),
    ]
    assert SEVERITY_ORDER == ("critical", "warning", "info")


def test_discharge_alerts_are_ordered() -> None:
    data = json.loads((ROOT / "examples" / "discharge-example.json").read_text(encoding="utf-8"))
    data.pop("description")
    result = check_discharge(AcuteEpisode.model_validate(data))
    ranks = [SEVERITY_ORDER.index(a.severity) for a in result.alerts]
    assert ranks == sorted(ranks)
    assert len(result.alerts) >= 2


def test_cli_prints_the_alerts_in_that_order() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from opioidcds.cli import main; main()", "check",
         str(ROOT / "examples" / "patient-check.json")],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    heads = [w for w in done.stdout.split() if w in ("CRITICAL", "WARNING", "INFORMATION", "INFO")]
    # one critical, two warnings (Script Switch, dose escalation: issue 15), one information
    assert heads[:4] in (
        ["CRITICAL", "WARNING", "WARNING", "INFORMATION"],
        ["CRITICAL", "WARNING", "WARNING", "INFO"],
    )
