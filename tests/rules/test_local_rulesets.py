"""Issue 23: whole local rulesets on the typed patient facts, and advice numbers.

The trial's change (c) - a group programme (like I-WOTCH) for moderate-risk patients on strong
opioids for over three months - is ``examples/local-rules/group-programme.toml``: a local
ruleset (``runs_for = "every-patient"``) reading the patient facts of
``inputs/patient-facts.toml``. Expected decisions are worked by hand in the comments.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opioidcds import (
    Assessment,
    IssueRecord,
    Knowledge,
    Patient,
    Prescription,
    RulesetLoadError,
    assess,
    lint_path,
    load_knowledge,
    load_profile,
    load_ruleset,
    taper_plan_for_patient,
)
from opioidcds._decide.patient_facts import LocalResult, opioid_strength, strength_of
from opioidcds._decide.rules import Finding, LintReport
from opioidcds._decide.rules.loader import bundled_patient_facts
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._measure.ome import calculate_ome
from opioidcds.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "examples" / "local-rules"
PROGRAMME = LOCAL / "group-programme.toml"
RULES = knowledge_dir("rules")
AS_OF = dt.date(2026, 11, 1)


def _line_of(path: Path, text: str, nth: int = 1) -> int:
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip() == text]
    return hits[nth - 1]


def _codes(report: LintReport, code: str) -> list[Finding]:
    return [f for f in report.findings if f.code == code]


def _rx(
    drug: str, strength: str, per_day: int = 2, form: str = "modified-release tablet"
) -> Prescription:
    return Prescription(
        drug=drug,
        form=form,
        strength=strength,
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=per_day,
    )


def _patient(
    rx: Prescription, *, first_issue: dt.date | None = dt.date(2026, 3, 1), **more: object
) -> Patient:
    """Two risk factors (unemployed, depression), every other factor recorded absent."""
    history = None
    if first_issue is not None:
        history = tuple(
            IssueRecord(issue_date=first_issue + dt.timedelta(days=28 * k), drug=rx.drug)
            for k in range(((AS_OF - first_issue).days // 28) + 1)
        )
    fields: dict[str, object] = {
        "age": 52,
        "sex": "female",
        "unemployed": True,
        "depression": True,
        "ae_attendance_recent": False,
        "family_history_dependence": False,
        "history_substance_or_alcohol_misuse": False,
        "preadolescent_sexual_abuse_history": False,
        "other_psychological_disease": False,
        "medication_list_complete": True,
        "prescriptions": (rx,),
        "prescription_history": history,
        "as_of": AS_OF,
        **more,
    }
    return Patient(**fields)


@pytest.fixture(scope="module")
def local() -> Knowledge:
    return load_knowledge(local_rules=LOCAL)


def _programme(a: Assessment) -> LocalResult:
    (result,) = a.local
    assert result.ruleset_id == "exampleshire-group-programme"
    return result


# --- the typed catalogue -----------------------------------------------------------------------


def test_the_catalogue_types_match_the_bundled_rulesets() -> None:
    """Enum facts take exactly the values of the bundled outputs they come from."""
    facts = bundled_patient_facts()
    level = load_ruleset(RULES / "risk-level.toml")
    tier = load_ruleset(RULES / "support-tier.toml")
    assert facts.facts["risk_level"].values == level.values("level")
    assert facts.facts["risk_level_if_unknown"].values == level.values("level")
    assert facts.facts["tier"].values == tier.values("tier")
    factors = load_ruleset(RULES / "risk-factors.toml")
    ids = frozenset(r.id for r in factors.rules)
    assert facts.fact("factor_high_dose", ids) is not None
    assert facts.fact("factor_no_such_factor", ids) is None


def test_every_fact_is_derived_for_every_patient(local: Knowledge) -> None:
    """derive_facts supplies exactly the catalogue: a listed fact nothing derives is a defect."""
    from opioidcds._decide.patient_facts import derive_facts  # noqa: PLC0415

    facts = derive_facts(
        _patient(_rx("morphine", "30 mg")),
        ome=None,
        current_opioid=False,
        opioid_use_days=None,
        early_reorders_at_least=None,
        sedative_medicines_at_least=0,
        in_scope=None,
        factors={"high-dose": None},
        factor_count=None,
        risk_level=None,
        risk_level_if_unknown=None,
        tier=None,
    )
    catalogue = bundled_patient_facts()
    assert set(facts) - {"factor_high_dose"} == set(catalogue.facts)


def test_strong_and_weak_opioids() -> None:
    table = opioid_strength()
    assert {"morphine", "oxycodone", "fentanyl", "buprenorphine", "tramadol"} <= table.strong
    assert {"codeine", "dihydrocodeine"} <= table.weak
    morphine = calculate_ome([_rx("morphine", "30 mg")])
    codeine = calculate_ome([_rx("codeine", "30 mg", 4, "tablet")])
    both = calculate_ome([_rx("morphine", "30 mg"), _rx("codeine", "30 mg", 4, "tablet")])
    assert strength_of(morphine) == (True, False)
    assert strength_of(codeine) == (False, True)
    assert strength_of(both) == (True, True)
    assert strength_of(None) == (False, False)  # no current opioid


def test_an_unresolved_medicine_leaves_strength_unknown() -> None:
    """A medicine not recognised is counted as a possible opioid: never read as weak."""
    unknown = calculate_ome([_rx("zzunknowndrug", "10 mg", 1, "tablet")])
    assert strength_of(unknown) == (None, None)


# --- trial change (c): the group programme ---------------------------------------------------


def test_the_group_programme_is_offered_at_moderate_risk_on_strong_opioids(
    local: Knowledge,
) -> None:
    # morphine MR 30 mg twice a day: 30 x 2 = 60 mg OME/day (factor 1), not above 120: not high
    # dose; unemployed + depression = 2 factors -> moderate (2 or 3 factors, risk-level.toml);
    # morphine is a strong opioid; first issue 2026-03-01 to 2026-11-01 = 245 days > 90
    a = assess(_patient(_rx("morphine", "30 mg")), knowledge=local)
    assert a.risk_level is not None
    assert a.risk_level.level == "moderate"
    result = _programme(a)
    assert [o.rule_id for o in result.fired] == ["group-programme"]
    assert "Programme: Group programme (like I-WOTCH)" in result.fired[0].outcome
    assert a.tier.tier == "brief-gp-intervention"  # the bundled tier is unchanged
    text = a.explain()
    assert "Local ruleset exampleshire group programme, version 0.1.1" in text
    assert "Group programme (like I-WOTCH)" in text
    assert a.versions["local-ruleset:exampleshire-group-programme"].startswith("0.1.1")
    assert any(d.ruleset_id == "exampleshire-group-programme" for d in a.decisions)
    assert any(s.id == "exampleshire-group-programme" for s in a.provenance.sources("ruleset"))


def test_codeine_only_is_not_offered(local: Knowledge) -> None:
    # codeine 30 mg four times a day: 120 mg/day x 0.15 = 18 mg OME/day; codeine is weak
    a = assess(_patient(_rx("codeine", "30 mg", 4, "tablet")), knowledge=local)
    assert a.risk_level is not None
    assert a.risk_level.level == "moderate"
    assert [o.rule_id for o in _programme(a).fired] == ["not-offered"]


def test_exactly_ninety_days_is_not_over_three_months(local: Knowledge) -> None:
    # first issue 2026-08-03: 2026-11-01 - 2026-08-03 = 90 days, and 90 > 90 is false; the
    # scope ruleset needs over 90 days of use too, so the patient is out of scope
    a = assess(_patient(_rx("morphine", "30 mg"), first_issue=dt.date(2026, 8, 3)), knowledge=local)
    assert [o.rule_id for o in _programme(a).fired] == ["not-offered"]


def test_without_a_history_the_programme_cannot_be_decided(local: Knowledge) -> None:
    a = assess(_patient(_rx("morphine", "30 mg"), first_issue=None), knowledge=local)
    result = _programme(a)
    assert result.fired == ()
    assert result.cannot_evaluate == ("opioid_use_days",)
    # people read the input's label (examples/local-rules/group-programme.toml), not its name
    assert result.cannot_evaluate_labels == (
        "the opioid prescription history (how long opioids have been taken)",
    )
    assert (
        "cannot evaluate: not known: the opioid prescription history (how long opioids have "
        "been taken)" in a.explain()
    )
    assert "opioid_use_days" not in a.explain()


def test_high_risk_is_not_offered_the_programme(local: Knowledge) -> None:
    # a third and fourth factor (A&E attendance, other psychological disease): 4 factors -> high
    a = assess(
        _patient(
            _rx("morphine", "30 mg"), ae_attendance_recent=True, other_psychological_disease=True
        ),
        knowledge=local,
    )
    assert a.risk_level is not None
    assert a.risk_level.level == "high"
    assert [o.rule_id for o in _programme(a).fired] == ["not-offered"]


def test_all_three_trial_changes_together(local: Knowledge) -> None:
    """(a) the 90 mg profile moves a 100 mg patient to high risk: no programme then."""
    profile = load_profile(LOCAL / "high-dose-90.toml")
    # morphine MR 50 mg twice a day: 100 mg OME/day; 100 > 90 (profile) but not > 120
    patient = _patient(_rx("morphine", "50 mg"))
    bundled = assess(patient, knowledge=local)
    assert bundled.risk_level is not None
    assert bundled.risk_level.level == "moderate"
    assert [o.rule_id for o in _programme(bundled).fired] == ["group-programme"]
    profiled = assess(patient, knowledge=local, profile=profile)
    assert profiled.factor("high-dose").status == "present"
    assert profiled.risk_level is not None
    assert profiled.risk_level.level == "high"
    assert [o.rule_id for o in _programme(profiled).fired] == ["not-offered"]


def test_assess_cli_shows_the_local_ruleset() -> None:
    result = CliRunner().invoke(
        app,
        [
            "assess",
            str(ROOT / "examples" / "patient-group-programme.json"),
            "--rules",
            str(LOCAL),
            "--profile",
            str(LOCAL / "high-dose-90.toml"),
        ],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(
        "Local profile exampleshire 90, version 0.1.1 in force: high dose above"
    )
    assert "a local ruleset run for every patient (group-programme.toml)" in lines[1]
    assert any(
        line.startswith("Local ruleset exampleshire group programme, version 0.1.1")
        and "Group programme (like I-WOTCH)" in line
        for line in lines
    )
    js = CliRunner().invoke(
        app,
        [
            "assess",
            str(ROOT / "examples" / "patient-group-programme.json"),
            "--rules",
            str(LOCAL),
            "--json",
        ],
    )
    assert json.loads(js.output)["local"][0]["fired"][0]["rule_id"] == "group-programme"


def test_taper_names_the_local_rules(local: Knowledge, tmp_path: Path) -> None:
    plan = taper_plan_for_patient(
        _patient(_rx("morphine", "30 mg")), start=dt.date(2026, 11, 2), scope_knowledge=local
    )
    assert plan.local_rules
    assert plan.local_rules[0].startswith("Local rules in force:")
    assert plan.explain().startswith("Local rules in force:")
    handout = tmp_path / "h.html"
    result = CliRunner().invoke(
        app,
        [
            "taper",
            str(ROOT / "examples" / "taper-example.json"),
            "--rules",
            str(LOCAL),
            "--html",
            str(handout),
        ],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "Local rules in force: exampleshire gabapentinoid, version 0.1.2"
    )
    assert "Local rules in force: exampleshire gabapentinoid, version 0.1.2" in handout.read_text()


# --- the checker ---------------------------------------------------------------------------------


def _copy_programme(tmp_path: Path, old: str, new: str, count: int = -1) -> Path:
    folder = tmp_path / "local"
    folder.mkdir()
    text = PROGRAMME.read_text()
    assert old in text
    target = folder / "group-programme.toml"
    target.write_text(text.replace(old, new, count))
    return target


def test_a_fact_nothing_supplies_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    target = _copy_programme(tmp_path, "strong_opioid", "strong_opioid_recorded")
    found = _codes(lint_path(target.parent), "unsupplied-input")
    assert [(f.file, f.line, f.rule_id) for f in found] == [
        (str(target), _line_of(target, "[[rules]]", 1), "group-programme"),
        (str(target), _line_of(target, "[[rules]]", 2), "not-offered"),
    ]
    assert all("'strong_opioid_recorded'" in f.message and f.severity == "error" for f in found)
    with pytest.raises(RulesetLoadError, match="strong_opioid_recorded"):
        load_knowledge(local_rules=target.parent)


def test_a_fact_declared_with_fewer_values_is_an_error(tmp_path: Path) -> None:
    target = _copy_programme(
        tmp_path,
        'values = ["low", "moderate", "high", "very-high"]',
        'values = ["low", "moderate", "high"]',
    )
    target.write_text(target.read_text().replace(', very-high = "Very high"', ""))
    found = _codes(lint_path(target.parent), "unsupplied-input")
    assert found
    assert all("missing 'very-high'" in f.message for f in found)


def test_a_fact_declared_with_narrower_bounds_is_an_error(tmp_path: Path) -> None:
    """Days of use may be 0: a declared minimum of 1 would refuse such a patient at run time."""
    target = _copy_programme(tmp_path, 'unit = "days"\nmin = 0\n', 'unit = "days"\nmin = 1\n', 1)
    found = _codes(lint_path(target.parent), "unsupplied-input")
    assert found
    assert all("declares a minimum the fact may be below" in f.message for f in found)


def test_a_local_ruleset_must_say_when_it_runs(tmp_path: Path) -> None:
    target = _copy_programme(tmp_path, 'runs_for = "every-patient"\n', "")
    with pytest.raises(RulesetLoadError, match="runs_for") as info:
        load_knowledge(local_rules=target.parent)
    (problem,) = info.value.problems
    assert problem.line == _line_of(target, 'id = "exampleshire-group-programme"')


def test_advice_text_that_disagrees_with_its_parameter_is_an_error(tmp_path: Path) -> None:
    """Advice saying 'more than 120 days' while the rule compares with 90 days."""
    target = _copy_programme(
        tmp_path,
        '(3 group days, then one-to-one follow-up)."',
        '(for people on strong opioids for more than 120 days)."',
    )
    (found,) = _codes(lint_path(target.parent), "advice-number")
    assert (found.file, found.line, found.rule_id) == (
        str(target),
        _line_of(target, "[[rules]]", 1),
        "group-programme",
    )
    assert "'120 days'" in found.message
    assert "90 days" in found.message
    assert found.severity == "error"
    with pytest.raises(RulesetLoadError, match="advice text says '120 days'"):
        load_ruleset(target)


def test_advice_text_a_profile_contradicts_is_an_error(tmp_path: Path) -> None:
    """The discharge alert used to say '(default 7 days)': the trust profile sets 5."""
    shutil.copy(RULES / "discharge.toml", tmp_path / "discharge.toml")
    ruleset = tmp_path / "discharge.toml"
    text = ruleset.read_text()
    old = 'summary = "Opioid started in hospital is supplied for more than the discharge maximum."'
    assert old in text
    ruleset.write_text(
        text.replace(
            old,
            'summary = "Opioid started in hospital is supplied for more than the discharge '
            'maximum (default 7 days)."',
        )
    )
    profile = tmp_path / "trust.toml"
    shutil.copy(RULES / "profiles" / "example-acute-trust.toml", profile)
    # the trust profile also names risk-factors: drop that section (not under test here)
    ptext = profile.read_text()
    ptext = re.sub(r"\[rulesets\.risk-factors\].*?(?=\n\[\[examples\]\]|\Z)", "", ptext, flags=re.S)
    ptext = re.sub(
        r'\[\[examples\]\]\nruleset = "risk-factors".*?(?=\n\[\[|\Z)', "", ptext, flags=re.S
    )
    profile.write_text(ptext)
    report = lint_path(tmp_path)
    (found,) = _codes(report, "advice-number")
    assert (found.file, found.rule_id) == (str(ruleset), "supply-over-limit-new-opioid")
    assert found.line == _line_of(ruleset, 'id = "supply-over-limit-new-opioid"') - 1
    assert "'7 days'" in found.message
    assert "5 days" in found.message
    assert "with profile 'example-acute-trust'" in found.message


def test_the_bundled_rules_and_the_local_example_lint_clean() -> None:
    for path in (RULES, LOCAL):
        report = lint_path(path)
        assert not report.errors, report.errors
        assert not _codes(report, "advice-number")
