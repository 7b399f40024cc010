"""Worked examples: one hand-calculated prescription for every row of both bundled tables.

Each expected OME is worked out by hand in the comment from the factor printed in the cited
source (Faculty of Pain Medicine Opioids Aware and the BNF; OpenPrescribing
opioid_ing_form_ome.csv; CDC 2022 Table 1), not
from the program's output. ``test_every_row_has_a_worked_example`` makes a new table row fail
until someone adds its worked example here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from opioidcds import ItemStatus, Prescription, calculate_ome
from opioidcds._knowledge.tables import default_table

# (drug, form, strength, dose_quantity, dose_unit, frequency, expected mg OME/day)
UK: list[tuple[str, str, str, Any, str, dict[str, int], str]] = [
    # morphine oral 1 (OA/BNF): 10 mg x 1 x 4/day = 40 mg/day x 1 = 40
    ("morphine", "tablet", "10 mg", 1, "tablet", {"doses_per_day": 4}, "40"),
    # morphine rectal 1 (BNF): 15 mg x 2/day = 30 x 1 = 30
    ("morphine", "suppository", "15 mg", 1, "suppository", {"doses_per_day": 2}, "30"),
    # morphine injection 2 (BNF): 5 mg x (24/4 = 6)/day = 30 mg/day x 2 = 60
    ("morphine", "injection", "10 mg/mL", 5, "mg", {"interval_hours": 4}, "60"),
    # codeine oral 0.1: 30 mg x 2 x 4/day = 240 x 0.1 = 24
    ("codeine", "tablet", "30 mg", 2, "tablet", {"doses_per_day": 4}, "24"),
    # codeine rectal 0.1: 30 mg x 4/day = 120 x 0.1 = 12
    ("codeine", "suppository", "30 mg", 1, "suppository", {"doses_per_day": 4}, "12"),
    # codeine injection 0.1 (GPN): 30 mg x 4/day = 120 x 0.1 = 12
    ("codeine", "injection", "60 mg/mL", 30, "mg", {"doses_per_day": 4}, "12"),
    # dihydrocodeine oral 0.1: 30 mg x 4/day = 120 x 0.1 = 12
    ("dihydrocodeine", "tablet", "30 mg", 1, "tablet", {"doses_per_day": 4}, "12"),
    # dihydrocodeine injection 0.1: 50 mg x 2/day = 100 x 0.1 = 10
    ("dihydrocodeine", "injection", "50 mg/mL", 50, "mg", {"doses_per_day": 2}, "10"),
    # tramadol oral 0.1: 50 mg x 2 x 4/day = 400 x 0.1 = 40
    ("tramadol", "capsule", "50 mg", 2, "capsule", {"doses_per_day": 4}, "40"),
    # tramadol injection 0.2 (SPC): 50 mg/mL x 2 mL = 100 mg x 3/day = 300 x 0.2 = 60
    ("tramadol", "injection", "50 mg/mL", 2, "mL", {"doses_per_day": 3}, "60"),
    # tapentadol oral 0.4 (OA): 100 mg x 2/day = 200 x 0.4 = 80
    ("tapentadol", "modified-release tablet", "100 mg", 1, "tablet", {"doses_per_day": 2}, "80"),
    # oxycodone oral 1.5: 40 mg x 2/day = 80 x 1.5 = 120
    ("oxycodone", "modified-release tablet", "40 mg", 1, "tablet", {"doses_per_day": 2}, "120"),
    # oxycodone rectal 1.5: 30 mg x (24/8 = 3)/day = 90 x 1.5 = 135
    ("oxycodone", "suppository", "30 mg", 1, "suppository", {"interval_hours": 8}, "135"),
    # oxycodone injection 3 (BNF): 10 mg/mL x 1 mL = 10 mg x 6/day = 60 x 3 = 180
    ("oxycodone", "injection", "10 mg/mL", 1, "mL", {"interval_hours": 4}, "180"),
    # hydromorphone oral 5: 1.3 mg x 6/day = 7.8 x 5 = 39
    ("hydromorphone", "capsule", "1.3 mg", 1, "capsule", {"interval_hours": 4}, "39"),
    # hydromorphone injection 12.5 (Reddy): 1 mg x 6/day = 6 x 12.5 = 75
    ("hydromorphone", "injection", "2 mg/mL", 1, "mg", {"interval_hours": 4}, "75"),
    # fentanyl transdermal 2.4 per microgram/hour (OA): 25 x 2.4 = 60
    (
        "fentanyl",
        "transdermal patch",
        "25 microgram/hour",
        1,
        "patch",
        {"interval_hours": 72},
        "60",
    ),
    # fentanyl buccal 130 per mg: 100 microgram = 0.1 mg x 4/day = 0.4 mg x 130 = 52
    ("fentanyl", "buccal tablet", "100 microgram", 1, "tablet", {"doses_per_day": 4}, "52"),
    # fentanyl sublingual 130 per mg: 0.2 mg x 2/day = 0.4 mg x 130 = 52
    ("fentanyl", "sublingual tablet", "200 microgram", 1, "tablet", {"doses_per_day": 2}, "52"),
    # fentanyl oromucosal 130 per mg: 0.4 mg x 1/day = 0.4 x 130 = 52
    ("fentanyl", "lozenge", "400 microgram", 1, "lozenge", {"doses_per_day": 1}, "52"),
    # fentanyl nasal 160 per mg: 0.1 mg x 4/day = 0.4 mg x 160 = 64
    ("fentanyl", "nasal spray", "100 microgram/dose", 1, "spray", {"doses_per_day": 4}, "64"),
    # fentanyl injection 150 per mg: 0.05 mg/mL x 2 mL = 0.1 mg/day x 150 = 15
    ("fentanyl", "injection", "50 microgram/mL", 2, "mL", {"doses_per_day": 1}, "15"),
    # buprenorphine transdermal 2.4 per microgram/hour: 5 x 2.4 = 12
    (
        "buprenorphine",
        "transdermal patch",
        "5 microgram/hour",
        1,
        "patch",
        {"interval_hours": 168},
        "12",
    ),
    # buprenorphine sublingual 60 per mg: 0.2 mg x 3/day = 0.6 mg x 60 = 36
    (
        "buprenorphine",
        "sublingual tablet",
        "200 microgram",
        1,
        "tablet",
        {"doses_per_day": 3},
        "36",
    ),
    # buprenorphine buccal 60 per mg: 0.4 mg x 2/day = 0.8 mg x 60 = 48
    ("buprenorphine", "buccal film", "400 microgram", 1, "film", {"doses_per_day": 2}, "48"),
    # buprenorphine oromucosal 60 per mg: 2 mg x 1/day = 2 x 60 = 120
    ("buprenorphine", "lozenge", "2 mg", 1, "lozenge", {"doses_per_day": 1}, "120"),
    # buprenorphine injection 100 per mg: 0.3 mg/mL x 1 mL x 2/day = 0.6 mg x 100 = 60
    ("buprenorphine", "injection", "300 microgram/mL", 1, "mL", {"doses_per_day": 2}, "60"),
    # diamorphine injection 3.3: 5 mg x 6/day = 30 x 3.3 = 99
    ("diamorphine", "injection", "5 mg", 1, "ampoule", {"interval_hours": 4}, "99"),
    # diamorphine oral 1 (GPN): 10 mg x 2/day = 20 x 1 = 20
    ("diamorphine", "tablet", "10 mg", 1, "tablet", {"doses_per_day": 2}, "20"),
    # diamorphine rectal 1 (GPN): 10 mg x 2/day = 20 x 1 = 20
    ("diamorphine", "suppository", "10 mg", 1, "suppository", {"doses_per_day": 2}, "20"),
    # diamorphine inhalation 1 (GPN): 5 mg/mL x 1 mL x 2/day = 10 x 1 = 10
    ("diamorphine", "inhalation", "5 mg/mL", 1, "mL", {"doses_per_day": 2}, "10"),
    # pethidine oral 0.1 (ABHB): 50 mg x 4/day = 200 x 0.1 = 20
    ("pethidine", "tablet", "50 mg", 1, "tablet", {"doses_per_day": 4}, "20"),
    # pethidine injection 0.24 (ABHB): 50 mg x 4/day = 200 x 0.24 = 48
    ("pethidine", "injection", "50 mg/mL", 1, "mL", {"doses_per_day": 4}, "48"),
    # pentazocine oral 0.37 (CMS): 50 mg x 4/day = 200 x 0.37 = 74
    ("pentazocine", "capsule", "50 mg", 1, "capsule", {"doses_per_day": 4}, "74"),
    # pentazocine rectal 0.37: 50 mg x 2/day = 100 x 0.37 = 37
    ("pentazocine", "suppository", "50 mg", 1, "suppository", {"doses_per_day": 2}, "37"),
    # pentazocine injection 0.37: 30 mg x 4/day = 120 x 0.37 = 44.4
    ("pentazocine", "injection", "30 mg/mL", 1, "mL", {"doses_per_day": 4}, "44.4"),
    # dipipanone oral 0.5 (Barnett), as dipipanone 10 mg + cyclizine 30 mg:
    # 10 mg x 4/day = 40 x 0.5 = 20 (cyclizine contributes nothing)
    ("dipipanone/cyclizine", "tablet", "10 mg/30 mg", 1, "tablet", {"doses_per_day": 4}, "20"),
    # meptazinol oral 0.03 (ABHB): 200 mg x 6/day = 1200 x 0.03 = 36
    ("meptazinol", "tablet", "200 mg", 1, "tablet", {"doses_per_day": 6}, "36"),
    # meptazinol injection 0.03: 100 mg x 4/day = 400 x 0.03 = 12
    ("meptazinol", "injection", "100 mg/mL", 1, "mL", {"doses_per_day": 4}, "12"),
    # dextromoramide oral 2 (Barnett): 5 mg x 4/day = 20 x 2 = 40
    ("dextromoramide", "tablet", "5 mg", 1, "tablet", {"doses_per_day": 4}, "40"),
    # dextropropoxyphene oral 0.1 (GPN), as co-proxamol 32.5/325: 32.5 x 2 x 4 = 260 x 0.1 = 26
    ("co-proxamol", "tablet", "32.5 mg/325 mg", 2, "tablet", {"doses_per_day": 4}, "26"),
    # alfentanil injection 30 per mg: 0.5 mg/mL x 1 mL x 2/day = 1 mg x 30 = 30
    ("alfentanil", "injection", "500 microgram/mL", 1, "mL", {"doses_per_day": 2}, "30"),
    # alfentanil nasal 30 per mg: 0.14 mg x 5/day = 0.7 mg x 30 = 21
    ("alfentanil", "nasal spray", "140 microgram/dose", 1, "spray", {"doses_per_day": 5}, "21"),
    # papaveretum injection 0.67 (Loan): 15.4 mg x 3/day = 46.2 x 0.67 = 30.954
    ("papaveretum", "injection", "15.4 mg/mL", 1, "mL", {"doses_per_day": 3}, "30.954"),
    # nalbuphine injection 1: 10 mg x 4/day = 40 x 1 = 40
    ("nalbuphine", "injection", "10 mg/mL", 1, "mL", {"doses_per_day": 4}, "40"),
]

CDC: list[tuple[str, str, str, Any, str, dict[str, int], str]] = [
    # codeine 0.15 (CDC 2022 Table 1): co-codamol 30/500 2 x 4/day: 240 mg x 0.15 = 36
    ("co-codamol", "tablet", "30 mg/500 mg", 2, "tablet", {"doses_per_day": 4}, "36"),
    # fentanyl transdermal 2.4 per microgram/hour: 25 x 2.4 = 60
    (
        "fentanyl",
        "transdermal patch",
        "25 microgram/hour",
        1,
        "patch",
        {"interval_hours": 72},
        "60",
    ),
    # hydrocodone 1: 10 mg x 4/day = 40 x 1 = 40
    ("hydrocodone", "tablet", "10 mg", 1, "tablet", {"doses_per_day": 4}, "40"),
    # hydromorphone 5: 2 mg x 6/day = 12 x 5 = 60
    ("hydromorphone", "capsule", "2 mg", 1, "capsule", {"interval_hours": 4}, "60"),
    # methadone 4.7: 5 mg x 3/day = 15 x 4.7 = 70.5
    ("methadone", "tablet", "5 mg", 1, "tablet", {"doses_per_day": 3}, "70.5"),
    # morphine 1: 30 mg x 2/day = 60 x 1 = 60
    ("morphine", "modified-release tablet", "30 mg", 1, "tablet", {"doses_per_day": 2}, "60"),
    # oxycodone 1.5: CDC's own example, ER 10 mg twice a day = 20 mg x 1.5 = 30
    ("oxycodone", "modified-release tablet", "10 mg", 1, "tablet", {"doses_per_day": 2}, "30"),
    # oxymorphone 3: 5 mg x 4/day = 20 x 3 = 60
    ("oxymorphone", "tablet", "5 mg", 1, "tablet", {"doses_per_day": 4}, "60"),
    # tapentadol 0.4: 50 mg x 4/day = 200 x 0.4 = 80
    ("tapentadol", "tablet", "50 mg", 1, "tablet", {"doses_per_day": 4}, "80"),
    # tramadol 0.2: 50 mg x 4/day = 200 x 0.2 = 40
    ("tramadol", "capsule", "50 mg", 1, "capsule", {"doses_per_day": 4}, "40"),
]

# Rows with convertible = false: (table, drug, form, strength, dose unit, words in the reason)
NOT_CONVERTIBLE = [
    ("uk-opioids-aware", "methadone", "oral solution", "1 mg/mL", "mL", "Opioids Aware"),
    ("uk-opioids-aware", "methadone", "injection", "10 mg/mL", "mL", "No UK conversion factor"),
    (
        "cdc-2022",
        "buprenorphine",
        "transdermal patch",
        "5 microgram/hour",
        "patch",
        "partial agonist",
    ),
    ("cdc-2022", "buprenorphine", "sublingual tablet", "2 mg", "tablet", "partial agonist"),
    ("cdc-2022", "buprenorphine", "buccal film", "2 mg", "film", "partial agonist"),
    ("cdc-2022", "dihydrocodeine", "tablet", "30 mg", "tablet", "Not in the CDC 2022 table"),
]


def _rx(
    drug: str, form: str, strength: str, qty: Any, unit: str, freq: dict[str, int]
) -> Prescription:
    return Prescription(
        drug=drug, form=form, strength=strength, dose_quantity=qty, dose_unit=unit, **freq
    )


@pytest.mark.parametrize(("drug", "form", "strength", "qty", "unit", "freq", "expected"), UK)
def test_uk_worked_example(
    drug: str, form: str, strength: str, qty: Any, unit: str, freq: dict[str, int], expected: str
) -> None:
    result = calculate_ome([_rx(drug, form, strength, qty, unit, freq)])
    assert result.complete
    assert result.total_mg_per_day == Decimal(expected)


@pytest.mark.parametrize(("drug", "form", "strength", "qty", "unit", "freq", "expected"), CDC)
def test_cdc_worked_example(
    drug: str, form: str, strength: str, qty: Any, unit: str, freq: dict[str, int], expected: str
) -> None:
    result = calculate_ome([_rx(drug, form, strength, qty, unit, freq)], table="cdc-2022")
    assert result.complete
    assert result.total_mg_per_day == Decimal(expected)
    assert result.table_id == "cdc-2022"


@pytest.mark.parametrize(("table", "drug", "form", "strength", "unit", "words"), NOT_CONVERTIBLE)
def test_rows_without_factor_are_not_convertible(
    table: str, drug: str, form: str, strength: str, unit: str, words: str
) -> None:
    result = calculate_ome([_rx(drug, form, strength, 1, unit, {"doses_per_day": 1})], table=table)
    (item,) = result.items
    assert item.status is ItemStatus.NOT_CONVERTIBLE
    assert item.ome_mg_per_day is None
    assert words in (item.reason or "")
    assert not result.complete
    assert result.total_mg_per_day == 0  # a lower bound, flagged incomplete, never a silent 0


@pytest.mark.parametrize(("table", "examples"), [("uk-opioids-aware", UK), ("cdc-2022", CDC)])
def test_every_row_has_a_worked_example(
    table: str, examples: list[tuple[str, str, str, Any, str, dict[str, int], str]]
) -> None:
    covered: set[tuple[str, str]] = set()
    for example in examples:
        result = calculate_ome([_rx(*example[:6])], table=table)
        covered.update((i.ingredient or "", i.route or "") for i in result.items)
    covered.update(
        (
            calculate_ome([_rx(d, f, s, 1, u, {"doses_per_day": 1})], table=t).items[0].ingredient
            or "",
            calculate_ome([_rx(d, f, s, 1, u, {"doses_per_day": 1})], table=t).items[0].route or "",
        )
        for t, d, f, s, u, _ in NOT_CONVERTIBLE
        if t == table
    )
    rows = {(r.ingredient, r.route) for r in default_table(table).rows()}
    assert rows - covered == set(), "every table row needs a hand-worked example"
