"""The four CDC MME calculator tests (cqframework opioid-mme-r4) through the FHIR adapter.

Each test folder holds the input MedicationRequest (``*-context.json`` or
``morphineMedRecMMECalc.json``) and the expected output in ``GuidanceResponse-*.json``
(parameter ``TotalMME``, MME/day). Expected values, worked by hand with the CDC 2022 factors
(conversion_tables/cdc-2022.toml):

- greater-than-fifty: fentanyl 72 HR 0.075 MG/HR transdermal system, 1 patch every 3 days.
  Rate 0.075 mg/h = 75 microgram/hour; OME comes from the rate, not the change interval:
  75 x 2.4 = 180.
- less-than-fifty: oxycodone HCl 60 MG 12 HR ER tablet, dose 10 mg (a dose in mg overrides the
  product strength), frequency 1 per 12 h: 10 x 24/12 = 20 mg/day x 1.5 = 30.
- with-timeofday: the same product, 10 mg at 10:00 and 22:00 (timeOfDay, no frequency):
  2 doses/day: 20 mg/day x 1.5 = 30.
- mmecalc: morphine (RxNorm ingredient 7052 among 24 codings; the others carry no display and
  are alternative codes), 20 mg at 10:00 (timeOfDay), route "oral": 20 x 1 = 20.

No CDC-specific rule is needed: none of the four is PRN, none is methadone, and the UK default
table gives the same totals (its factors for these three drugs and routes equal CDC 2022's).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from fhir_cases import bundle, load

from opioidcds import ItemStatus, calculate_ome, from_bundle, read_bundle

CASES = [
    # (request file, expectation file, patient file or None, hand-worked total)
    (
        "example-rec-05-mme-greater-than-fifty-context.json",
        "GuidanceResponse-patient-mme-greater-than-fifty.json",
        "patient-mme-greater-than-fifty.json",
        Decimal(180),
    ),
    (
        "example-rec-05-mme-less-than-fifty-context.json",
        "GuidanceResponse-patient-mme-less-than-fifty.json",
        "patient-mme-less-than-fifty.json",
        Decimal(30),
    ),
    (
        "example-rec-05-mme-with-timeofday-context.json",
        "GuidanceResponse-patient-mme-with-timeofday.json",
        "patient-mme-with-timeofday.json",
        Decimal(30),
    ),
    ("morphineMedRecMMECalc.json", "GuidanceResponse-mmecalc.json", None, Decimal(20)),
]
IDS = ["greater-than-fifty", "less-than-fifty", "with-timeofday", "mmecalc"]


def _expected_total(guidance_file: str) -> Decimal:
    response = load(guidance_file)
    (output,) = response["contained"]
    (param,) = [p for p in output["parameter"] if p["name"] == "TotalMME"]
    assert param["valueQuantity"]["code"] == "{MME}/d"
    return Decimal(str(param["valueQuantity"]["value"]))


@pytest.mark.parametrize(("request_file", "guidance_file", "patient_file", "hand"), CASES, ids=IDS)
def test_cdc_fixture_total(
    request_file: str, guidance_file: str, patient_file: str | None, hand: Decimal
) -> None:
    expected = _expected_total(guidance_file)
    assert expected == hand  # the fixture says what we worked out by hand
    rxs = from_bundle(load(request_file))
    assert len(rxs) == 1
    result = calculate_ome(rxs, table="cdc-2022")
    assert result.total_mg_per_day == expected
    assert result.complete
    assert [i.status for i in result.items] == [ItemStatus.CONVERTED]


@pytest.mark.parametrize(("request_file", "guidance_file", "patient_file", "hand"), CASES, ids=IDS)
def test_cdc_fixture_in_a_bundle_with_its_patient(
    request_file: str, guidance_file: str, patient_file: str | None, hand: Decimal
) -> None:
    resources = [load(request_file)] + ([load(patient_file)] if patient_file else [])
    read = read_bundle(bundle(*resources))
    assert read.sources == ("entry[0].resource.dosageInstruction[0]",)
    if patient_file:
        assert [(s.path, s.resource_type) for s in read.skipped] == [
            ("entry[1].resource", "Patient")
        ]
    assert calculate_ome(read.prescriptions, table="cdc-2022").total_mg_per_day == hand


@pytest.mark.parametrize(("request_file", "guidance_file", "patient_file", "hand"), CASES, ids=IDS)
def test_uk_table_gives_the_same_totals(
    request_file: str, guidance_file: str, patient_file: str | None, hand: Decimal
) -> None:
    # UK factors: fentanyl transdermal 2.4 per microgram/hour, oxycodone 1.5, morphine 1
    result = calculate_ome(from_bundle(load(request_file)), table="uk-opioids-aware")
    assert result.total_mg_per_day == hand


def test_patient_without_medicines_totals_zero() -> None:
    read = read_bundle(bundle(load("patient-no-meds.json")))
    assert read.prescriptions == ()
    assert read.skipped[0].resource_type == "Patient"
    assert calculate_ome(read.prescriptions, table="cdc-2022").total_mg_per_day == 0


def test_fixture_fields() -> None:
    """What each fixture was read as (the mapping, pinned)."""
    (fentanyl,) = from_bundle(load(CASES[0][0]))
    assert (fentanyl.drug, fentanyl.form, fentanyl.strength) == (
        "fentanyl",
        "transdermal patch",
        "0.075 mg/hour",
    )
    assert (fentanyl.dose_quantity, fentanyl.dose_unit, fentanyl.interval_hours) == (
        Decimal(1),
        "patch",
        Decimal(72),
    )
    (oxy,) = from_bundle(load(CASES[1][0]))
    assert (oxy.drug, oxy.form, oxy.strength) == ("oxycodone", "modified-release tablet", "60 mg")
    assert (oxy.dose_quantity, oxy.dose_unit, oxy.interval_hours) == (
        Decimal(10),
        "mg",
        Decimal(12),
    )
    (oxy_times,) = from_bundle(load(CASES[2][0]))
    assert (oxy_times.doses_per_day, oxy_times.interval_hours) == (Decimal(2), None)
    (morphine,) = from_bundle(load(CASES[3][0]))
    assert (morphine.drug, morphine.form, morphine.route) == ("morphine", None, "oral")
    assert (morphine.dose_quantity, morphine.dose_unit, morphine.doses_per_day) == (
        Decimal(20),
        "mg",
        Decimal(1),
    )
    assert not morphine.prn
