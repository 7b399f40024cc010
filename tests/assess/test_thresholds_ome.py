"""Hazard HAZ-007 (control C3): OME thresholds compare the exact total, never a rounded one.

Every daily-OME threshold of the shipped rulesets and profiles (every parameter in mg/day) is
read from its file, and the decision that uses it is made at totals just below, at and just
above it. Each rule reads "total > threshold" (the sources say "above": the NHS England
analysis's ">120mg" and Script Switch's ">100mg"; docs/knowledge.md), so a total
*at* the threshold does not fire and any total above it, however little, does; the
very-high-dose band (issue 15) reads "at or above", so a total at it fires.

How the totals are built (UK Opioids Aware table: oxycodone oral 1.5, morphine oral 1):

- oxycodone MR 20 mg, one tablet twice a day: 20 mg x 2 = 40 mg/day x 1.5 = 60 mg OME/day;
- morphine oral solution, a dose of (T - 60 + delta) mg once a day (a dose in mg overrides
  the 10 mg/5 mL strength): (T - 60 + delta) x 1 x 1 = T - 60 + delta mg OME/day;
- total = 60 + (T - 60 + delta) = T + delta, exactly, for delta in
  -0.01, -0.001, 0, +0.000001, +0.001, +0.01.

For a threshold at or below 60 (the CDC 2022 profile's 50 MME/day) the oxycodone is 10 mg
twice a day instead: 10 mg x 2 = 20 mg/day x 1.5 = 30 mg OME/day, and the morphine dose is
T - 30 + delta.

A total of T + 0.001 or T + 0.000001 would compare equal to T if it were rounded to 2 decimal
places or to whole mg first, so those cases fail on any rounding before comparing.

A second construction leaves the decimal system: morphine d mg every 7 hours is d x 24 / 7 mg
OME/day. With d = 7T/24 (26.25 for 90, 35 for 120) the total is exactly T; with
d +/- 0.00001 it is T +/- 0.00001 x 24/7 = T +/- 0.0000342857142857... (non-terminating), which
must still land on the right side of T.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from opioidcds import (
    AcuteEpisode,
    FactorStatus,
    Patient,
    Prescription,
    Profile,
    assess,
    calculate_ome,
    check_discharge,
    check_prescription,
    load_profile,
    load_ruleset,
)
from opioidcds._knowledge.paths import knowledge_dir

RULES = knowledge_dir("rules")
DELTAS = ("-0.01", "-0.001", "0", "0.000001", "0.001", "0.01")
OXYCODONE_OME = Decimal(60)  # 20 mg x 2 tablets/day x 1.5 (see the module docstring)


@dataclass(frozen=True)
class Threshold:
    """A decision that compares a daily OME with one threshold parameter."""

    decision: str  # the factor id, alert id or discharge rule id that uses it
    ruleset: str
    parameter: str
    profile: str | None  # a shipped profile overriding it, or None for the ruleset's value
    at_or_above: bool = False  # a band that starts at the threshold (">="), not above it

    @property
    def label(self) -> str:
        return f"{self.decision}@{self.profile or self.ruleset}"

    def load_profile(self) -> Profile | None:
        if self.profile is None:
            return None
        return load_profile(RULES / "profiles" / f"{self.profile}.toml")

    def value(self) -> Decimal:
        """The threshold as the files give it (the profile's value when there is one)."""
        prof = self.load_profile()
        if prof is not None:
            return prof.sections[self.ruleset].parameters[self.parameter].value
        return load_ruleset(RULES / f"{self.ruleset}.toml").parameters[self.parameter].value


THRESHOLDS = (
    Threshold("high-dose", "risk-factors", "high_dose_mg_per_day", None),
    Threshold("high-dose", "risk-factors", "high_dose_mg_per_day", "opioids-aware-90"),
    Threshold(
        "script-switch-above-threshold", "prescribing-alerts", "alert_threshold_mg_per_day", None
    ),
    Threshold(
        "reauthorisation-high-dose",
        "prescribing-alerts",
        "reauthorisation_threshold_mg_per_day",
        None,
    ),
    Threshold("check-risk-factors", "prescribing-alerts", "reminder_high_dose_mg_per_day", None),
    Threshold(
        "check-risk-factors",
        "prescribing-alerts",
        "reminder_high_dose_mg_per_day",
        "opioids-aware-90",
    ),
    Threshold("high-dose", "risk-factors", "high_dose_mg_per_day", "us-cdc-2022"),
    Threshold(
        "script-switch-above-threshold",
        "prescribing-alerts",
        "alert_threshold_mg_per_day",
        "us-cdc-2022",
    ),
    Threshold(
        "reauthorisation-high-dose",
        "prescribing-alerts",
        "reauthorisation_threshold_mg_per_day",
        "us-cdc-2022",
    ),
    Threshold(
        "check-risk-factors", "prescribing-alerts", "reminder_high_dose_mg_per_day", "us-cdc-2022"
    ),
    Threshold("high-dose-at-discharge", "discharge", "high_dose_mg_per_day", None),
    Threshold("high-dose-at-discharge", "discharge", "high_dose_mg_per_day", "example-acute-trust"),
    # issue 15, item 9: the very-high-dose band is "200 mg OME/day and above" (>=)
    Threshold("very-high-dose", "risk-factors", "very_high_dose_mg_per_day", None, True),
    Threshold("very-high-dose", "prescribing-alerts", "very_high_dose_mg_per_day", None, True),
    Threshold("very-high-dose-at-discharge", "discharge", "very_high_dose_mg_per_day", None, True),
)

# mg/day parameters compared with something other than the total with the new prescription,
# each with its own boundary test (tests/assess/test_clinical_safety.py):
OTHER_MG_PER_DAY = {
    # the total *before* the new prescription (opioid tolerance, buprenorphine patch start)
    ("prescribing-alerts", "tolerance_mg_per_day", None): "test_tolerance_boundary",
    ("prescribing-alerts", "buprenorphine_patch_higher_start_mg_per_day", None): (
        "test_buprenorphine_patch_boundary"
    ),
    # the increase from the current total to the new one
    ("prescribing-alerts", "escalation_absolute_mg_per_day", None): "test_escalation_boundaries",
}


def test_every_ome_threshold_of_the_shipped_rules_is_covered() -> None:
    """A new mg/day threshold in rules/ (or a profile override of one) must be added above."""
    found: set[tuple[str, str, str | None]] = set()
    for path in sorted(RULES.glob("*.toml")):
        rs = load_ruleset(path)
        found.update((rs.id, name, None) for name, p in rs.parameters.items() if p.unit == "mg/day")
    mg_per_day = {(r, n) for r, n, _ in found}
    for path in sorted((RULES / "profiles").glob("*.toml")):
        prof = load_profile(path)
        for rid, section in prof.sections.items():
            found.update(
                (rid, name, prof.id) for name in section.parameters if (rid, name) in mg_per_day
            )
    covered = {(t.ruleset, t.parameter, t.profile) for t in THRESHOLDS} | set(OTHER_MG_PER_DAY)
    assert covered == found
    assert {t.value() for t in THRESHOLDS} == {Decimal(n) for n in (50, 90, 100, 120, 200)}


def oxycodone(strength: str = "20 mg") -> Prescription:
    return Prescription(
        drug="oxycodone",
        form="modified-release tablet",
        strength=strength,
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )


def morphine_mg(dose: Decimal, **timing: object) -> Prescription:
    return Prescription.model_validate(
        {
            "drug": "morphine",
            "form": "oral solution",
            "strength": "10 mg/5 mL",
            "dose_quantity": dose,
            "dose_unit": "mg",
            **(timing or {"doses_per_day": 1}),
        }
    )


def patient(*prescriptions: Prescription) -> Patient:
    return Patient(age=60, sex="female", medication_list_complete=True, prescriptions=prescriptions)


def base(t: Decimal) -> tuple[Prescription, Decimal]:
    """The current oxycodone below threshold ``t``, and its OME (see the module docstring)."""
    if t > OXYCODONE_OME:
        return oxycodone(), OXYCODONE_OME  # 20 mg x 2/day x 1.5 = 60
    return oxycodone("10 mg"), Decimal(30)  # 10 mg x 2/day x 1.5 = 30


def decide(threshold: Threshold, rest: Prescription) -> bool:
    """Whether ``threshold.decision`` fires with the base oxycodone plus ``rest``."""
    prof = threshold.load_profile()
    oxy, _ome = base(threshold.value())
    if threshold.ruleset == "risk-factors":
        found = assess(patient(oxy, rest), profile=prof).factor(threshold.decision)
        assert found.status is not FactorStatus.UNKNOWN
        return found.status is FactorStatus.PRESENT
    if threshold.decision == "reauthorisation-high-dose":
        alerts = check_prescription(patient(oxy, rest), rest, reauthorisation=True, profile=prof)
        return threshold.decision in {a.id for a in alerts}
    if threshold.ruleset == "discharge":
        episode = AcuteEpisode(
            care_setting="discharge",
            discharge_prescriptions=[
                {"prescription": oxy, "days_supply": 5},
                {"prescription": rest, "days_supply": 5},
            ],
        )
        check = check_discharge(episode, profile=prof)
        assert check.ome.complete
        return threshold.decision in {a.rule_id for a in check.alerts}
    # a new prescription on top of the current oxycodone (below its threshold)
    alerts = check_prescription(patient(oxy), rest, profile=prof)
    return threshold.decision in {a.id for a in alerts}


@pytest.mark.parametrize("delta", DELTAS)
@pytest.mark.parametrize("threshold", THRESHOLDS, ids=lambda t: t.label)
def test_decision_compares_the_exact_total(threshold: Threshold, delta: str) -> None:
    t = threshold.value()
    oxy, oxy_ome = base(t)
    rest = morphine_mg(t - oxy_ome + Decimal(delta))
    total = calculate_ome([oxy, rest])
    assert total.total_mg_per_day == t + Decimal(delta)  # base + (T - base + delta)
    assert total.exact
    fires = Decimal(delta) >= 0 if threshold.at_or_above else Decimal(delta) > 0
    assert decide(threshold, rest) is fires


SEVEN_HOURLY_CASES = [
    (t, d)
    for t in THRESHOLDS
    for d in ("-0.00001", "0", "0.00001")
    # only where 7T/24 is a dose the input accepts (10 decimal places): 90 -> 26.25, 120 -> 35
    if (t.value() * 7 / 24) == (t.value() * 7 / 24).quantize(Decimal("1e-10"))
]
SEVEN_HOURLY = [pytest.param(t, d, id=f"{t.label}{d}") for t, d in SEVEN_HOURLY_CASES]


def test_seven_hourly_cases_exist() -> None:
    assert {t.value() for t, _ in SEVEN_HOURLY_CASES} == {Decimal(90), Decimal(120)}


@pytest.mark.parametrize(("threshold", "delta"), SEVEN_HOURLY)
def test_non_terminating_total_lands_on_the_right_side(threshold: Threshold, delta: str) -> None:
    t = threshold.value()
    dose = t * 7 / 24 + Decimal(delta)  # 26.25 or 35, +/- 0.00001 mg
    rest = morphine_mg(dose, interval_hours=7)
    ome = calculate_ome([rest])
    # dose x 24 / 7 = T + delta x 24/7: exact (and T) only for delta = 0
    assert ome.exact is (delta == "0")
    assert (ome.total_mg_per_day > t) is (Decimal(delta) > 0)
    assert (ome.total_mg_per_day == t) is (delta == "0")
    # the same morphine, taking the total past T with the oxycodone removed from the others:
    # here the whole total is the 7-hourly morphine (T + delta x 24/7)
    prof = threshold.load_profile()
    if threshold.ruleset == "risk-factors":
        status = assess(patient(rest), profile=prof).factor(threshold.decision).status
        assert (status is FactorStatus.PRESENT) is (Decimal(delta) > 0)
    elif threshold.ruleset == "discharge":
        episode = AcuteEpisode(
            care_setting="discharge",
            discharge_prescriptions=[{"prescription": rest, "days_supply": 5}],
        )
        fired = {a.rule_id for a in check_discharge(episode, profile=prof).alerts}
        assert (threshold.decision in fired) is (Decimal(delta) > 0)
    else:
        reauth = threshold.decision == "reauthorisation-high-dose"
        current = patient(rest) if reauth else patient()
        alerts = check_prescription(current, rest, reauthorisation=reauth, profile=prof)
        assert (threshold.decision in {a.id for a in alerts}) is (Decimal(delta) > 0)


def test_shown_figure_says_when_it_is_rounded() -> None:
    """At T + 0.001 the alert fires while the figure shows ~T: the '~' says it is not exact."""
    t = THRESHOLDS[2].value()  # script switch, 100 mg OME/day
    rest = morphine_mg(t - OXYCODONE_OME + Decimal("0.001"))  # total 100.001
    alerts = check_prescription(patient(oxycodone()), rest)
    alert = next(a for a in alerts if a.id == "script-switch-above-threshold")
    assert f"Total ~{t} mg OME/day" in alert.detail
