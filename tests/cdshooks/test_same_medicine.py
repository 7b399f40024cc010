"""Which draft with a ``priorPrescription`` is a re-authorisation: the same medicine or not.

dm+d codes from ``catalogue/uk-dmd-opioids.csv`` (NHSBSA dm+d): the product's ingredients,
form and route are the catalogue's.
"""

from __future__ import annotations

import pytest

from opioidcds import Prescription, default_knowledge
from opioidcds.cdshooks.record import same_medicine

FENTANYL_25_VMP = "36120011000001101"  # Fentanyl 25micrograms/hour transdermal patches (VMP)
DUROGESIC_DTRANS_25 = "9089711000001102"  # its brand (AMP): same ingredient, form and route
FENTANYL_200_LOZENGE = "42011911000001109"  # fentanyl again, a lozenge (oromucosal)
MORPHINE_MR_30 = "36127311000001102"  # Morphine 30mg modified-release tablets (VMP)
SEVREDOL_10 = "2898611000001107"  # Sevredol 10mg tablets: morphine, immediate release
UNKNOWN = "999999999999"  # in no catalogue


def rx(code: str) -> Prescription:
    return Prescription(dmd_code=code, dosage_text="ONE TWICE A DAY")


def named(name: str) -> Prescription:
    # how the FHIR reader keeps a non-opioid it recognises by its name only
    return Prescription(product_name=name, dosage_text="dose not read")


def same(a: Prescription, b: Prescription) -> bool:
    kb = default_knowledge()
    return same_medicine(a, b, kb.vocabulary, kb.catalogue)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (rx(FENTANYL_25_VMP), rx(FENTANYL_25_VMP), True),  # the same code
        (rx(FENTANYL_25_VMP), rx(DUROGESIC_DTRANS_25), True),  # a brand of the same medicine
        (rx(FENTANYL_25_VMP), rx(FENTANYL_200_LOZENGE), False),  # another form and route
        (rx(MORPHINE_MR_30), rx(SEVREDOL_10), False),  # modified vs immediate release
        (
            rx(MORPHINE_MR_30),
            Prescription(
                drug="morphine sulfate",
                form="modified-release tablet",
                strength="60 mg",
                dosage_text="ONE TWICE A DAY",
            ),
            True,  # the same medicine given by name, another strength (a dose change)
        ),
        (rx(MORPHINE_MR_30), rx(UNKNOWN), False),  # not placed: not known to be the same
        (
            Prescription(drug="unknownium", form="tablet", dosage_text="ONE A DAY"),
            Prescription(drug="Unknownium", form="tablet", dosage_text="TWO A DAY"),
            True,  # not placed by the vocabulary, but the same name and form
        ),
        (
            Prescription(drug="unknownium", form="tablet", dosage_text="ONE A DAY"),
            Prescription(drug="otherium", form="tablet", dosage_text="ONE A DAY"),
            False,  # not placed, and named differently
        ),
        (named("Diazepam 5mg tablets"), named("DIAZEPAM 5MG TABLETS"), True),  # by name
        (named("Diazepam 5mg tablets"), named("Diazepam 2mg tablets"), False),
    ],
)
def test_same_medicine(a: Prescription, b: Prescription, expected: bool) -> None:
    assert same(a, b) is expected
    assert same(b, a) is expected
