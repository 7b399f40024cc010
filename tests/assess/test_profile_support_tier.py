"""A local profile's changes to the support-tier ruleset are applied to the tier decision.

Found by mutation testing (docs/safety/mutation.md): dropping the profile when binding the
support-tier ruleset survived, so nothing showed a profile reaching the tier. A profile that
disables the PCN-service rule (a locality without that service) leaves a gap in the ruleset
(in scope, high risk, no complex needs): the library must refuse it, naming the gap, rather
than decide as if no profile were given.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from opioidcds import OpioidCDSError, Patient, Prescription, assess, load_profile

PROFILE = """
kind = "profile"
id = "no-pcn-service"
version = "1.0.0"
effective_date = 2026-11-22
owner = "test"
description = "A locality without a PCN tapering service."

[citations]
local = "Local service directory (test)."

[rulesets.support-tier]
ruleset_version = "2.1.1"

[[rulesets.support-tier.disable]]
rule = "pcn-service"
reason = "No PCN tapering service in this locality."
"""

# Oxycodone MR 60 mg twice a day: 120 mg/day x 1.5 = 180 mg OME/day, above the high-dose
# threshold (> 120) and below the very-high-dose band (200); no other factor present (all
# recorded false, female, 50): risk-level "high" (high dose with fewer than 3 other
# factors), tier "pcn-service".
OXY = Prescription(
    drug="oxycodone",
    form="modified-release tablet",
    strength="60 mg",
    dose_quantity=1,
    dose_unit="tablet",
    doses_per_day=2,
)
PATIENT = Patient(
    age=50,
    sex="female",
    unemployed=False,
    ae_attendance_recent=False,
    family_history_dependence=False,
    history_substance_or_alcohol_misuse=False,
    preadolescent_sexual_abuse_history=False,
    depression=False,
    other_psychological_disease=False,
    medication_list_complete=True,
    prescriptions=(OXY,),
    as_of=dt.date(2026, 11, 1),
)


def test_without_the_profile_the_patient_gets_the_pcn_service() -> None:
    result = assess(PATIENT)
    assert result.risk_level is not None
    assert result.risk_level.level == "high"
    assert result.tier.tier == "pcn-service"


def test_a_profile_disabling_a_tier_rule_reaches_the_tier_ruleset(tmp_path: Path) -> None:
    path = tmp_path / "no-pcn.toml"
    path.write_text(PROFILE, encoding="utf-8")
    with pytest.raises(OpioidCDSError) as caught:
        assess(PATIENT, profile=load_profile(path))
    message = str(caught.value)
    assert "gap" in message
    assert "support-tier" in message
    assert "no-pcn-service" in message
