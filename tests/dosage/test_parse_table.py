"""The parse table shipped with the dosage grammar (issue 20, cold start).

``src/opioidcds/_resolve/dosage_table.json`` is the LALR(1) table of ``dosage.lark``, built by
lark with ``strict=True`` (conflict-free or it raises), so that the first dosage text of a
process is not delayed by building it. These tests check that the shipped file is exactly what
lark builds from the shipped grammar now, and that a table which is missing, unreadable, stale
(built from another grammar text) or damaged is rebuilt in memory, never driven.

After a change to ``dosage.lark``, write the table again with::

    OPIOIDCDS_WRITE_DOSAGE_TABLE=1 .venv/bin/python -m pytest -q tests/dosage/test_parse_table.py
"""

from __future__ import annotations

import copy
import json
import os
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from opioidcds import Dosage, parse_dosage
from opioidcds._resolve import dosage as dosage_module

_TABLE = Path(str(resources.files("opioidcds._resolve").joinpath("dosage_table.json")))


@pytest.fixture(scope="module")
def fresh() -> dict[str, Any]:
    """The table lark builds from the grammar now (strict: a conflict raises here)."""
    return dosage_module.parse_table_from_grammar()


def test_the_shipped_table_is_the_grammar_built_now(fresh: dict[str, Any]) -> None:
    expected = dosage_module.dump_parse_table(fresh)
    if os.environ.get("OPIOIDCDS_WRITE_DOSAGE_TABLE") == "1":
        _TABLE.write_text(expected, encoding="utf-8")
    shipped = _TABLE.read_text(encoding="utf-8")
    assert shipped == expected, (
        "dosage_table.json is not the table of dosage.lark: write it again "
        "(OPIOIDCDS_WRITE_DOSAGE_TABLE=1, see this module's docstring)"
    )
    grammar = dosage_module._grammar_text()
    assert json.loads(shipped)["grammar_sha256"] == dosage_module.grammar_digest(grammar)


def test_the_shipped_table_is_the_one_driven() -> None:
    dosage_module._tables.cache_clear()
    try:
        data = dosage_module._shipped_table(dosage_module._grammar_text())
        assert data is not None
        states, reductions, start, end = dosage_module._tables()
        assert (len(states), start, end) == (len(data["states"]), data["start"], data["end"])
        assert len(reductions) == len(data["rules"])
    finally:
        dosage_module._tables.cache_clear()


def test_a_table_of_another_grammar_text_is_not_used() -> None:
    grammar = dosage_module._grammar_text()
    assert dosage_module._shipped_table(grammar) is not None
    assert dosage_module._shipped_table(grammar + "\n// edited\n") is None


@pytest.mark.parametrize(
    "damage",
    [
        "rule of another builder",
        "state out of range",
        "rule out of range",
        "start out of range",
        "end missing",
        "size not a number",
        "states not a list",
    ],
)
def test_a_damaged_table_is_refused(fresh: dict[str, Any], damage: str) -> None:
    table = copy.deepcopy(fresh)
    assert dosage_module._compile_table(copy.deepcopy(fresh)) is not None
    first_row = table["states"][0]
    symbol = next(iter(first_row))
    if damage == "rule of another builder":
        table["rules"][1][4] = "__class__"
    elif damage == "state out of range":
        first_row[symbol] = len(table["states"])
    elif damage == "rule out of range":
        first_row[symbol] = -len(table["rules"]) - 1
    elif damage == "start out of range":
        table["start"] = len(table["states"])
    elif damage == "end missing":
        del table["end"]
    elif damage == "size not a number":
        table["rules"][1][1] = "1"
    else:
        table["states"] = 7
    assert dosage_module._compile_table(table) is None


@pytest.mark.parametrize("shipped", ["missing", "stale", "damaged"])
def test_without_a_usable_table_the_grammar_is_built_in_memory(
    monkeypatch: pytest.MonkeyPatch, fresh: dict[str, Any], shipped: str
) -> None:
    if shipped == "missing":
        monkeypatch.setattr(dosage_module, "_TABLE_FILE", "no_such_table.json")
    elif shipped == "stale":
        monkeypatch.setattr(dosage_module, "_shipped_table", lambda _grammar: None)
    else:
        damaged = copy.deepcopy(fresh)
        damaged["rules"][0][0] = 5
        monkeypatch.setattr(dosage_module, "_shipped_table", lambda _grammar: damaged)
    built: list[bool] = []
    real = dosage_module.parse_table_from_grammar

    def spy() -> dict[str, Any]:
        built.append(True)
        return real()

    monkeypatch.setattr(dosage_module, "parse_table_from_grammar", spy)
    dosage_module._tables.cache_clear()
    dosage_module.clear_dosage_cache()
    try:
        result = parse_dosage("1-2 tablets every 4-6 hours when required, max 8 in 24 hours")
        assert built == [True]
        assert isinstance(result, Dosage)
        # 1-2 tablets, every 4 to 6 hours, at most 8 tablets a day: as the text says
        assert (result.dose_quantity, result.dose_quantity_max) == (Decimal(1), Decimal(2))
        assert (result.interval_hours, result.interval_hours_max) == (Decimal(4), Decimal(6))
        assert result.max_quantity_per_day == Decimal(8)
    finally:
        dosage_module._tables.cache_clear()
        dosage_module.clear_dosage_cache()


def test_the_first_parse_does_not_import_lark() -> None:
    """A fresh process reads a dosage text from the shipped table, without lark (cold start)."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = (
        "import sys\n"
        "from opioidcds import parse_dosage\n"
        "d = parse_dosage('one tablet twice a day')\n"
        "print(d.doses_per_day, 'lark' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.split() == ["2", "False"]
