"""An "up to" dose under the minimum policy: its lower end is not stated, so it is excluded.

``PrnPolicy.MINIMUM`` counts the lower end of every range and leaves PRN doses out
(docs/calculation.md, "PRN and ranges"). "UP TO 2 TWICE A DAY" and "1 UP TO 4 TIMES A DAY" state
only the most a patient may take: read at the stated figure, the "minimum" total would be the
maximum. They are left out and listed as excluded, as a PRN dose is; the maximum policy (the
default, for alerts) counts them at the stated figure as before.

Arithmetic (conversion_tables/uk-opioids-aware: oral morphine factor 1, oral oxycodone 1.5):
- morphine 10 mg tablets, "UP TO 2 TWICE A DAY": maximum 2 x 10 x 2/day = 40 mg OME/day.
- oxycodone 5 mg tablets, "1 UP TO 4 TIMES A DAY": maximum 1 x 5 x 4/day = 20 mg/day x 1.5 =
  30 mg OME/day.
- morphine 10 mg tablets, "ONE TWICE A DAY" (regular): 1 x 10 x 2 = 20 mg OME/day under every
  policy.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from opioidcds import ItemStatus, Prescription, PrnPolicy, calculate_ome


def _tablet(drug: str, mg: int, text: str) -> Prescription:
    return Prescription(drug=drug, form="tablet", strength=f"{mg} mg", dosage_text=text)


UP_TO_DOSE = _tablet("morphine", 10, "UP TO 2 TWICE A DAY")
UP_TO_FREQUENCY = _tablet("oxycodone", 5, "1 UP TO 4 TIMES A DAY")
REGULAR = _tablet("morphine", 10, "ONE TWICE A DAY")


@pytest.mark.parametrize(
    ("rx", "maximum"),
    [(UP_TO_DOSE, Decimal(40)), (UP_TO_FREQUENCY, Decimal(30))],
)
def test_up_to_counts_its_stated_most_by_default_and_is_excluded_at_the_minimum(
    rx: Prescription, maximum: Decimal
) -> None:
    assert calculate_ome([rx]).total_mg_per_day == maximum
    assert calculate_ome([rx], prn_policy=PrnPolicy.REGULAR_ONLY).total_mg_per_day == maximum
    result = calculate_ome([rx, REGULAR], prn_policy=PrnPolicy.MINIMUM)
    item = result.items[0]
    assert item.status is ItemStatus.EXCLUDED
    assert item.ome_mg_per_day is None
    assert "up to" in (item.reason or "")
    assert "minimum" in (item.reason or "")
    assert result.total_mg_per_day == 20  # the regular morphine alone
    assert result.complete  # left out by a stated policy is not a gap


def test_the_minimum_never_exceeds_the_other_policies() -> None:
    rxs = [UP_TO_DOSE, UP_TO_FREQUENCY, REGULAR]
    # maximum: 40 + 30 + 20 = 90; minimum: 20 (both "up to" doses left out)
    totals = [calculate_ome(rxs, prn_policy=p).total_mg_per_day for p in PrnPolicy]
    assert totals == [Decimal(90), Decimal(90), Decimal(20)]


def test_a_text_read_once_under_one_policy_is_read_again_under_the_minimum() -> None:
    # the per-call path keeps each text's reading per way of reading: the default reading must
    # not answer for the minimum policy
    calculate_ome([UP_TO_DOSE])
    assert calculate_ome([UP_TO_DOSE], prn_policy=PrnPolicy.MINIMUM).total_mg_per_day == 0


def _structured(**fields: object) -> Prescription:
    # as the FHIR reader builds a Dosage with doseQuantity and maxDosePerPeriod, no timing
    return Prescription.model_validate(
        {"drug": "morphine", "form": "tablet", "strength": "10 mg", "dose_unit": "tablet"} | fields
    )


@pytest.mark.parametrize(
    ("rx", "maximum"),
    [
        # 8 tablets x 10 mg = 80 mg OME/day: a daily most with no frequency
        (_tablet("morphine", 10, "MAX 8 TABLETS IN 24 HOURS"), Decimal(80)),
        (_tablet("morphine", 10, "UP TO 8 TABLETS A DAY"), Decimal(80)),
        # 1 tablet x 10 mg x at most 4 a day = 40 mg OME/day
        (_tablet("morphine", 10, "ONE MAX 4 A DAY"), Decimal(40)),
        (_structured(dose_quantity=1, max_doses_per_day=4), Decimal(40)),
        # at most 6 tablets a day x 10 mg = 60 mg OME/day
        (_structured(dose_quantity=1, max_quantity_per_day=6), Decimal(60)),
    ],
)
def test_a_dose_given_only_as_a_daily_most_is_excluded_at_the_minimum(
    rx: Prescription, maximum: Decimal
) -> None:
    # no frequency, only a most a day: the least taken is not stated, as with "up to"
    assert calculate_ome([rx]).total_mg_per_day == maximum
    result = calculate_ome([rx, REGULAR], prn_policy=PrnPolicy.MINIMUM)
    assert result.items[0].status is ItemStatus.EXCLUDED
    assert result.total_mg_per_day == 20  # the regular morphine alone (1 x 10 x 2)


def test_a_regular_dose_with_a_daily_cap_is_still_counted_at_the_minimum() -> None:
    # "ONE TWICE A DAY MAX 4 A DAY": a stated frequency; the cap does not make it "up to":
    # 1 x 10 mg x 2 = 20 mg OME/day under every policy
    rx = _tablet("morphine", 10, "ONE TWICE A DAY MAX 4 A DAY")
    totals = [calculate_ome([rx], prn_policy=p).total_mg_per_day for p in PrnPolicy]
    assert totals == [Decimal(20)] * 3
