"""Fuzzing the knowledge loader: a damaged table file fails closed (HAZ-001, HAZ-012).

Mutations of the bundled UK table's TOML text (lines deleted, duplicated or swapped, values
replaced by odd ones, bytes inserted, truncation, non-UTF-8) are written to a temporary file
and loaded. The only acceptable outcomes: ``KnowledgeBaseError``, or a table that passes every
load-time check, whose rows are all usable by the calculator.
"""

from __future__ import annotations

import os
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opioidcds import ConversionTable, KnowledgeBaseError, Prescription, calculate_ome, load_table
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.units import Dimension

fuzz = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SOURCE = (knowledge_dir("conversion_tables") / "uk-opioids-aware.toml").read_text(encoding="utf-8")
LINES = SOURCE.splitlines()
ODD_VALUES = [
    '"0"',
    '"-1"',
    '"1e5"',
    '"NaN"',
    '"inf"',
    "1.5",
    "0",
    '""',
    '"MG"',
    '"mg/day"',
    '"gr"',
    "true",
    "[]",
    "{}",
    '"morphine"',
    '"oral"',
    '"2026-13-45"',
    "2026-11-22",
    '"\\u0000"',
]


@st.composite
def mutated_tables(draw: st.DrawFn) -> bytes:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.integers(0, 5))
        if action == 0:
            del lines[i]
        elif action == 1:
            lines.insert(i, lines[i])
        elif action == 2:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == 3 and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {draw(st.sampled_from(ODD_VALUES))}"
        elif action == 4:
            lines[i] = draw(st.text(max_size=30))
        else:
            pos = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:pos] + draw(st.text(max_size=5)) + lines[i][pos:]
    data = "\n".join(lines).encode("utf-8", errors="surrogatepass")
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] if draw(st.booleans()) else data[:cut] + b"\xff\xfe" + data[cut:]
    return data


def _check_usable(table: ConversionTable) -> None:
    for row in table.rows():
        if row.convertible:
            assert row.factor is not None
            assert Decimal(row.factor) > 0
            for dim in (Dimension.MASS, Dimension.RATE):
                multiplier, _exact = table.multiplier(row, dim)
                assert multiplier > 0
    rx = Prescription(
        drug="morphine",
        form="tablet",
        strength="10 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )
    calculate_ome([rx], table=table)


@fuzz
@given(mutated_tables())
def test_mutated_table_files_fail_closed(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mutated.toml"
        path.write_bytes(data)
        try:
            table = load_table(path)
        except KnowledgeBaseError:
            return
    _check_usable(table)


def test_unmutated_table_loads(tmp_path: Path) -> None:
    path = tmp_path / "copy.toml"
    path.write_text(SOURCE, encoding="utf-8")
    _check_usable(load_table(path))
