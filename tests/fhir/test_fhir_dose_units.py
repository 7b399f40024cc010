"""Dose units real systems send (issue 18): the cited table conversion_tables/dose_units.toml.

UCUM ``{tab}``, ``{tablet}``, ``{tbl}``, ``{capsule}``, ``{patch}``; HL7 v3 orderableDrugForm
``TAB``, ``CAP`` (also under the pre-R4 system URL); the unit text ``Tablet``; dm+d units of
measure as SNOMED CT codes (428673006 tablet). A code the table does not list is never guessed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from fhir_cases import request

from opioidcds import InvalidInputError, KnowledgeBaseError, calculate_ome
from opioidcds._knowledge.dose_units import default_dose_units, load_dose_units
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._resolve.fhir import _unit, from_medication_request

V3 = "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm"
V3_OLD = "http://hl7.org/fhir/v3/orderableDrugForm"
UCUM = "http://unitsofmeasure.org"
SCT = "http://snomed.info/sct"
TABLE = knowledge_dir("conversion_tables") / "dose_units.toml"


def rows() -> list[dict[str, Any]]:
    data: dict[str, Any] = tomllib.loads(TABLE.read_text(encoding="utf-8"))
    return list(data["codes"])


def _row_id(row: dict[str, Any]) -> str:
    return f"{row['system'].rsplit('/', 1)[-1]}:{row['code']}"


@pytest.mark.parametrize("row", rows(), ids=_row_id)
def test_every_row_of_the_table_is_what_the_adapter_reads(row: dict[str, Any]) -> None:
    quantity = {"value": 1, "system": row["system"], "code": row["code"]}
    assert _unit(quantity, "q") == row["unit"]


@pytest.mark.parametrize(
    ("quantity", "unit"),
    [
        ({"system": UCUM, "code": "{tab}"}, "tablet"),
        ({"system": UCUM, "code": "{tablet}"}, "tablet"),
        ({"system": UCUM, "code": "{tbl}", "unit": "tablet"}, "tablet"),  # Epic sandbox
        ({"system": UCUM, "code": "{capsule}"}, "capsule"),
        ({"system": UCUM, "code": "{patch}"}, "patch"),
        ({"system": UCUM, "code": "{tablets}"}, "tablet"),  # annotation labelled by a count noun
        ({"system": V3, "code": "TAB", "unit": "Tablet"}, "tablet"),
        ({"system": V3_OLD, "code": "TAB"}, "tablet"),  # CDC examples: pre-R4 system URL
        ({"system": V3, "code": "CAP"}, "capsule"),
        ({"system": SCT, "code": "428673006", "unit": "tablet"}, "tablet"),
        ({"system": SCT, "code": "428641000"}, "capsule"),
        ({"unit": "Tablet"}, "tablet"),  # a count noun in any case
        ({"unit": "TABLETS"}, "tablets"),
        ({"system": V3_OLD, "code": "tablet", "unit": "tablet"}, "tablet"),  # not a code: text
    ],
)
def test_units_real_systems_send(quantity: dict[str, Any], unit: str) -> None:
    assert _unit({"value": 1, **quantity}, "q") == unit


@pytest.mark.parametrize(
    "quantity",
    [
        {"system": SCT, "code": "732936001"},  # international unit of presentation: not listed
        {"system": UCUM, "code": "{puff}"},  # an annotation that names no count noun
        {"system": V3, "code": "SLTAB"},  # not verified: left out of the table
        {"unit": "MG"},  # megagauss in pint: never read as mg
        {},
    ],
)
def test_codes_not_in_the_table_are_not_guessed(quantity: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError) as info:
        _unit({"value": 1, **quantity}, "q")
    assert info.value.field == "q.unit"


def test_text_that_contradicts_the_code_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="contradicts the unit code"):
        _unit({"value": 1, "system": V3, "code": "TAB", "unit": "capsule"}, "q")


def test_cdc_style_tab_dose_end_to_end() -> None:
    # oxycodone 10 mg tablet (RxNorm display), 1 TAB (v3) twice a day:
    # 10 mg x 1 x 2/day = 20 mg/day x 1.5 (oxycodone oral, CDC 2022) = 30 MME/day
    dose = {"value": 1, "unit": "Tablet", "system": V3, "code": "TAB"}
    mr = request(
        timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
        doseAndRate=[{"doseQuantity": dose}],
    )
    rx = from_medication_request(mr)
    assert rx.dose_unit == "tablet"
    assert calculate_ome([rx], table="cdc-2022").total_mg_per_day == 30


def test_dmd_unit_of_measure_code_end_to_end() -> None:
    # the same order with the dm+d unit of measure 428673006 (tablet): 30 again
    dose = {"value": 1, "unit": "tablet", "system": SCT, "code": "428673006"}
    mr = request(
        timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
        doseAndRate=[{"doseQuantity": dose}],
    )
    assert calculate_ome([from_medication_request(mr)], table="cdc-2022").total_mg_per_day == 30


# --- the knowledge file itself ---------------------------------------------------------------


def test_bundled_table_loads_with_its_version() -> None:
    units = default_dose_units()
    assert units.version == "1.0.1"
    assert units.unit(V3_OLD, "TAB") == "tablet"
    assert units.same_solid_dose("capsule", "tablet")
    assert not units.same_solid_dose("patch", "tablet")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dose_units.toml"
    path.write_text(text, encoding="utf-8")
    return path


HEADER = """
id = "dose-units"
version = "9"
effective_date = "2026-12-04"
owner = "test"
[[citations]]
id = "c"
text = "a source"
"""


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('[[codes]]\nsystem = "s"\ncode = "x"\nunit = "furlong"\ncitations = ["c"]\n', "unit"),
        ('[[codes]]\nsystem = "s"\ncode = "x"\nunit = "tablets"\ncitations = ["c"]\n', "unit"),
        ('[[codes]]\nsystem = "s"\ncode = "x"\nunit = "mg"\ncitations = ["nope"]\n', "unknown id"),
        (
            '[[codes]]\nsystem = "s"\ncode = "x"\nunit = "mg"\ncitations = ["c"]\n'
            '[[codes]]\nsystem = "s"\ncode = "x"\nunit = "g"\ncitations = ["c"]\n',
            "twice",
        ),
        (
            '[[codes]]\nsystem = "s"\ncode = "x"\nunit = "mg"\ncitations = ["c"]\nextra = 1\n',
            "extra",
        ),
    ],
)
def test_invalid_tables_are_refused_at_load(tmp_path: Path, body: str, words: str) -> None:
    with pytest.raises(KnowledgeBaseError, match=words):
        load_dose_units(_write(tmp_path, HEADER + body))
