"""A patch whose dosage text gives no schedule is still a patch (review, issue 20 fifth round).

"APPLY ONE PATCH" (no change interval) gives no daily amount: the OME item is not convertible
and names no rate. The check read "this prescription is a transdermal fentanyl patch" from the
item's rate alone, so a new fentanyl 25 microgram/hour patch for a patient with no opioid
(not opioid tolerant: 0 mg OME/day before, fewer than the 60 of the rule
``fentanyl-patch-not-opioid-tolerant``, MHRA 2020) lost its critical alert, silently: the
input was a known ``false``, not an unknown. The product says it is a patch (its form, its
strength in microgram/hour, the dm+d catalogue), whatever the text.
"""

from __future__ import annotations

import pytest

from opioidcds import Patient, Prescription, check_prescription

# no opioid, co-prescriptions recorded as none
NAIVE = Patient(
    prescriptions=(),
    benzodiazepine_coprescribed=False,
    gabapentinoid_coprescribed=False,
    z_drug_coprescribed=False,
)

# bundled catalogue: 333919005 is fentanyl 25 microgram/hour transdermal patches (a VMP)
FENTANYL_BY_FIELDS = {
    "drug": "fentanyl",
    "form": "transdermal patch",
    "strength": "25 microgram/hour",
}
FENTANYL_BY_CODE = {"dmd_code": "333919005"}


@pytest.mark.parametrize("product", [FENTANYL_BY_FIELDS, FENTANYL_BY_CODE])
@pytest.mark.parametrize(
    "text", ["apply one patch", "apply one patch as directed", "APPLY ONE PATCH EVERY 72 HOURS"]
)
def test_a_new_fentanyl_patch_for_an_opioid_naive_patient_is_critical_read_or_not(
    product: dict[str, str], text: str
) -> None:
    alerts = check_prescription(NAIVE, Prescription(**product, dosage_text=text))
    critical = [a.id for a in alerts if a.severity.value == "critical"]
    assert critical == ["fentanyl-patch-not-opioid-tolerant"]
    # and it is a patch start (new_item_transdermal), read or not
    assert "start-modified-release-or-patch" in [a.id for a in alerts]


def test_an_unread_buprenorphine_patch_rate_is_unknown_not_zero() -> None:
    # buprenorphine 20 microgram/hour with no schedule: the rate the patient wears is not
    # known (0 would say "not above the starting strength"): the rule is listed as not checked
    new = Prescription(
        drug="buprenorphine",
        form="transdermal patch",
        strength="20 microgram/hour",
        dosage_text="apply one patch",
    )
    alerts = check_prescription(NAIVE, new)
    pending = [a for a in alerts if a.id == "alerts-not-evaluated"]
    assert pending
    assert "buprenorphine-patch-above-starting-strength" in pending[0].not_checked
    assert "new_item_buprenorphine_patch_microgram_per_hour" in pending[0].unknown_inputs
    assert "the strength of this buprenorphine patch" in pending[0].detail


def test_an_unread_tablet_is_not_a_patch() -> None:
    # morphine 10 mg tablets, "take as directed" (no dose): no patch alert of any kind
    new = Prescription(drug="morphine", form="tablet", strength="10 mg", dosage_text="as directed")
    ids = [a.id for a in check_prescription(NAIVE, new)]
    assert "fentanyl-patch-not-opioid-tolerant" not in ids
    assert "start-modified-release-or-patch" not in ids
