"""check_discharge: each rule, boundaries either side of each limit, unknowns, profiles."""

from __future__ import annotations

from decimal import Decimal

import pytest

from opioidcds import (
    CareSetting,
    DischargeCheck,
    InvalidInputError,
    check_discharge,
    check_episode,
    load_profile,
)
from opioidcds._decide.hospital import discharge_ruleset
from opioidcds._knowledge.paths import knowledge_dir

from .acute_helpers import METHADONE, MORPHINE_IR, OXY_IR, OXY_MR, PREGABALIN, discharge

SUPPLY = "supply-over-limit-new-opioid"
MR = "modified-release-new-opioid"
GABA = "opioid-with-gabapentinoid"
WEAN = "new-opioid-no-weaning-plan-or-gp-communication"
HIGH = "high-dose-at-discharge"
PROFILE = knowledge_dir("rules") / "profiles" / "example-acute-trust.toml"


def fired(check: DischargeCheck) -> set[str]:
    return {a.rule_id for a in check.alerts}


def test_quiet_episode_has_no_alerts_and_is_complete() -> None:
    check = check_discharge(discharge((OXY_IR, 5)))
    assert fired(check) == set()
    assert check.complete
    assert check.cannot_evaluate == ()
    # 5 mg x 4 a day = 20 mg x 1.5 = 30 mg OME/day
    assert check.ome.total_mg_per_day == Decimal(30)
    assert check.ruleset_id == "discharge"
    assert check.ruleset_version == discharge_ruleset().version
    assert check.profile_id is None
    assert check.care_setting is CareSetting.DISCHARGE


@pytest.mark.parametrize(("days", "alert"), [(7, False), (8, True), (1, False), (28, True)])
def test_days_supply_boundary(days: int, alert: bool) -> None:
    """7 days is the maximum (not over it); 8 is over."""
    check = check_discharge(discharge((OXY_IR, days)))
    assert (SUPPLY in fired(check)) is alert
    assert check.complete


def test_days_supply_only_for_new_opioids() -> None:
    check = check_discharge(discharge((OXY_IR, 28), opioid_before_admission=True))
    assert SUPPLY not in fired(check)
    assert check.complete


def test_days_supply_of_non_opioid_does_not_count() -> None:
    check = check_discharge(discharge((OXY_IR, 7), (PREGABALIN, 28)))
    assert SUPPLY not in fired(check)
    assert GABA in fired(check)


def test_longest_supply_over_several_opioids() -> None:
    check = check_discharge(discharge((OXY_IR, 3), (OXY_MR, 10)))
    assert SUPPLY in fired(check)
    assert check.inputs["longest_days_supply"] == "10"


def test_missing_days_supply_cannot_evaluate_and_names_field() -> None:
    check = check_discharge(discharge((OXY_IR, 5), (MORPHINE_IR, None)))
    assert SUPPLY not in fired(check)
    assert not check.complete
    [rule] = [r for r in check.cannot_evaluate if r.rule_id == SUPPLY]
    assert rule.unknown_inputs == ("longest_days_supply",)
    assert rule.missing == ("discharge_prescriptions[].days_supply",)


def test_missing_days_supply_does_not_hide_a_known_excess() -> None:
    check = check_discharge(discharge((OXY_IR, 14), (MORPHINE_IR, None)))
    assert SUPPLY in fired(check)


def test_modified_release_from_forms_vocabulary() -> None:
    check = check_discharge(discharge((OXY_MR, 5)))
    assert fired(check) == {MR}
    assert check.prescriptions[0].modified_release is True
    assert check.prescriptions[0].modified_release_source == "forms vocabulary"


def test_modified_release_from_dmd_catalogue() -> None:
    rx = {
        "dmd_code": "36129511000001101",
        "dose_quantity": 1,
        "dose_unit": "tablet",
        "doses_per_day": 2,
    }  # Oxycodone 10mg modified-release tablets (dm+d VMP)
    check = check_discharge(discharge((rx, 5)))
    assert fired(check) == {MR}
    assert check.prescriptions[0].modified_release_source == "dm+d catalogue"


def test_immediate_release_from_dmd_catalogue() -> None:
    rx = {
        "product_name": "Oxycodone 5mg capsules",
        "dose_quantity": 1,
        "dose_unit": "capsule",
        "doses_per_day": 4,
    }
    check = check_discharge(discharge((rx, 5)))
    assert fired(check) == set()
    assert check.prescriptions[0].modified_release is False


