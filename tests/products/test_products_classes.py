"""classify_medicine: benzodiazepines, z-drugs, gabapentinoids, opioids, opioid-dependence
treatment (BNF 4.1, 4.8, 4.7.3, 4.10.3), by name, never fuzzy."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opioidcds import Catalogue, MedicineClass, classify_medicine
from opioidcds._knowledge.product_names import NameParser
from opioidcds._knowledge.products import is_opioid_dependence_treatment

B, Z, G = MedicineClass.BENZODIAZEPINE, MedicineClass.Z_DRUG, MedicineClass.GABAPENTINOID
OP, OST = MedicineClass.OPIOID, MedicineClass.OPIOID_DEPENDENCE_TREATMENT


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # benzodiazepines (BNF 4.1.1, 4.1.2, 4.8)
        ("Diazepam 5mg tablets", {B}),
        ("Diazepam 2mg/5ml oral solution", {B}),
        ("Diazepam 10mg rectal tubes", {B}),
        ("Lorazepam 1mg tablets", {B}),
        ("Temazepam 10mg tablets", {B}),
        ("Temazepam 10mg/5ml oral solution sugar free", {B}),
        ("Nitrazepam 5mg tablets", {B}),
        ("Clonazepam 500microgram tablets", {B}),
        ("Chlordiazepoxide 10mg capsules", {B}),
        ("Oxazepam 10mg tablets", {B}),
        ("Alprazolam 250microgram tablets", {B}),
        ("Lormetazepam 1mg tablets", {B}),
        ("Clobazam 10mg tablets", {B}),
        ("Midazolam 10mg/2ml oromucosal solution pre-filled oral syringes", {B}),
        ("Valium 5mg tablets", {B}),
        ("Buccolam 10mg/2ml oromucosal solution", {B}),
        ("DIAZEPAM 5MG TABLETS", {B}),
        # z-drugs (BNF 4.1.1)
        ("Zopiclone 7.5mg tablets", {Z}),
        ("Zopiclone 3.75mg tablets", {Z}),
        ("Zolpidem 10mg tablets", {Z}),
        ("Zaleplon 5mg capsules", {Z}),
        ("Zimovane 7.5mg tablets", {Z}),
        ("Stilnoct 5mg tablets", {Z}),
        # gabapentinoids (BNF 4.8.1, 4.7.3)
        ("Gabapentin 300mg capsules", {G}),
        ("Gabapentin 600mg tablets", {G}),
        ("Gabapentin 50mg/ml oral solution", {G}),
        ("Pregabalin 75mg capsules", {G}),
        ("Pregabalin 20mg/ml oral solution sugar free", {G}),
        ("Lyrica 150mg capsules", {G}),
        ("Neurontin 400mg capsules", {G}),
        # opioids for pain
        ("Oxycodone 5mg capsules", {OP}),
        ("Co-codamol 30mg/500mg tablets", {OP}),
        ("Zapain 30mg/500mg capsules", {OP}),
        ("BuTrans 10micrograms/hour transdermal patches", {OP}),
        ("Temgesic 400microgram sublingual tablets", {OP}),  # analgesic strength
        ("Buprenorphine 200microgram sublingual tablets sugar free", {OP}),
        ("Buprenorphine 5micrograms/hour transdermal patches", {OP}),
        ("Methadone 2mg/5ml linctus", {OP}),  # cough linctus, not OST
        ("Methadone 5mg tablets", {OP}),
        ("Methadone 10mg/1ml solution for injection ampoules", {OP}),
        ("Physeptone 5mg tablets", {OP}),
        # opioid dependence treatment (BNF 4.10.3)
        ("Methadone 1mg/ml oral solution sugar free", {OP, OST}),
        ("Methadone 1mg/ml oral solution", {OP, OST}),
        ("Methadone 10mg/ml oral solution sugar free", {OP, OST}),
        ("Physeptone 1mg/ml oral solution sugar free", {OP, OST}),
        ("Methadose 10mg/ml oral concentrate", {OP, OST}),
        ("Buprenorphine 2mg sublingual tablets sugar free", {OP, OST}),
        ("Buprenorphine 8mg sublingual tablets sugar free", {OP, OST}),
        ("Subutex 8mg sublingual tablets", {OP, OST}),
        ("Subutex 0.4mg sublingual tablets", {OP, OST}),  # by brand
        ("Espranor 8mg oral lyophilisates", {OP, OST}),
        ("Suboxone 8mg/2mg sublingual tablets", {OP, OST}),
        ("Buprenorphine 8mg / Naloxone 2mg sublingual tablets sugar free", {OP, OST}),
        ("Buprenorphine 8mg / Naloxone 2mg sublingual films sugar free", {OP, OST}),
        (
            "Buvidal 64mg/0.18ml prolonged-release solution for injection pre-filled syringes",
            {OP, OST},
        ),
        (
            "Buprenorphine 96mg/0.27ml prolonged-release solution for injection pre-filled syringes",  # noqa: E501
            {OP, OST},
        ),
        # negatives
        ("Paracetamol 500mg tablets", set()),
        ("Ibuprofen 400mg tablets", set()),
        ("Amitriptyline 10mg tablets", set()),
        ("Naloxone 400micrograms/1ml solution for injection ampoules", set()),
        ("Diazepan 5mg tablets", set()),  # misspelt: never fuzzy
        ("Gabapentine 300mg capsules", set()),
        ("", set()),
    ],
)
def test_classify(name: str, expected: set[MedicineClass]) -> None:
    assert classify_medicine(name) == frozenset(expected)


def test_oxycodone_is_not_a_benzodiazepine() -> None:
    classes = classify_medicine("Oxycodone 10mg modified-release tablets")
    assert B not in classes
    assert classes == {OP}


def test_combined_text_has_several_classes() -> None:
    assert classify_medicine("Diazepam 5mg tablets and Gabapentin 300mg capsules") == {B, G}


def test_returns_frozenset_of_str_enum() -> None:
    result = classify_medicine("Pregabalin 75mg capsules")
    assert isinstance(result, frozenset)
    assert [str(c) for c in result] == ["gabapentinoid"]


def test_ost_helper() -> None:
    assert is_opioid_dependence_treatment("Subutex 2mg sublingual tablets")
    assert not is_opioid_dependence_treatment("BuTrans 5micrograms/hour transdermal patches")


def test_every_catalogue_product_is_an_opioid(catalogue: Catalogue) -> None:
    for p in catalogue:
        if p.superseded_by is None:
            assert OP in classify_medicine(p.product_name), p.product_name


def test_catalogue_ost_flags_match_classification(catalogue: Catalogue) -> None:
    # the codelists exclude drugs for substance misuse, so no entry should be flagged
    flagged = [p.product_name for p in catalogue if p.opioid_dependence_treatment]
    assert flagged == []


def test_build_flags_ost_products(tmp_path: Path) -> None:
    """The build marks OST presentations (here from a small synthetic codelist)."""
    repo = Path(__file__).resolve().parents[2]
    codelist = tmp_path / "codelists"
    codelist.mkdir()
    (codelist / "ost-test-dmd.csv").write_text(
        "code,term,dmd_id,dmd_type,bnf_code\n"
        "111,Methadone 1mg/ml oral solution sugar free,111,VMP,0410030A0AAAAAA\n"
        "222,Buprenorphine 8mg sublingual tablets sugar free,222,VMP,0410030C0AAABAB\n"
        "333,Buprenorphine 400microgram sublingual tablets sugar free,333,VMP,0407020B0AAAFAF\n"
        "444,Methadone 2mg/5ml linctus,444,VMP,0309010N0AAAAAA\n",
        encoding="utf-8",
    )
    sys.path.insert(0, str(repo / "scripts"))
    try:
        import build_catalogue  # noqa: PLC0415 - a script, importable only from scripts/
    finally:
        sys.path.remove(str(repo / "scripts"))
    files = build_catalogue.build(
        codelist,
        repo / "catalogue",
        repo / "conversion_tables",
        require_every_review_used=False,
    )
    rows = {r["dmd_code"]: r for r in csv.DictReader(io.StringIO(files["uk-dmd-opioids.csv"]))}
    assert {code: rows[code]["opioid_dependence_treatment"] for code in rows} == {
        "111": "true",
        "222": "true",
        "333": "false",
        "444": "false",
    }
    assert rows["222"]["strength"] == "8 mg"
    assert rows["222"]["form"] == "sublingual tablet"


@given(st.text(max_size=80))
def test_classify_never_raises(text: str) -> None:
    result = classify_medicine(text)
    assert result <= frozenset(MedicineClass)


@given(st.text(max_size=80))
def test_parser_never_raises(parser: NameParser, text: str) -> None:
    parser.parse(text)
