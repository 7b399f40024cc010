"""Defects found by the safety work, each pinned by a regression test.

A defect found and not yet fixed is added here marked ``xfail(strict=True)``: the fix makes it
pass, strict xfail turns that into a failure, and the fixer removes the marker (and updates
docs/safety/ and the report that named it). All defects below are fixed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opioidcds import (
    Catalogue,
    OpioidCDSError,
    Prescription,
    UnknownProductError,
    calculate_ome,
    load_catalogue,
)
from opioidcds.cli.app import app

STRUCTURED = {
    "drug": "oxycodone",
    "form": "tablet",
    "strength": "10 mg",
    "dose_quantity": 1,
    "dose_unit": "tablet",
    "doses_per_day": 2,
}
OXY_BY_CODE = {"dose_quantity": 1, "dose_unit": "tablet", "doses_per_day": 2}


def test_calculate_ome_accepts_an_explicit_catalogue() -> None:
    """Found here (TypeError: the Catalogue reached an lru_cache key), fixed on main (9880b14)."""
    catalogue = load_catalogue()
    product = next(p for p in catalogue if p.strength == "10 mg" and p.form == "tablet")
    rx = Prescription(dmd_code=product.dmd_code, **OXY_BY_CODE)
    # the documented parameter: "catalogue: the dm+d product catalogue for prescriptions
    # given by dmd_code or product_name"; passing the bundled one must give the default result
    try:
        result = calculate_ome([rx], catalogue=catalogue)
    except OpioidCDSError:  # pragma: no cover - a typed error would at least fail closed
        pytest.fail("typed error")
    assert result == calculate_ome([rx])


def test_cli_renders_drug_names_literally(tmp_path: Path) -> None:
    path = tmp_path / "rx.json"
    drug = "x[/bold]"
    path.write_text(json.dumps([{**STRUCTURED, "drug": drug}]), encoding="utf-8")
    result = CliRunner().invoke(app, ["ome", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 0
    assert drug in result.stdout  # shown literally as the item's name


def test_range_from_dosage_text_says_which_end_was_counted() -> None:
    # 1-2 tablets every 4-6 hours: upper end 2 x 24/4 = 12 tablets x 10 mg = 120 mg x 1 = 120
    p = Prescription(
        drug="morphine", form="tablet", strength="10 mg", dosage_text="1-2 tablets every 4-6 hours"
    )
    item = calculate_ome([p]).items[0]
    assert item.ome_mg_per_day == 120
    assert item.policy_note is not None
    assert "range counted at its upper end" in item.policy_note


def test_an_empty_caller_catalogue_is_not_replaced_by_the_bundled_one() -> None:
    # Found in review (session 2): `catalogue or load_catalogue()` treated a caller's empty
    # Catalogue (len 0, so falsy) as "none given" and silently resolved from the bundled one.
    empty = Catalogue(id="empty", version="0", products=(), _by_code={}, _by_name={})
    bundled = load_catalogue()
    code = bundled.products[0].dmd_code
    rx = Prescription(dmd_code=code, dose_quantity=1, dose_unit="tablet", doses_per_day=1)
    with pytest.raises(UnknownProductError):
        calculate_ome([rx], catalogue=empty, item_errors="raise")
    # listed by default (issue 18), still from the caller's catalogue: the code is unknown there
    (item,) = calculate_ome([rx], catalogue=empty).items
    assert item.reason == "not read: dmd_code: not in the product catalogue"