def test_modified_release_unknown_when_form_not_derivable() -> None:
    """A route without a form: release cannot be derived, so the rule cannot be evaluated."""
    rx = {
        "drug": "oxycodone",
        "route": "oral",
        "dose_quantity": 5,
        "dose_unit": "mg",
        "doses_per_day": 4,
    }
    check = check_discharge(discharge((rx, 5)))
    assert check.prescriptions[0].modified_release is None
    assert MR in {r.rule_id for r in check.cannot_evaluate}


def test_modified_release_only_for_new_opioids() -> None:
    check = check_discharge(discharge((OXY_MR, 5), opioid_before_admission=True))
    assert fired(check) == set()


def test_gabapentinoid_from_other_medicines() -> None:
    check = check_discharge(discharge((OXY_IR, 5), other_medicines=["Pregabalin 75mg capsules"]))
    assert fired(check) == {GABA}


def test_gabapentinoid_applies_to_established_patients() -> None:
    check = check_discharge(
        discharge(
            (OXY_IR, 5), other_medicines=["Gabapentin 300mg capsules"], opioid_before_admission=True
        )
    )
    assert fired(check) == {GABA}


def test_gabapentinoid_product_name_not_in_opioid_catalogue_is_classified() -> None:
    rx = {
        "product_name": "Pregabalin 75mg capsules",
        "dose_quantity": 1,
        "dose_unit": "capsule",
        "doses_per_day": 2,
    }
    check = check_discharge(discharge((OXY_IR, 5), (rx, 28)))
    assert fired(check) == {GABA}
    assert check.prescriptions[1].opioid is False


def test_gabapentinoid_without_opioid_does_not_fire() -> None:
    check = check_discharge(discharge((PREGABALIN, 28)))
    assert fired(check) == set()
    assert check.inputs["opioid_at_discharge"] is False


def test_other_medicines_not_recorded_cannot_evaluate() -> None:
    # the other medicines decide the gabapentinoid, benzodiazepine and z-drug rules (issue 15)
    check = check_discharge(discharge((OXY_IR, 5), other_medicines=None))
    assert [(r.rule_id, r.missing) for r in check.cannot_evaluate] == [
        (GABA, ("other_medicines",)),
        ("opioid-with-benzodiazepine", ("other_medicines",)),
        ("opioid-with-z-drug", ("other_medicines",)),
    ]


@pytest.mark.parametrize(
    ("wean", "gp", "outcome"),
    [
        (True, True, "not_fired"),
        (False, True, "fired"),
        (True, False, "fired"),
        (False, False, "fired"),
        (None, True, "cannot_evaluate"),
        (True, None, "cannot_evaluate"),
        (False, None, "fired"),
    ],
)
def test_weaning_plan_and_gp_communication(
    wean: bool | None, gp: bool | None, outcome: str
) -> None:
    check = check_discharge(
        discharge((OXY_IR, 5), weaning_plan_recorded=wean, gp_communication_recorded=gp)
    )
    assert (
        check.decisions.decisions[[d.rule_id for d in check.decisions.decisions].index(WEAN)].status
        == outcome
    )


def test_opioid_naive_unknown_cannot_evaluate_new_opioid_rules() -> None:
    check = check_discharge(discharge((OXY_MR, 14), opioid_before_admission=None))
    unevaluated = {r.rule_id: r.missing for r in check.cannot_evaluate}
    assert unevaluated == {
        SUPPLY: ("opioid_before_admission",),
        MR: ("opioid_before_admission",),
    }  # WEAN is decided (false): plan and GP communication are both recorded
    assert fired(check) == set()


def test_high_dose_boundary() -> None:
    """Above 120 mg OME/day. Morphine 10 mg tablets x 4 a day x factor 1:
    3 tablets -> 30 x 4 = 120 (not above); 4 tablets -> 40 x 4 = 160 (above)."""
    at = check_discharge(discharge(({**MORPHINE_IR, "dose_quantity": 3}, 5)))
    assert at.ome.total_mg_per_day == Decimal(120)
    assert HIGH not in fired(at)
    over = check_discharge(discharge(({**MORPHINE_IR, "dose_quantity": 4}, 5)))
    assert over.ome.total_mg_per_day == Decimal(160)
    assert HIGH in fired(over)


def test_high_dose_just_above() -> None:
    """A dose given as a mass: morphine 30.25 mg x 4 a day = 121 mg x factor 1 = 121 > 120."""
    rx = {
        "drug": "morphine",
        "form": "tablet",
        "dose_quantity": "30.25",
        "dose_unit": "mg",
        "doses_per_day": 4,
    }
    check = check_discharge(discharge((rx, 5)))
    assert check.ome.total_mg_per_day == Decimal(121)
    assert HIGH in fired(check)


