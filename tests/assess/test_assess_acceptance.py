"""Hand-worked assessments: every expected value is worked out in the comments.

Factors (rules/risk-factors.toml): the level table counts present factors other than the
high-dose factor ("count") and takes the high-dose factor separately (rules/risk-level.toml):
dose absent: count 0-1 low, 2-3 moderate, 4+ high; dose present: count 0-2 high, 3+ very-high.
Tier (rules/support-tier.toml): low letter, moderate brief-gp-intervention, high pcn-service
(specialist-mdt with past substance/alcohol dependence), very-high specialist-mdt.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from opioidcds import FactorStatus, IssueRecord, Patient, Prescription, assess

P = FactorStatus.PRESENT
A = FactorStatus.ABSENT
U = FactorStatus.UNKNOWN


def oxycodone_mr(mg: int) -> Prescription:
    return Prescription(
        drug="oxycodone",
        form="modified-release tablet",
        strength=f"{mg} mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )


DIAZEPAM = Prescription(
    drug="diazepam", form="tablet", strength="5 mg", dose_quantity=1, dose_unit="tablet",
    doses_per_day=2,
)  # fmt: skip
METHADONE_TABLET = Prescription(
    drug="methadone", form="tablet", strength="5 mg", dose_quantity=1, dose_unit="tablet",
    doses_per_day=2,
)  # fmt: skip
CODEINE = Prescription(
    drug="codeine", form="tablet", strength="30 mg", dose_quantity=1, dose_unit="tablet",
    doses_per_day=4,
)  # fmt: skip

ALL_FALSE = {
    "unemployed": False,
    "ae_attendance_recent": False,
    "family_history_dependence": False,
    "history_substance_or_alcohol_misuse": False,
    "preadolescent_sexual_abuse_history": False,
    "depression": False,
    "other_psychological_disease": False,
    "benzodiazepine_coprescribed": False,
    "z_drug_coprescribed": False,
    "gabapentinoid_coprescribed": False,
}


def test_seventy_year_old_man_on_oxycodone_120_with_diazepam() -> None:
    # OME: oxycodone 40 mg x 2/day = 80 mg/day x 1.5 = 120 mg OME/day; diazepam is not an
    # opioid (not counted). 120 is not > 120: high-dose factor absent.
    # Present: male, older age (70 >= 65), benzodiazepine (diazepam) -> count 3.
    # Level: dose absent, count 3 -> moderate. Tier: brief-gp-intervention.
    a = assess(Patient(age=70, sex="male", prescriptions=(oxycodone_mr(40), DIAZEPAM)))
    assert a.scope.in_scope is True
    assert a.ome is not None
    assert a.ome.total_mg_per_day == Decimal(120)
    assert a.ome.complete
    assert [u.counted_for_ome for u in a.prescriptions] == [True, False]
    assert a.factor("high-dose").status is A
    assert a.factor("male-sex").status is P
    assert a.factor("older-age").status is P
    assert a.factor("benzodiazepine").status is P
    assert "diazepam" in a.factor("benzodiazepine").evidence
    assert a.factor("preadolescent-sexual-abuse").status is A  # male
    assert a.factor("depression").status is U
    assert a.factor("gabapentinoid").kind == "additional"
    assert a.factor("early-reordering").status is U  # no history given
    assert a.risk_level is not None
    assert a.risk_level.level == "moderate"
    assert a.risk_level.factor_count == 3
    # unknown as present: 8 unknown non-dose factors (unemployed, A&E, family history,
    # substance misuse, depression, other psychological, gabapentinoid, early re-ordering):
    # count 3 + 8 = 11, dose absent -> high; substance misuse present -> specialist-mdt.
    assert a.risk_level.level_if_unknown == "high"
    assert a.tier.tier == "brief-gp-intervention"
    assert a.tier.tier_if_unknown == "specialist-mdt"
    # any one unknown becoming present makes count 4 -> high -> pcn-service: each could raise
    assert set(a.unknowns_that_could_change) == set(a.unknown_factors)
    assert "depression" in a.risk_level.could_raise


def test_above_120_makes_the_dose_factor_present() -> None:
    # oxycodone 60 mg x 2 = 120 mg/day x 1.5 = 180 mg OME/day > 120: dose factor present.
    # count 3 (male, older age, benzodiazepine) with dose -> very-high -> specialist-mdt.
    a = assess(Patient(age=70, sex="male", prescriptions=(oxycodone_mr(60), DIAZEPAM)))
    assert a.ome is not None
    assert a.ome.total_mg_per_day == Decimal(180)
    assert a.factor("high-dose").status is P
    assert a.risk_level is not None
    assert a.risk_level.level == "very-high"
    assert a.tier.tier == "specialist-mdt"


def test_all_known_low_risk_patient_gets_a_letter() -> None:
    # codeine 30 mg x 4/day = 120 mg/day x 0.1 = 12 mg OME/day. Female, 40: no factor.
    # History: 3 codeine issues, first 120 days before as_of (> 91 days, >= 3 issues): long
    # term. Re-issues at 28-day intervals with 28-day supplies: 28 x 100 / 28 = 100% >= 75:
    # none early -> early re-ordering absent. A&E: stated false.
    as_of = dt.date(2026, 6, 1)
    history = tuple(
        IssueRecord(issue_date=as_of - dt.timedelta(days=d), drug="codeine", days_supply=28)
        for d in (120, 92, 64, 36, 8)
    )
    a = assess(
        Patient(
            age=40,
            sex="female",
            prescriptions=(CODEINE,),
            prescription_history=history,
            as_of=as_of,
            **ALL_FALSE,
        )
    )
    assert a.scope.in_scope is True
    assert a.scope.long_term_use_checked
    assert a.ome is not None
    assert a.ome.total_mg_per_day == Decimal(12)
    assert all(f.status is A for f in a.factors)
    assert a.unknown_factors == ()
    assert a.risk_level is not None
    assert (a.risk_level.level, a.risk_level.level_if_unknown) == ("low", "low")
    assert a.tier.tier == "letter"
    assert a.tier.tier_if_unknown == "letter"
    assert a.unknowns_that_could_change == ()
    assert any("livewellwithpain" in r for r in a.tier.resources)


def test_incomplete_ome_below_threshold_is_unknown_and_above_is_present() -> None:
    # oxycodone 20 mg x 2 x 1.5 = 60 mg OME/day plus methadone tablets (no
    # factor in the UK table): total incomplete, lower bound 60 <= 120 -> dose factor unknown.
    low = assess(Patient(age=50, prescriptions=(oxycodone_mr(20), METHADONE_TABLET)))
    assert low.ome is not None
    assert not low.ome.complete
    assert low.factor("high-dose").status is U
    assert "lower bound" in low.factor("high-dose").evidence
    # oxycodone 50 mg x 2 x 1.5 = 150 mg OME/day already above 120: present even incomplete
    high = assess(Patient(age=50, prescriptions=(oxycodone_mr(50), METHADONE_TABLET)))
    assert high.factor("high-dose").status is P
    assert "high-dose" in low.unknown_factors
    assert low.risk_level is not None
    assert "high-dose" in low.risk_level.could_raise


def test_out_of_scope_patients_get_an_explicit_reason() -> None:
    a = assess(Patient(age=60, cancer_pain=True, prescriptions=(oxycodone_mr(40),)))
    assert a.scope.in_scope is False
    assert a.scope.rule_id == "cancer-pain"
    assert "cancer" in a.scope.reason.lower()
    assert a.risk_level is None
    assert a.tier.tier == "out-of-scope"
    none = assess(Patient(age=60, prescriptions=(DIAZEPAM,)))
    assert none.scope.rule_id == "no-current-opioid"
    assert none.tier.tier == "out-of-scope"
    child = assess(Patient(age=17, prescriptions=(CODEINE,)))
    assert child.scope.rule_id == "under-18"


def test_ost_derived_from_methadone_oral_solution_unless_stated_false() -> None:
    ost = Prescription(
        drug="methadone", form="oral solution", strength="1 mg/mL", dose_quantity=30,
        dose_unit="mL", doses_per_day=1,
    )  # fmt: skip
    a = assess(Patient(age=40, prescriptions=(ost,)))
    assert a.scope.rule_id == "opioid-substitution-therapy"
    b = assess(Patient(age=40, prescriptions=(ost,), opioid_substitution_therapy=False))
    assert b.scope.in_scope is True


def test_short_history_is_not_long_term() -> None:
    # first issue 60 days before as_of: 60 <= 91 days -> not long-term
    as_of = dt.date(2026, 6, 1)
    history = tuple(
        IssueRecord(issue_date=as_of - dt.timedelta(days=d), drug="codeine") for d in (60, 30, 1)
    )
    a = assess(Patient(prescriptions=(CODEINE,), prescription_history=history, as_of=as_of))
    assert a.scope.rule_id == "not-long-term"
    assert a.tier.tier == "out-of-scope"


def test_early_reordering_and_ae_date() -> None:
    # 28-day supplies re-issued after 20 days: 20 x 100 / 28 = 71.4% < 75 -> early.
    # Issues at as_of - 100, -80, -60, -40 days: three re-issues, all within 182 days, all
    # early -> 3 >= 2 -> present. A&E 100 days before as_of (<= 365) -> present.
    as_of = dt.date(2026, 6, 1)
    history = tuple(
        IssueRecord(issue_date=as_of - dt.timedelta(days=d), drug="codeine", days_supply=28)
        for d in (100, 80, 60, 40)
    )
    a = assess(
        Patient(
            prescriptions=(CODEINE,),
            prescription_history=history,
            as_of=as_of,
            last_ae_attendance=as_of - dt.timedelta(days=100),
        )
    )
    assert a.factor("early-reordering").status is P
    assert "3 early re-issue(s) of 3" in a.factor("early-reordering").evidence
    assert a.factor("ae-attendance").status is P
    # one early re-issue only (others every 28 days): 1 < 2 -> absent
    history2 = tuple(
        IssueRecord(issue_date=as_of - dt.timedelta(days=d), drug="codeine", days_supply=28)
        for d in (100, 72, 52, 24)
    )
    b = assess(Patient(prescriptions=(CODEINE,), prescription_history=history2, as_of=as_of))
    assert b.factor("early-reordering").status is A


def test_woman_with_history_of_preadolescent_abuse() -> None:
    a = assess(
        Patient(
            sex="female",
            age=30,
            preadolescent_sexual_abuse_history=True,
            prescriptions=(CODEINE,),
        )
    )
    assert a.factor("preadolescent-sexual-abuse").status is P


def test_complex_needs_at_high_level_go_to_specialist_mdt() -> None:
    # oxycodone 50 mg x 2 x 1.5 = 150 > 120: dose present; count 1 (substance misuse) -> high;
    # complex needs (past substance/alcohol dependence) at high -> specialist-mdt.
    kwargs = {**ALL_FALSE, "history_substance_or_alcohol_misuse": True}
    a = assess(Patient(age=40, sex="female", prescriptions=(oxycodone_mr(50),), **kwargs))
    assert a.risk_level is not None
    assert a.risk_level.level == "high"
    assert a.tier.tier == "specialist-mdt"
    # the same without that history: count 0 with dose -> high -> pcn-service
    b = assess(Patient(age=40, sex="female", prescriptions=(oxycodone_mr(50),), **ALL_FALSE))
    assert b.tier.tier == "pcn-service"


def test_assessment_carries_its_basis() -> None:
    a = assess(Patient(age=70, sex="male", prescriptions=(oxycodone_mr(40),)))
    ids = [d.ruleset_id for d in a.decisions]
    for rid in ("scope", "risk-factors", "risk-level", "support-tier"):
        assert rid in ids
    assert a.versions["ruleset:risk-level"] == "1.1.1"
    assert a.versions["profile"] == "none"
    assert a.versions["table"].startswith("uk-opioids-aware")
    high = a.factor("high-dose")
    assert any("high_dose_mg_per_day=120" in line for line in high.trace)
    assert high.citations
    assert a.model_dump_json()  # serialisable


def test_long_gaps_and_one_day_supplies_are_not_errors() -> None:
    # 1-day supply re-issued after 3 years: 1095 x 100 / 1 = 109,500% (not early, not an error)
    as_of = dt.date(2026, 6, 1)
    history = (
        IssueRecord(issue_date=dt.date(2023, 6, 1), drug="codeine", days_supply=1),
        IssueRecord(issue_date=dt.date(2026, 5, 31), drug="codeine", days_supply=28),
        IssueRecord(issue_date=dt.date(2026, 6, 1), drug="codeine", days_supply=28),
    )
    a = assess(Patient(prescriptions=(CODEINE,), prescription_history=history, as_of=as_of))
    assert a.scope.in_scope is True  # 1096 days > 91, 3 issues
    # second re-issue: 1 day of 28 = 3.6% < 75 -> early; one early < 2 -> absent
    assert a.factor("early-reordering").status is A


def test_very_large_but_plausible_amounts_do_not_break_the_rulesets() -> None:
    # found by the deep property run: fentanyl injection 11.2 mg/mL, 10 mL every 4 h =
    # 112 mg x 6 = 672 mg/day (under the 5 g/day plausibility limit) gives an OME far above
    # 100,000 mg/day; the rulesets' OME inputs accept up to 10,000,000
    rx = Prescription(
        drug="fentanyl", form="injection", strength="11.2 mg/1 mL", dose_quantity=10,
        dose_unit="mL", interval_hours=4,
    )  # fmt: skip
    a = assess(Patient(age=60, prescriptions=(rx,)))
    assert a.ome is not None
    assert a.ome.total_mg_per_day > 100_000
    assert a.factor("high-dose").status is P


def test_extreme_but_valid_dates_are_not_errors() -> None:
    # 1900 to 9999: 2,958,463 days; a 1-day supply re-issued after that long is 295,846,300%
    history = (
        IssueRecord(issue_date=dt.date(1900, 1, 1), drug="codeine", days_supply=1),
        IssueRecord(issue_date=dt.date(9999, 1, 1), drug="codeine", days_supply=1),
    )
    a = assess(
        Patient(
            prescriptions=(CODEINE,),
            prescription_history=history,
            as_of=dt.date(9999, 12, 31),
            last_ae_attendance=dt.date(1900, 1, 1),
        )
    )
    assert a.scope.rule_id == "not-long-term"  # only 2 issues
    assert a.factor("ae-attendance").status is A
