"""Unit tests of the dm+d name parser. Expected values are read off each name by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opioidcds._knowledge.product_names import (
    NameParser,
    ParsedName,
    ParseFailure,
    StrengthBasis,
    format_strength,
)
from opioidcds._knowledge.units import canonical_factor, parse_strength

U, V, R, D = (
    StrengthBasis.PER_UNIT,
    StrengthBasis.PER_VOLUME,
    StrengthBasis.RATE,
    StrengthBasis.PER_DOSE,
)

# name -> (ingredients [(name, amount, unit)], basis, volume_ml, form, modified release, strength)
CASES: list[
    tuple[str, list[tuple[str, str, str]], StrengthBasis, str | None, str, bool, str | None]
] = [
    # plain tablets and capsules
    ("Codeine 30mg tablets", [("codeine", "30", "mg")], U, None, "tablet", False, "30 mg"),
    ("Morphine 10mg tablets", [("morphine", "10", "mg")], U, None, "tablet", False, "10 mg"),
    ("Tapentadol 50mg tablets", [("tapentadol", "50", "mg")], U, None, "tablet", False, "50 mg"),
    ("Oxycodone 5mg capsules", [("oxycodone", "5", "mg")], U, None, "capsule", False, "5 mg"),
    (
        "Hydromorphone 1.3mg capsules",
        [("hydromorphone", "1.3", "mg")],
        U,
        None,
        "capsule",
        False,
        "1.3 mg",
    ),
    (
        "Tramadol 50mg orodispersible tablets sugar free",
        [("tramadol", "50", "mg")],
        U,
        None,
        "tablet",
        False,
        "50 mg",
    ),
    (
        "Tramadol 50mg soluble tablets sugar free",
        [("tramadol", "50", "mg")],
        U,
        None,
        "tablet",
        False,
        "50 mg",
    ),
    (
        "Dextropropoxyphene 60mg capsules",
        [("dextropropoxyphene", "60", "mg")],
        U,
        None,
        "capsule",
        False,
        "60 mg",
    ),
    # modified release
    (
        "Oxycodone 40mg modified-release tablets",
        [("oxycodone", "40", "mg")],
        U,
        None,
        "modified-release tablet",
        True,
        "40 mg",
    ),
    (
        "Morphine 60mg modified-release capsules",
        [("morphine", "60", "mg")],
        U,
        None,
        "modified-release capsule",
        True,
        "60 mg",
    ),
    (
        "Dihydrocodeine 120mg modified-release tablets",
        [("dihydrocodeine", "120", "mg")],
        U,
        None,
        "modified-release tablet",
        True,
        "120 mg",
    ),
    (
        "Tapentadol 250mg modified-release tablets",
        [("tapentadol", "250", "mg")],
        U,
        None,
        "modified-release tablet",
        True,
        "250 mg",
    ),
    (
        "Morphine 30mg modified-release granules sachets sugar free",
        [("morphine", "30", "mg")],
        U,
        None,
        "modified-release granules",
        True,
        "30 mg",
    ),
    # compound (BNF) names: strengths in the order of ingredients.toml
    (
        "Co-codamol 30mg/500mg tablets",
        [("codeine", "30", "mg"), ("paracetamol", "500", "mg")],
        U,
        None,
        "tablet",
        False,
        "30 mg/500 mg",
    ),
    (
        "Co-codamol 8mg/500mg effervescent tablets sugar free",
        [("codeine", "8", "mg"), ("paracetamol", "500", "mg")],
        U,
        None,
        "tablet",
        False,
        "8 mg/500 mg",
    ),
    (
        "Co-codamol 12.8mg/500mg tablets",
        [("codeine", "12.8", "mg"), ("paracetamol", "500", "mg")],
        U,
        None,
        "tablet",
        False,
        "12.8 mg/500 mg",
    ),
    (
        "Co-codamol 60mg/1000mg effervescent powder sachets sugar free",
        [("codeine", "60", "mg"), ("paracetamol", "1000", "mg")],
        U,
        None,
        "effervescent powder",
        False,
        "60 mg/1000 mg",
    ),
    (
        "Co-dydramol 10mg/500mg tablets",
        [("dihydrocodeine", "10", "mg"), ("paracetamol", "500", "mg")],
        U,
        None,
        "tablet",
        False,
        "10 mg/500 mg",
    ),
    (
        "Co-dydramol 7.46mg/500mg tablets",
        [("dihydrocodeine", "7.46", "mg"), ("paracetamol", "500", "mg")],
        U,
        None,
        "tablet",
        False,
        "7.46 mg/500 mg",
    ),
    (
        "Co-codaprin 8mg/400mg dispersible tablets",
        [("codeine", "8", "mg"), ("aspirin", "400", "mg")],
        U,
        None,
        "tablet",
        False,
        "8 mg/400 mg",
    ),
    (
        "Co-proxamol 32.5mg/325mg tablets",
        [("dextropropoxyphene", "32.5", "mg"), ("paracetamol", "325", "mg")],
        U,
        None,
        "tablet",
        False,
        "32.5 mg/325 mg",
    ),
    # multi-ingredient generic names joined by " / "
    (
        "Oxycodone 10mg / Naloxone 5mg modified-release tablets",
        [("oxycodone", "10", "mg"), ("naloxone", "5", "mg")],
        U,
        None,
        "modified-release tablet",
        True,
        "10 mg/5 mg",
    ),
    (
        "Tramadol 37.5mg / Paracetamol 325mg tablets",
        [("tramadol", "37.5", "mg"), ("paracetamol", "325", "mg")],
        U,
        None,
        "tablet",
        False,
        "37.5 mg/325 mg",
    ),
    (
        "Ibuprofen 200mg / Codeine 12.8mg tablets",
        [("ibuprofen", "200", "mg"), ("codeine", "12.8", "mg")],
        U,
        None,
        "tablet",
        False,
        "200 mg/12.8 mg",
    ),
    (
        "Aspirin 500mg / Codeine 8mg dispersible tablets sugar free",
        [("aspirin", "500", "mg"), ("codeine", "8", "mg")],
        U,
        None,
        "tablet",
        False,
        "500 mg/8 mg",
    ),
    (
        "Tramadol 75mg / Dexketoprofen 25mg tablets",
        [("tramadol", "75", "mg"), ("dexketoprofen", "25", "mg")],
        U,
        None,
        "tablet",
        False,
        "75 mg/25 mg",
    ),
    (
        "Dipipanone 10mg / Cyclizine 30mg tablets",
        [("dipipanone", "10", "mg"), ("cyclizine", "30", "mg")],
        U,
        None,
        "tablet",
        False,
        "10 mg/30 mg",
    ),
    # oral liquids: per volume, "ml" read as mL, "/ml" as per 1 mL
    (
        "Morphine sulfate 10mg/5ml oral solution",
        [("morphine", "10", "mg")],
        V,
        "5",
        "oral solution",
        False,
        "10 mg/5 mL",
    ),
    (
        "Morphine sulfate 20mg/ml oral solution sugar free",
        [("morphine", "20", "mg")],
        V,
        "1",
        "oral solution",
        False,
        "20 mg/mL",
    ),
    (
        "Morphine sulfate 500micrograms/5ml oral solution",
        [("morphine", "500", "microgram")],
        V,
        "5",
        "oral solution",
        False,
        "500 microgram/5 mL",
    ),
    (
        "Morphine sulfate 1g/5ml oral solution",
        [("morphine", "1", "g")],
        V,
        "5",
        "oral solution",
        False,
        "1 g/5 mL",
    ),
    (
        "Morphine hydrochloride 10mg/5ml oral solution",
        [("morphine", "10", "mg")],
        V,
        "5",
        "oral solution",
        False,
        "10 mg/5 mL",
    ),
    (
        "Oxycodone 10mg/ml oral solution sugar free",
        [("oxycodone", "10", "mg")],
        V,
        "1",
        "oral solution",
        False,
        "10 mg/mL",
    ),
    (
        "Codeine 25mg/5ml oral solution",
        [("codeine", "25", "mg")],
        V,
        "5",
        "oral solution",
        False,
        "25 mg/5 mL",
    ),
    (
        "Codeine 15mg/5ml linctus sugar free",
        [("codeine", "15", "mg")],
        V,
        "5",
        "oral solution",
        False,
        "15 mg/5 mL",
    ),
    (
        "Codeine 3mg/5ml linctus paediatric sugar free",
        [("codeine", "3", "mg")],
        V,
        "5",
        "oral solution",
        False,
        "3 mg/5 mL",
    ),
    (
        "Tramadol 100mg/ml oral drops",
        [("tramadol", "100", "mg")],
        V,
        "1",
        "oral solution",
        False,
        "100 mg/mL",
    ),
    (
        "Methadone 2mg/5ml linctus",
        [("methadone", "2", "mg")],
        V,
        "5",
        "oral solution",
        False,
        "2 mg/5 mL",
    ),
    (
        "Morphine sulfate 10mg/5ml oral solution unit dose vials sugar free",
        [("morphine", "10", "mg")],
        V,
        "5",
        "oral solution",
        False,
        "10 mg/5 mL",
    ),
    # multi-ingredient liquid: structured, but no strength string in the calculator's syntax
    (
        "Co-codamol 30mg/500mg/5ml oral solution sugar free",
        [("codeine", "30", "mg"), ("paracetamol", "500", "mg")],
        V,
        "5",
        "oral solution",
        False,
        None,
    ),
    (
        "Oxycodone 40mg/5ml / Naloxone 20mg/5ml oral suspension",
        [("oxycodone", "40", "mg"), ("naloxone", "20", "mg")],
        V,
        "5",
        "oral solution",
        False,
        None,
    ),
    (
        "Kaolin light 1.5g/5ml / Codeine 5mg/5ml oral suspension sugar free",
        [("kaolin", "1.5", "g"), ("codeine", "5", "mg")],
        V,
        "5",
        "oral solution",
        False,
        None,
    ),
    # patches: micrograms per hour
    (
        "Fentanyl 25micrograms/hour transdermal patches",
        [("fentanyl", "25", "microgram")],
        R,
        None,
        "transdermal patch",
        False,
        "25 microgram/hour",
    ),
    (
        "Fentanyl 37.5microgram/hour transdermal patches",
        [("fentanyl", "37.5", "microgram")],
        R,
        None,
        "transdermal patch",
        False,
        "37.5 microgram/hour",
    ),
    (
        "Buprenorphine 52.5micrograms/hour transdermal patches",
        [("buprenorphine", "52.5", "microgram")],
        R,
        None,
        "transdermal patch",
        False,
        "52.5 microgram/hour",
    ),
    (
        "Buprenorphine 5micrograms/hour transdermal patches",
        [("buprenorphine", "5", "microgram")],
        R,
        None,
        "transdermal patch",
        False,
        "5 microgram/hour",
    ),
    # transmucosal fentanyl and buprenorphine
    (
        "Fentanyl 100microgram buccal tablets sugar free",
        [("fentanyl", "100", "microgram")],
        U,
        None,
        "buccal tablet",
        False,
        "100 microgram",
    ),
    (
        "Fentanyl 200microgram buccal films sugar free",
        [("fentanyl", "200", "microgram")],
        U,
        None,
        "buccal film",
        False,
        "200 microgram",
    ),
    (
        "Fentanyl 133microgram sublingual tablets sugar free",
        [("fentanyl", "133", "microgram")],
        U,
        None,
        "sublingual tablet",
        False,
        "133 microgram",
    ),
    ("Fentanyl 1.2mg lozenges", [("fentanyl", "1.2", "mg")], U, None, "lozenge", False, "1.2 mg"),
    (
        "Fentanyl 100micrograms/dose nasal spray",
        [("fentanyl", "100", "microgram")],
        D,
        None,
        "nasal spray",
        False,
        "100 microgram/dose",
    ),
    (
        "Buprenorphine 200microgram sublingual tablets sugar free",
        [("buprenorphine", "200", "microgram")],
        U,
        None,
        "sublingual tablet",
        False,
        "200 microgram",
    ),
    # injections
    (
        "Morphine sulfate 10mg/1ml solution for injection ampoules",
        [("morphine", "10", "mg")],
        V,
        "1",
        "injection",
        False,
        "10 mg/mL",
    ),
    (
        "Oxycodone 50mg/1ml solution for injection ampoules",
        [("oxycodone", "50", "mg")],
        V,
        "1",
        "injection",
        False,
        "50 mg/mL",
    ),
    (
        "Alfentanil 500micrograms/1ml solution for injection ampoules",
        [("alfentanil", "500", "microgram")],
        V,
        "1",
        "injection",
        False,
        "500 microgram/mL",
    ),
    (
        "Methadone 35mg/3.5ml solution for injection ampoules",
        [("methadone", "35", "mg")],
        V,
        "3.5",
        "injection",
        False,
        "35 mg/3.5 mL",
    ),
    (
        "Morphine sulfate 100mg/50ml solution for infusion vials",
        [("morphine", "100", "mg")],
        V,
        "50",
        "injection",
        False,
        "100 mg/50 mL",
    ),
    (
        "Morphine sulfate 100mg/100ml infusion bags",
        [("morphine", "100", "mg")],
        V,
        "100",
        "injection",
        False,
        "100 mg/100 mL",
    ),
    (
        "Morphine hydrochloride 10mg/10ml solution for injection pre-filled syringes",
        [("morphine", "10", "mg")],
        V,
        "10",
        "injection",
        False,
        "10 mg/10 mL",
    ),
    (
        "Morphine tartrate 10mg/1ml / Cyclizine tartrate 50mg/1ml solution for injection ampoules",
        [("morphine", "10", "mg"), ("cyclizine", "50", "mg")],
        V,
        "1",
        "injection",
        False,
        None,
    ),
    # powder for reconstitution: per vial, no concentration
    (
        "Diamorphine 10mg powder for solution for injection ampoules",
        [("diamorphine", "10", "mg")],
        U,
        None,
        "injection",
        False,
        None,
    ),
    # suppositories
    (
        "Codeine 10mg suppositories",
        [("codeine", "10", "mg")],
        U,
        None,
        "suppository",
        False,
        "10 mg",
    ),
    (
        "Oxycodone pectinate 30mg suppositories",
        [("oxycodone", "30", "mg")],
        U,
        None,
        "suppository",
        False,
        "30 mg",
    ),
    (
        "Morphine sulfate 2.5mg suppositories",
        [("morphine", "2.5", "mg")],
        U,
        None,
        "suppository",
        False,
        "2.5 mg",
    ),
    # brand AMP names: brand from catalogue/brands.toml
    (
        "OxyContin 40mg modified-release tablets",
        [("oxycodone", "40", "mg")],
        U,
        None,
        "modified-release tablet",
        True,
        "40 mg",
    ),
    (
        "Zomorph 100mg modified-release capsules",
        [("morphine", "100", "mg")],
        U,
        None,
        "modified-release capsule",
        True,
        "100 mg",
    ),
    (
        "MST Continus 30mg tablets",
        [("morphine", "30", "mg")],
        U,
        None,
        "modified-release tablet",
        True,
        "30 mg",
    ),
    (
        "MXL 60mg capsules",
        [("morphine", "60", "mg")],
        U,
        None,
        "modified-release capsule",
        True,
        "60 mg",
    ),
    (
        "Zydol SR 100mg tablets",
        [("tramadol", "100", "mg")],
        U,
        None,
        "modified-release tablet",
        True,
        "100 mg",
    ),
    ("Zydol 50mg capsules", [("tramadol", "50", "mg")], U, None, "capsule", False, "50 mg"),
    (
        "Palexia SR 50mg tablets",
        [("tapentadol", "50", "mg")],
        U,
        None,
        "modified-release tablet",
        True,
        "50 mg",
    ),
    (
        "Palladone SR 2mg capsules",
        [("hydromorphone", "2", "mg")],
        U,
        None,
        "modified-release capsule",
        True,
        "2 mg",
    ),
    (
        "Nobligan retard 100mg tablets",
        [("tramadol", "100", "mg")],
        U,
        None,
        "modified-release tablet",
        True,
        "100 mg",
    ),
    (
        "Zamadol 24hr 150mg modified-release tablets",
        [("tramadol", "150", "mg")],
        U,
        None,
        "modified-release tablet",
        True,
        "150 mg",
    ),
    (
        "DF 118 Forte 40mg tablets",
        [("dihydrocodeine", "40", "mg")],
        U,
        None,
        "tablet",
        False,
        "40 mg",
    ),
    (
        "MST Continus suspension 30mg granules sachets",
        [("morphine", "30", "mg")],
        U,
        None,
        "modified-release granules",
        True,
        "30 mg",
    ),
    (
        "Targinact 10mg/5mg modified-release tablets",
        [("oxycodone", "10", "mg"), ("naloxone", "5", "mg")],
        U,
        None,
        "modified-release tablet",
        True,
        "10 mg/5 mg",
    ),
    (
        "Tramacet 37.5mg/325mg tablets",
        [("tramadol", "37.5", "mg"), ("paracetamol", "325", "mg")],
        U,
        None,
        "tablet",
        False,
        "37.5 mg/325 mg",
    ),
    (
        "Eroset 500mg/10mg tablets",
        [("paracetamol", "500", "mg"), ("dihydrocodeine", "10", "mg")],
        U,
        None,
        "tablet",
        False,
        "500 mg/10 mg",
    ),
    (
        "Skudexa 75mg/25mg tablets",
        [("tramadol", "75", "mg"), ("dexketoprofen", "25", "mg")],
        U,
        None,
        "tablet",
        False,
        "75 mg/25 mg",
    ),
    (
        "Solpadol 30mg/500mg caplets",
        [("codeine", "30", "mg"), ("paracetamol", "500", "mg")],
        U,
        None,
        "tablet",
        False,
        "30 mg/500 mg",
    ),
    (
        "Kapake Insts 30mg/500mg effervescent powder sachets",
        [("codeine", "30", "mg"), ("paracetamol", "500", "mg")],
        U,
        None,
        "effervescent powder",
        False,
        "30 mg/500 mg",
    ),
    (
        "Codasolve 8mg/500mg/30mg effervescent tablets",
        [("codeine", "8", "mg"), ("paracetamol", "500", "mg"), ("caffeine", "30", "mg")],
        U,
        None,
        "tablet",
        False,
        "8 mg/500 mg/30 mg",
    ),
    (
        "Generic Codasolve 8mg/500mg/30mg effervescent tablets sugar free",
        [("codeine", "8", "mg"), ("paracetamol", "500", "mg"), ("caffeine", "30", "mg")],
        U,
        None,
        "tablet",
        False,
        "8 mg/500 mg/30 mg",
    ),
    (
        "BuTrans 10micrograms/hour transdermal patches",
        [("buprenorphine", "10", "microgram")],
        R,
        None,
        "transdermal patch",
        False,
        "10 microgram/hour",
    ),
    (
        "Matrifen 12micrograms/hour transdermal patches",
        [("fentanyl", "12", "microgram")],
        R,
        None,
        "transdermal patch",
        False,
        "12 microgram/hour",
    ),
    (
        "Durogesic DTrans 50micrograms/hour transdermal patches",
        [("fentanyl", "50", "microgram")],
        R,
        None,
        "transdermal patch",
        False,
        "50 microgram/hour",
    ),
    (
        "Mezolar Matrix 37.5microgram/hour transdermal patches",
        [("fentanyl", "37.5", "microgram")],
        R,
        None,
        "transdermal patch",
        False,
        "37.5 microgram/hour",
    ),
    (
        "Effentora 400microgram buccal tablets",
        [("fentanyl", "400", "microgram")],
        U,
        None,
        "buccal tablet",
        False,
        "400 microgram",
    ),
    (
        "Breakyl 800microgram buccal films",
        [("fentanyl", "800", "microgram")],
        U,
        None,
        "buccal film",
        False,
        "800 microgram",
    ),
    (
        "Abstral 100microgram sublingual tablets",
        [("fentanyl", "100", "microgram")],
        U,
        None,
        "sublingual tablet",
        False,
        "100 microgram",
    ),
    (
        "Actiq 200microgram lozenges with integral oromucosal applicator",
        [("fentanyl", "200", "microgram")],
        U,
        None,
        "lozenge",
        False,
        "200 microgram",
    ),
    (
        "Instanyl 50micrograms/dose nasal spray",
        [("fentanyl", "50", "microgram")],
        D,
        None,
        "nasal spray",
        False,
        "50 microgram/dose",
    ),
    (
        "PecFent 400micrograms/dose nasal spray",
        [("fentanyl", "400", "microgram")],
        D,
        None,
        "nasal spray",
        False,
        "400 microgram/dose",
    ),
    (
        "Oramorph 20mg/ml concentrated oral solution",
        [("morphine", "20", "mg")],
        V,
        "1",
        "oral solution",
        False,
        "20 mg/mL",
    ),
    (
        "OxyNorm 10mg/ml concentrate oral solution",
        [("oxycodone", "10", "mg")],
        V,
        "1",
        "oral solution",
        False,
        "10 mg/mL",
    ),
    (
        "OxyNorm liquid 1mg/ml oral solution",
        [("oxycodone", "1", "mg")],
        V,
        "1",
        "oral solution",
        False,
        "1 mg/mL",
    ),
    (
        "Bepro 6.75mg/5ml syrup",
        [("codeine", "6.75", "mg")],
        V,
        "5",
        "oral solution",
        False,
        "6.75 mg/5 mL",
    ),
    (
        "Rapifen Intensive Care 5mg/1ml solution for injection ampoules",
        [("alfentanil", "5", "mg")],
        V,
        "1",
        "injection",
        False,
        "5 mg/mL",
    ),
    ("Physeptone 5mg tablets", [("methadone", "5", "mg")], U, None, "tablet", False, "5 mg"),
    (
        "Proladone 30mg suppositories",
        [("oxycodone", "30", "mg")],
        U,
        None,
        "suppository",
        False,
        "30 mg",
    ),
    # brand or supplier in brackets after a generic name (prescribing-system AMP display)
    (
        "Oxycodone 40mg modified-release tablets (OxyContin)",
        [("oxycodone", "40", "mg")],
        U,
        None,
        "modified-release tablet",
        True,
        "40 mg",
    ),
    (
        "Fentanyl 25micrograms/hour transdermal patches (Sandoz Ltd)",
        [("fentanyl", "25", "microgram")],
        R,
        None,
        "transdermal patch",
        False,
        "25 microgram/hour",
    ),
    (
        "Co-codamol 30mg/500mg tablets (Zapain)",
        [("codeine", "30", "mg"), ("paracetamol", "500", "mg")],
        U,
        None,
        "tablet",
        False,
        "30 mg/500 mg",
    ),
]


@pytest.mark.parametrize(("name", "ings", "basis", "volume", "form", "mr", "strength"), CASES)
def test_parse_real_names(
    parser: NameParser,
    name: str,
    ings: list[tuple[str, str, str]],
    basis: StrengthBasis,
    volume: str | None,
    form: str,
    mr: bool,
    strength: str | None,
) -> None:
    result = parser.parse(name)
    assert isinstance(result, ParsedName), result
    assert [(i.name, i.amount, i.unit) for i in result.ingredients] == [
        (n, Decimal(a), u) for n, a, u in ings
    ]
    assert result.basis is basis
    assert result.volume_ml == (Decimal(volume) if volume is not None else None)
    assert result.form == form
    assert result.modified_release is mr
    assert format_strength(result) == strength


def test_brand_recorded(parser: NameParser) -> None:
    result = parser.parse("Zydol SR 100mg tablets")
    assert isinstance(result, ParsedName)
    assert result.brand == "Zydol SR"
    generic = parser.parse("Tramadol 100mg modified-release tablets")
    assert isinstance(generic, ParsedName)
    assert generic.brand is None


def test_powder_flag(parser: NameParser) -> None:
    result = parser.parse("Diamorphine 500mg powder for solution for injection vials")
    assert isinstance(result, ParsedName)
    assert result.powder is True
    assert format_strength(result) is None


def test_case_and_whitespace_of_name_are_normalised(parser: NameParser) -> None:
    a = parser.parse("Oxycodone  40mg   modified-release tablets")
    b = parser.parse("Oxycodone 40mg modified-release tablets")
    assert a == b


@pytest.mark.parametrize(
    "name",
    [
        "Nurofen Plus tablets",  # brand without strengths
        "Codis 500 dispersible tablets",  # a number without a unit
        "Alfentanil 0.1% nasal spray",  # a percentage
        "Durogesic 25micrograms transdermal patches",  # a patch rate without "/hour"
        "Diamorphine 100mg impregnated cigarettes",  # form outside the vocabulary
        "Tramake Insts 50mg sachets",  # "sachets" alone: granules? powder? not guessed
        "Ibuprofen 300mg modified-release / Codeine 20mg tablets",  # words between strengths
        "Paracetamol 500mg tablets",  # no opioid ingredient
        "Oxycodon 5mg capsules",  # misspelt ingredient: never fuzzy
        "Morphine 10mg/5ml tablets",  # per-volume strength on a unit form
        "Morphine 10mg oral solution",  # per-unit strength on a liquid
        "Fentanyl 25mg transdermal patches",  # patch without a rate
        "Co-codamol 30mg tablets",  # one strength for a two-ingredient compound
        "Targinact 10mg modified-release tablets",  # one strength for a two-ingredient brand
        "Oxycodone 40mg modified-release tablets (Zydol)",  # bracketed brand contradicts
        "Morphine 0mg tablets",  # zero
        "",
        "tablets",
    ],
)
def test_not_understood_is_a_failure_not_a_guess(parser: NameParser, name: str) -> None:
    result = parser.parse(name)
    assert isinstance(result, ParseFailure)
    assert result.reason
    assert name not in result.reason or not name


def test_parse_is_deterministic(parser: NameParser) -> None:
    names = [c[0] for c in CASES]
    assert [parser.parse(n) for n in names] == [parser.parse(n) for n in names]


_SIMPLE_FORMS = {
    "tablets": ("tablet", False),
    "modified-release tablets": ("modified-release tablet", True),
    "capsules": ("capsule", False),
    "modified-release capsules": ("modified-release capsule", True),
    "suppositories": ("suppository", False),
    "sublingual tablets": ("sublingual tablet", False),
}
_amounts = st.decimals(min_value=Decimal("0.1"), max_value=Decimal(2000), places=1).map(
    lambda d: d.normalize()
)


@given(
    ingredient=st.sampled_from(["Morphine", "Oxycodone", "Tramadol", "Codeine", "Tapentadol"]),
    amount=_amounts,
    unit=st.sampled_from(["mg", "microgram"]),
    phrase=st.sampled_from(sorted(_SIMPLE_FORMS)),
    sugar_free=st.booleans(),
)
def test_generated_unit_names_round_trip(
    parser: NameParser,
    ingredient: str,
    amount: Decimal,
    unit: str,
    phrase: str,
    sugar_free: bool,
) -> None:
    text = f"{amount:f}"
    name = f"{ingredient} {text}{unit} {phrase}" + (" sugar free" if sugar_free else "")
    result = parser.parse(name)
    assert isinstance(result, ParsedName), name
    (ing,) = result.ingredients
    assert (ing.name, ing.amount, ing.unit) == (ingredient.lower(), amount, unit)
    assert (result.form, result.modified_release) == _SIMPLE_FORMS[phrase]
    strength = format_strength(result)
    assert strength is not None
    parsed = parse_strength(strength)
    assert parsed.amounts == (amount * canonical_factor(unit),)


@given(
    ingredient=st.sampled_from(["Morphine sulfate", "Oxycodone", "Methadone", "Codeine"]),
    amount=_amounts,
    volume=st.sampled_from(["1", "2", "5", "10", "3.5", ""]),
)
def test_generated_liquid_names_round_trip(
    parser: NameParser, ingredient: str, amount: Decimal, volume: str
) -> None:
    name = f"{ingredient} {amount:f}mg/{volume}ml oral solution"
    result = parser.parse(name)
    assert isinstance(result, ParsedName), name
    expected_volume = Decimal(volume or "1")
    assert result.volume_ml == expected_volume
    strength = format_strength(result)
    assert strength is not None
    parsed = parse_strength(strength)
    assert parsed.amounts == (amount,)
    assert parsed.volume_ml == expected_volume
