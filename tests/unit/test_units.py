"""Units: the allow-list and the pint-derived conversions (issue 2, section 3)."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from opioidcds import InvalidInputError, KnowledgeBaseError
from opioidcds._knowledge import units as units_module
from opioidcds._knowledge.units import (
    Dimension,
    StrengthKind,
    canonical_factor,
    parse_amount,
    parse_strength,
    registry,
)


@pytest.mark.parametrize(
    ("text", "dimension", "value"),
    [
        ("40 mg", Dimension.MASS, "40"),
        ("40mg", Dimension.MASS, "40"),
        ("1 g", Dimension.MASS, "1000"),  # 1 g = 1000 mg
        ("500 microgram", Dimension.MASS, "0.5"),  # 500 x 0.001 mg
        ("500 micrograms", Dimension.MASS, "0.5"),
        ("500 mcg", Dimension.MASS, "0.5"),
        ("500 ug", Dimension.MASS, "0.5"),
        ("500 \u00b5g", Dimension.MASS, "0.5"),  # micro sign
        ("500 \u03bcg", Dimension.MASS, "0.5"),  # Greek mu
        ("5 mL", Dimension.VOLUME, "5"),
        ("5 ml", Dimension.VOLUME, "5"),
        ("25 microgram/hour", Dimension.RATE, "25"),
        ("25 mcg/hr", Dimension.RATE, "25"),
        ("0.025 mg/h", Dimension.RATE, "25"),  # 0.025 mg/h = 25 microgram/hour
    ],
)
def test_allow_listed_spellings(text: str, dimension: Dimension, value: str) -> None:
    q = parse_amount(text)
    assert q.dimension is dimension
    assert q.value == Decimal(value)


@pytest.mark.parametrize(
    "unit",
    [
        "MG",
        "Mg",
        "gr",
        "G",
        "ML",
        "kg",
        "lb",
        "grain",
        "megagram",
        "Mgauss",
        "mg/min",
        "mm",
        "IU",
        "unit",
    ],
)
def test_never_megagauss_megagram_or_grain(unit: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_amount(f"10 {unit}")


def test_pint_registry_is_minimal_and_built_once() -> None:
    reg = registry()
    assert reg is registry()
    for name in ("megagauss", "grain", "gauss", "Mg"):
        with pytest.raises(Exception):  # noqa: B017, PT011 - any pint error: the unit is absent
            reg.Unit(name)


def test_canonical_factors_exact() -> None:
    assert canonical_factor("g") == 1000
    assert canonical_factor("microgram") == Decimal("0.001")
    assert canonical_factor("mg/hour") == 1000  # mg/h -> microgram/hour


@pytest.mark.parametrize(
    ("text", "kind", "amounts", "volume"),
    [
        ("40 mg", StrengthKind.PER_UNIT, ["40"], None),
        ("10 mg/5 mL", StrengthKind.PER_VOLUME, ["10"], "5"),
        ("2 mg/mL", StrengthKind.PER_VOLUME, ["2"], "1"),
        ("1 mg per mL", StrengthKind.PER_VOLUME, ["1"], "1"),
        ("25 microgram/hour", StrengthKind.RATE, ["25"], None),
        ("30 mg/500 mg", StrengthKind.COMBINATION, ["30", "500"], None),
        ("50 microgram/dose", StrengthKind.PER_UNIT, ["0.05"], None),
        ("10 mg/5 mg/1 mg", StrengthKind.COMBINATION, ["10", "5", "1"], None),
    ],
)
def test_strengths(text: str, kind: StrengthKind, amounts: list[str], volume: str | None) -> None:
    s = parse_strength(text)
    assert s.kind is kind
    assert s.amounts == tuple(Decimal(a) for a in amounts)
    assert s.volume_ml == (Decimal(volume) if volume else None)


# --- killing tests for surviving mutants (docs/safety/mutation.md) ------------------------------


def test_plural_per_unit_denominators() -> None:
    # "50 micrograms/doses" = 0.05 mg per dose (as dm+d writes some sprays)
    for den in ("dose", "doses", "sprays", "actuations", "tablets"):
        strength = parse_strength(f"50 microgram/{den}")
        assert strength.kind is StrengthKind.PER_UNIT
        assert strength.amounts == (Decimal("0.05"),)


def test_zero_volume_rule_is_named() -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_strength("10 mg/0 mL")
    assert info.value.rule == "the volume must be greater than zero"
    with pytest.raises(InvalidInputError) as info:
        parse_amount("ten mg")
    assert info.value.field == "amount"  # the default field name


def test_convert_scales_the_value() -> None:
    from opioidcds._knowledge.units import convert  # noqa: PLC0415 - appended test

    # 5 g = 5000 mg; 2 mg/hour = 2000 microgram/hour; 48 mg/day = 2 mg/hour
    assert convert(Decimal(5), "gram", "milligram") == Decimal(5000)
    assert convert(Decimal(2), "milligram / hour", "microgram / hour") == Decimal(2000)
    assert convert(Decimal(48), "milligram / day", "milligram / hour") == Decimal(2)


def _pint_factor(unit: str, target: str) -> Decimal:
    reg = registry()
    return Decimal(reg.Quantity(Decimal(1), unit).to(target).magnitude)


ALL_SPELLINGS = [
    *units_module._MASS,
    *units_module._VOLUME,
    *units_module._TIME,
    "mg/hour",
    "microgram/hour",
    "mcg/hr",
    "g/h",
]


@pytest.mark.parametrize("spelling", ALL_SPELLINGS)
def test_every_factor_equals_pints_reading_of_the_same_file(spelling: str) -> None:
    # The factors come from a small exact reader of units.pint (no pint at run time, issue 20);
    # pint reading the same definitions must give the same number for every spelling.
    expr = units_module.pint_expression(spelling)
    dim = units_module.unit_dimension(spelling)
    target = "microgram / hour" if dim is Dimension.RATE else units_module._CANONICAL[dim]
    assert canonical_factor(spelling) == _pint_factor(expr, target)


def test_reader_refuses_a_definition_it_does_not_understand(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # An offset or non-linear definition must not be read silently as something else.
    (tmp_path / "units.pint").write_text("gram = [mass] = g\nkelvin_ish = 3 + gram = k\n")

    class _Files:
        def joinpath(self, name: str) -> Path:
            return tmp_path / name

    monkeypatch.setattr("opioidcds._knowledge.units.resources.files", lambda _package: _Files())
    units_module._definitions.cache_clear()
    try:
        with pytest.raises(KnowledgeBaseError, match="not in the supported form"):
            units_module._definitions()
    finally:
        monkeypatch.undo()
        units_module._definitions.cache_clear()
        units_module._expression.cache_clear()


def test_a_first_check_with_a_dosage_text_does_not_import_pint() -> None:
    code = (
        "import sys, opioidcds\n"
        "p = opioidcds.Patient(age=50, sex='female', prescriptions=(opioidcds.Prescription("
        "dmd_code='36120011000001101', dosage_text='apply one patch every 72 hours'),))\n"
        "new = opioidcds.Prescription(drug='oxycodone', form='tablet', strength='5 mg',"
        " dosage_text='one tablet four times a day')\n"
        "opioidcds.check_prescription(p, new)\n"
        "print('pint' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert done.stdout.strip() == "False"