def test_incomplete_ome_fails_closed_below_threshold() -> None:
    """Methadone has no UK factor: the total is a lower bound (30), so 'cannot evaluate'."""
    check = check_discharge(discharge((OXY_IR, 5), (METHADONE, 5)))
    assert not check.ome.complete
    assert check.inputs["total_ome_mg_per_day"] is None
    assert check.inputs["ome_lower_bound_mg_per_day"] == "30.0"
    [rule] = [r for r in check.cannot_evaluate if r.rule_id == HIGH]
    assert rule.missing == ("discharge_prescriptions (an opioid not convertible to OME)",)


def test_incomplete_ome_above_threshold_still_fires() -> None:
    """Lower bound 160 (morphine 40 mg x 4) > 120 decides although methadone is unconverted."""
    check = check_discharge(discharge(({**MORPHINE_IR, "dose_quantity": 4}, 5), (METHADONE, 5)))
    assert HIGH in fired(check)


def test_unrecognised_medicine_is_not_assumed_non_opioid() -> None:
    rx = {
        "drug": "zorblaxin",
        "form": "tablet",
        "strength": "5 mg",
        "dose_quantity": 1,
        "dose_unit": "tablet",
        "doses_per_day": 2,
    }
    check = check_discharge(discharge((rx, 14)))
    assert check.prescriptions[0].opioid is None
    assert check.inputs["opioid_at_discharge"] is None
    assert fired(check) == set()
    assert {r.rule_id for r in check.cannot_evaluate} >= {SUPPLY, HIGH}


def test_ome_item_indices_refer_to_the_discharge_list() -> None:
    check = check_discharge(discharge((PREGABALIN, 28), (OXY_IR, 5)))
    assert [i.prescription_index for i in check.ome.items] == [1]


def test_profile_changes_limits() -> None:
    """Example trust: 5 days, high dose above 90. 6 days fires; 5 does not.
    Morphine 25 mg x 4 a day = 100 mg x factor 1 = 100 mg/day: above 90, not above 120."""
    profile = load_profile(PROFILE)
    six = check_discharge(discharge((OXY_IR, 6)), profile=profile)
    assert SUPPLY in fired(six)
    assert six.profile_id == "example-acute-trust"
    five = check_discharge(discharge((OXY_IR, 5)), profile=PROFILE)
    assert SUPPLY not in fired(five)
    rx = {
        "drug": "morphine",
        "form": "tablet",
        "dose_quantity": 25,
        "dose_unit": "mg",
        "doses_per_day": 4,
    }
    assert HIGH in fired(check_discharge(discharge((rx, 5)), profile=profile))
    assert HIGH not in fired(check_discharge(discharge((rx, 5))))


def test_backends_agree_on_worked_example() -> None:
    episode = discharge((OXY_MR, 14), other_medicines=["pregabalin"], weaning_plan_recorded=False)
    ref = check_discharge(episode)
    dur = check_discharge(episode, backend="durable")
    assert fired(ref) == fired(dur) == {SUPPLY, MR, GABA, WEAN}
    assert ref.decisions.model_dump(exclude={"decisions"}) == dur.decisions.model_dump(
        exclude={"decisions"}
    )
    assert dur.backend == "durable"


def test_alert_fields() -> None:
    check = check_discharge(discharge((OXY_MR, 14)))
    for alert in check.alerts:
        assert len(alert.summary) < 140
        assert alert.detail
        assert alert.action
        assert alert.citations
        assert alert.severity in {"info", "warning", "critical"}
        assert alert.trace


def test_check_episode_dispatches_and_refuses_primary_care() -> None:
    assert isinstance(check_episode(discharge((OXY_IR, 5))), DischargeCheck)
    with pytest.raises(InvalidInputError, match="care_setting"):
        check_episode(discharge((OXY_IR, 5), care_setting="primary-care"))


def test_check_discharge_refuses_other_settings() -> None:
    with pytest.raises(InvalidInputError, match="care_setting"):
        check_discharge(discharge((OXY_IR, 5), care_setting="primary-care"))


def test_unknown_backend_refused() -> None:
    with pytest.raises(InvalidInputError, match="backend"):
        check_discharge(discharge((OXY_IR, 5)), backend="fast")  # type: ignore[arg-type]


def test_profile_path_type() -> None:
    assert check_discharge(discharge((OXY_IR, 5)), profile=str(PROFILE)).profile_version == "1.1.2"
