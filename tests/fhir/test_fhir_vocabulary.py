"""The adapter's own tables agree with their sources and with the vocabulary."""

from __future__ import annotations

from fhir_cases import load

from opioidcds._knowledge.vocabulary import default_vocabulary
from opioidcds._resolve.fhir import RXNORM_DOSE_FORMS, RXNORM_INGREDIENTS


def test_rxnorm_ingredients_are_the_cdc_codesystem_concepts() -> None:
    codesystem = load("cqf_codesystem-CDCMMEClinicalConversionFactors_v3.0.0.json")
    assert codesystem["supplements"] == "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert dict(RXNORM_INGREDIENTS) == {c["code"]: c["display"] for c in codesystem["concept"]}


def test_rxnorm_ingredients_resolve_to_single_opioids() -> None:
    vocab = default_vocabulary()
    for display in RXNORM_INGREDIENTS.values():
        found = vocab.find_drug(display)
        assert found is not None
        assert len(found) == 1
        assert vocab.is_opioid(found[0])


def test_rxnorm_dose_forms_are_known_forms() -> None:
    vocab = default_vocabulary()
    for form in RXNORM_DOSE_FORMS.values():
        assert vocab.find_form(form) is not None, form
