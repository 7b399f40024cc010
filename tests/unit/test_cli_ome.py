"""``opioidcds ome``: readable table, JSON, options and exit codes (issue 2, section 6)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opioidcds.cli.app import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "patient-example.json"
runner = CliRunner()

OXY = {
    "drug": "oxycodone",
    "form": "modified-release tablet",
    "strength": "40 mg",
    "dose_quantity": 1,
    "dose_unit": "tablet",
    "doses_per_day": 2,
}


def run(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, args, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_example_patient_readable() -> None:
    code, out, _ = run(["ome", str(EXAMPLE)])
    assert code == 0  # computed, although incomplete (methadone)
    # example by hand: oxycodone 40 x 2 x 1.5 = 120; co-codamol 30 x 2 x 4 x 0.1 = 24;
    # fentanyl 12 x 2.4 = 28.8; PRN morphine 5 mL (10 mg) capped at 4 doses = 40 x 1 = 40;
    # methadone not convertible -> at least 120 + 24 + 28.8 + 40 = 212.8
    assert "at least 212.8 mg OME/day" in out
    assert "INCOMPLETE" in out
    # the table by its title, version and effective date (conversion_tables/uk-opioids-aware.toml)
    assert "Conversion table: UK oral morphine equivalents: Opioids Aware and BNF" in out
    assert "uk-opioids-aware" not in out


def test_json_output_has_decimal_strings() -> None:
    code, out, _ = run(["ome", "-", "--json"], stdin=json.dumps([OXY]))
    assert code == 0
    data = json.loads(out)
    assert data["total_mg_per_day"] == "120.0"  # 80 mg x 1.5, a string, never a float
    assert data["complete"] is True
    assert data["items"][0]["arithmetic"].endswith("= 120 mg OME/day")


@pytest.mark.parametrize(
    ("options", "total"),
    [(["--table", "cdc-2022"], "36.00"), (["--table", "uk-opioids-aware"], "24.0")],
)
def test_table_option(options: list[str], total: str) -> None:
    cocodamol = {
        "drug": "co-codamol",
        "form": "tablet",
        "strength": "30 mg/500 mg",
        "dose_quantity": 2,
        "dose_unit": "tablet",
        "doses_per_day": 4,
    }
    code, out, _ = run(["ome", "-", "--json", *options], stdin=json.dumps([cocodamol]))
    assert code == 0
    assert json.loads(out)["total_mg_per_day"] == total


def test_prn_policy_option() -> None:
    prn = {**OXY, "prn": True, "max_doses_per_day": 2}
    code, out, _ = run(
        ["ome", "-", "--json", "--prn-policy", "regular-only"], stdin=json.dumps([prn])
    )
    assert code == 0
    data = json.loads(out)
    assert data["prn_policy"] == "regular-only"
    assert data["items"][0]["status"] == "excluded"


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        json.dumps({"patient": "x"}),
        '[{"drug": "oxycodone", "dose_quantity": NaN}]',  # not JSON numbers: the input is refused
    ],
)
def test_input_of_the_wrong_shape_exit_2_with_message_on_stderr(payload: str) -> None:
    code, out, err = run(["ome", "-"], stdin=payload)
    assert code == 2
    assert out == ""
    assert err.startswith("opioidcds: error:")


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({**OXY, "strength": "40 MG"}, "strength"),
        ({**OXY, "dose_quantity": -1}, "dose_quantity"),
    ],
)
def test_one_unreadable_item_is_listed_and_the_rest_computed(
    bad: dict[str, object], field: str
) -> None:
    # issue 18: the invalid item is listed with its field and rule (never its value); the other
    # is computed: oxycodone 40 mg x 2/day = 80 mg x 1.5 = 120, a stated lower bound
    code, out, err = run(["ome", "-", "--json"], stdin=json.dumps([bad, OXY]))
    assert code == 0, err
    data = json.loads(out)
    assert data["total_mg_per_day"] == "120.0"
    assert data["complete"] is False
    assert data["lower_bound_reasons"] == [
        "an entry of the input that may be a current opioid was not read"
    ]
    (skip,) = data["skipped"]
    assert skip["path"] == "prescriptions[0]"
    assert skip["reason"].startswith(f"not read: {field}: ")
    assert skip["affects_total"] is True
    assert data["sources"] == ["prescriptions[1]"]
    assert "40 MG" not in out
    code, text, _ = run(["ome", "-"], stdin=json.dumps([bad, OXY]))
    assert code == 0
    assert "Not read from the input (1):" in text
    assert "item 1 (oxycodone): not read:" in text
    assert "at least 120 mg OME/day" in text


def test_a_dose_without_frequency_is_an_item_not_converted() -> None:
    code, out, _ = run(["ome", "-", "--json"], stdin=json.dumps([{**OXY, "doses_per_day": None}]))
    assert code == 0
    data = json.loads(out)
    assert data["complete"] is False
    assert data["total_mg_per_day"] == "0"
    (item,) = data["items"]
    assert item["status"] == "not_convertible"
    assert item["reason"].startswith("not read: doses_per_day: ")


def test_a_list_with_nothing_readable_is_refused_naming_the_first_problem() -> None:
    # no other item to keep: exit 2, the field named once (never its value)
    code, out, err = run(["ome", "-", "--json"], stdin=json.dumps([{"drug": "oxycodone"}]))
    assert code == 2
    assert out == ""
    assert "prescriptions[0].form: form or route is required" in err


def test_an_empty_fhir_bundle_is_never_complete() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": []}
    code, out, _ = run(["ome", "-", "--fhir", "--json"], stdin=json.dumps(bundle))
    assert code == 0
    data = json.loads(out)
    assert data["total_mg_per_day"] == "0"
    assert data["complete"] is False
    assert data["lower_bound_reasons"][0].startswith("nothing was read from the input")


def test_missing_file_exit_2() -> None:
    code, _, err = run(["ome", "/nonexistent/file.json"])
    assert code == 2
    assert "no such file: check the path" in err
    assert "/nonexistent/file.json" in err  # which file


def test_ome_accepts_dmd_code_product_name_and_dosage_text() -> None:
    rxs = [
        # Oxycodone 40mg MR, "ONE TWICE A DAY": 40 x 2 = 80 mg x 1.5 = 120
        {"dmd_code": "36130911000001104", "dosage_text": "ONE TO BE TAKEN TWICE A DAY"},
        # co-codamol 30/500 by name, 2 x 4/day: 240 mg codeine x 0.1 = 24
        {
            "product_name": "Co-codamol 30mg/500mg tablets",
            "dose_quantity": 2,
            "dose_unit": "tablet",
            "doses_per_day": 4,
        },
    ]
    code, out, _ = run(["ome", "-", "--json"], stdin=json.dumps(rxs))
    assert code == 0
    assert json.loads(out)["total_mg_per_day"] == "144.0"  # 120 + 24


def test_unknown_dmd_code_is_listed_not_refused() -> None:
    # an unknown dm+d code next to a known prescription: the known one is computed (120, as
    # above), the unknown one listed as not convertible, the total a lower bound
    rxs = [{"dmd_code": "123456789", "dosage_text": "one daily"}, OXY]
    code, out, err = run(["ome", "-", "--json"], stdin=json.dumps(rxs))
    assert code == 0
    data = json.loads(out)
    assert data["total_mg_per_day"] == "120.0"
    assert data["complete"] is False
    unknown = data["items"][0]
    assert unknown["status"] == "not_convertible"
    assert unknown["drug"] == "dm+d product not in the catalogue"
    assert unknown["reason"] == "not read: dmd_code: not in the product catalogue"
    assert "123456789" not in out + err


def test_parse_dosage_command() -> None:
    code, out, _ = run(["parse-dosage", "--json", "APPLY ONE PATCH EVERY 72 HOURS"])
    assert code == 0
    data = json.loads(out)["result"]
    assert data["dose_unit"] == "patch"
    assert data["interval_hours"] == "72"
    code, _, _ = run(["parse-dosage", "take with a pinch of salt"])
    assert code == 1


FHIR_DATA = Path(__file__).resolve().parents[1] / "fhir" / "data"


def test_fhir_option_reads_a_bundle() -> None:
    # CDC fixture "greater than fifty": fentanyl 75 microgram/hour patch x 2.4 = 180 (CDC 2022)
    files = sorted(FHIR_DATA.rglob("*greater-than-fifty-context.json"))
    assert files, "fixture copy missing"
    code, out, err = run(["ome", str(files[0]), "--fhir", "--json", "--table", "cdc-2022"])
    assert code == 0, err
    assert Decimal(json.loads(out)["total_mg_per_day"]) == 180


def test_fhir_option_refuses_non_fhir() -> None:
    code, _, err = run(["ome", "-", "--fhir"], stdin=json.dumps([OXY]))
    assert code == 2
    assert err.startswith("opioidcds: error:")
