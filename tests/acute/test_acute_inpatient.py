"""check_inpatient: IV morphine boluses beyond 48 hours (boundaries 47 / 48 / 49 hours)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from opioidcds import InpatientCheck, InvalidInputError, check_episode, check_inpatient
from opioidcds._knowledge.paths import knowledge_dir

from .acute_helpers import T0, bolus, inpatient

IV = "iv-morphine-bolus-beyond-limit"


def fired(check: InpatientCheck) -> bool:
    return any(a.rule_id == IV for a in check.alerts)


@pytest.mark.parametrize(
    ("last", "alert"),
    [(47, False), (48, False), (49, True), (0, False)],
)
def test_span_boundary(last: int, alert: bool) -> None:
    """First bolus at 0 h, latest at ``last`` h; 48 h exactly is not *beyond* 48 hours."""
    check = check_inpatient(inpatient(bolus(0), bolus(last), at_hours=last, active=False))
    assert fired(check) is alert
    assert check.complete
    assert check.inputs["iv_morphine_bolus_span_hours"] == str(last)


def test_one_second_beyond_48_hours_fires() -> None:
    """48 h + 1 s = 48.000277... h, rounded up to 48.000278 > 48."""
    admins = [bolus(0), {**bolus(48), "start": T0 + dt.timedelta(hours=48, seconds=1)}]
    check = check_inpatient(inpatient(*admins, at_hours=49))
    assert check.inputs["iv_morphine_bolus_span_hours"] == "48.000278"
    assert fired(check)


def test_one_second_short_of_48_hours_does_not_fire() -> None:
    """48 h - 1 s = 47.99972222... h, rounded up to 47.999723 <= 48."""
    admins = [bolus(0), {**bolus(47), "start": T0 + dt.timedelta(hours=48, seconds=-1)}]
    check = check_inpatient(inpatient(*admins, at_hours=49))
    assert check.inputs["iv_morphine_bolus_span_hours"] == "47.999723"
    assert not fired(check)


@pytest.mark.parametrize(("at", "alert"), [(47, False), (48, False), (49, True)])
def test_active_order_boundary(at: int, alert: bool) -> None:
    """One bolus at 0 h, an order still active when assessed ``at`` hours later."""
    check = check_inpatient(inpatient(bolus(0), at_hours=at, active=True))
    assert fired(check) is alert
    assert check.inputs["hours_since_first_iv_morphine_bolus"] == str(at)


def test_inactive_order_after_limit_does_not_fire() -> None:
    check = check_inpatient(inpatient(bolus(0), bolus(10), at_hours=72, active=False))
    assert not fired(check)
    assert check.complete


def test_order_status_unknown_after_limit_cannot_evaluate() -> None:
    check = check_inpatient(inpatient(bolus(0), bolus(10), at_hours=72, active=None))
    assert not fired(check)
    [rule] = check.cannot_evaluate
    assert rule.missing == ("iv_morphine_bolus_order_active",)


def test_order_status_unknown_but_bolus_given_beyond_limit_fires() -> None:
    check = check_inpatient(inpatient(bolus(0), bolus(50), at_hours=50, active=None))
    assert fired(check)


def test_administrations_not_supplied_cannot_evaluate() -> None:
    check = check_inpatient(inpatient(at_hours=10, parenteral_administrations=None))
    assert not check.complete
    assert check.cannot_evaluate[0].missing[0] == "parenteral_administrations"
    assert check.iv_morphine_bolus_count is None


def test_no_boluses_no_alert() -> None:
    check = check_inpatient(inpatient(at_hours=100, active=None))
    assert not fired(check)
    assert check.complete
    assert check.iv_morphine_bolus_count == 0


@pytest.mark.parametrize(
    "other",
    [
        {"drug": "morphine", "route": "subcutaneous", "kind": "bolus"},
        {"drug": "morphine", "route": "intravenous", "kind": "pca"},
        {"drug": "morphine", "route": "intravenous", "kind": "infusion"},
        {"drug": "diamorphine", "route": "intravenous", "kind": "bolus"},
        {"drug": "oxycodone", "route": "intravenous", "kind": "bolus"},
    ],
)
def test_only_iv_morphine_boluses_count(other: dict[str, str]) -> None:
    late = {**other, "start": T0 + dt.timedelta(hours=60)}
    check = check_inpatient(inpatient(bolus(0), late, at_hours=60))
    assert not fired(check)
    assert check.iv_morphine_bolus_count == 1


def test_morphine_salt_names_count() -> None:
    check = check_inpatient(inpatient(bolus(0), bolus(49, drug="morphine sulfate"), at_hours=49))
    assert fired(check)


def test_unrecognised_drug_is_an_error_without_the_name() -> None:
    with pytest.raises(InvalidInputError) as info:
        check_inpatient(inpatient(bolus(0, drug="Qwertyphine"), at_hours=1))
    assert info.value.field == "parenteral_administrations[0].drug"
    assert "Qwertyphine" not in str(info.value)


def test_time_zones_are_compared_as_instants() -> None:
    """08:00 UTC and 09:00+01:00 are the same instant; across a clock change the hours are
    real elapsed hours: 2026-03-28 12:00 GMT to 2026-03-30 12:00 BST is 47 hours."""
    gmt = dt.timezone(dt.timedelta(0))
    bst = dt.timezone(dt.timedelta(hours=1))
    first = dt.datetime(2026, 3, 28, 12, 0, tzinfo=gmt)
    last = dt.datetime(2026, 3, 30, 12, 0, tzinfo=bst)
    admins = [
        {"drug": "morphine", "route": "intravenous", "kind": "bolus", "start": first},
        {"drug": "morphine", "route": "intravenous", "kind": "bolus", "start": last},
    ]
    check = check_inpatient(
        inpatient(*admins, at_hours=0, assessment_time=last, iv_morphine_bolus_order_active=False)
    )
    assert check.inputs["iv_morphine_bolus_span_hours"] == "47"
    assert not fired(check)


def test_profile_changes_the_limit(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(
        'kind = "profile"\nid = "t"\nversion = "1.0.0"\neffective_date = 2026-11-22\n'
        'owner = "test"\nreviewer = "test"\ndescription = "24 h"\n'
        '[citations]\nt = "test"\n'
        "[rulesets.inpatient.parameters.max_iv_morphine_bolus_hours]\n"
        'value = 24\ncitations = ["t"]\nreason = "test"\n',
        encoding="utf-8",
    )
    check = check_inpatient(inpatient(bolus(0), bolus(25), at_hours=25), profile=profile)
    assert fired(check)
    assert not fired(check_inpatient(inpatient(bolus(0), bolus(25), at_hours=25)))


def test_bundled_profile_keeps_48_hours() -> None:
    path = knowledge_dir("rules") / "profiles" / "example-acute-trust.toml"
    check = check_inpatient(inpatient(bolus(0), bolus(48), at_hours=48), profile=path)
    assert not fired(check)
    assert check.profile_id == "example-acute-trust"


def test_backends_agree() -> None:
    for episode in (
        inpatient(bolus(0), bolus(49), at_hours=49),
        inpatient(bolus(0), bolus(48), at_hours=48),
        inpatient(bolus(0), at_hours=72, active=None),
    ):
        ref = check_inpatient(episode)
        dur = check_inpatient(episode, backend="durable")
        assert ref.decisions.fired == dur.decisions.fired
        assert ref.unknown_inputs == dur.unknown_inputs


def test_check_episode_dispatches() -> None:
    assert isinstance(check_episode(inpatient(bolus(0), at_hours=1)), InpatientCheck)


def test_hours_exact_decimal() -> None:
    check = check_inpatient(inpatient(bolus(0), bolus(1.5), at_hours=2))
    # 1 h 30 min = 1.5 h
    assert check.inputs["iv_morphine_bolus_span_hours"] == "1.5"
