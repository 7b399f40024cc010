"""The rows held as columns (population.rows): order, counts and round trip.

A screening's rows live in a Polars frame; these check that the frame gives back the same
PatientRow objects, that the worklist order is exact for OMEs with more decimal places than
the columns' sort key holds, and that the counts are those of the rows.
"""

from __future__ import annotations

from decimal import Decimal

from opioidcds.population import screen
from opioidcds.population.method import default_method
from opioidcds.population.rows import PatientRow, counts, ordered, rows_table, table_rows
from opioidcds.population.synthetic import generate


def _row(pid: str, band: str, ome: str | None, factors: tuple[str, ...] = ()) -> PatientRow:
    return PatientRow(
        patient_id=pid,
        status="screened" if ome is not None else "not-screened",
        in_scope=band != "not-listed",
        scope_rule=None,
        scope_reason="r",
        history="h",
        ome_mg_per_day=None if ome is None else Decimal(ome),
        ome_complete=True,
        ome_method="dosage-text: x | quantity-interval: y" if ome else "",
        factors_present=factors,
        factors_unknown=(),
        risk_level=None,
        risk_level_if_unknown=None,
        tier="t" if ome else None,
        tier_if_unknown=None,
        unknowns_that_could_change=(),
        readiness_to_change=None,
        band=band,
        band_reason="b",
    )


def _python_order(rows: list[PatientRow]) -> list[str]:
    def key(r: PatientRow) -> tuple[object, ...]:
        band = int(r.band) if r.band.isdigit() else 99
        ome = (r.ome_mg_per_day or Decimal(0)).copy_negate()  # unary minus would round
        return (band, ome, -len(r.factors_present), r.patient_id)

    return [r.patient_id for r in sorted(rows, key=key)]


def test_round_trip_keeps_every_field() -> None:
    rows = [_row("a", "1", "120.5", ("x", "y")), _row("b", "not-listed", None)]
    assert table_rows(rows_table(rows)) == tuple(rows)


def test_order_is_exact_beyond_the_columns_sort_key() -> None:
    # two OMEs equal to 18 decimal places: the larger must come first
    long_small = "40." + "3" * 30
    long_large = "40." + "3" * 29 + "4"
    rows = [
        _row("p1", "2", "10"),
        _row("p2", "1", long_small),
        _row("p3", "1", long_large),
        _row("p4", "1", "40.5", ("f",)),
        _row("p5", "not-listed", None),
        _row("p6", "1", "40.5"),
    ]
    assert "ome_mg_per_day" in default_method().order_within_band
    got = ordered(rows_table(rows), default_method()).get_column("patient_id").to_list()
    assert got == _python_order(rows)
    assert got.index("p3") < got.index("p2")


def test_order_in_columns_equals_python_order() -> None:
    rows = [_row(f"p{i}", str(1 + i % 3), f"{(i * 37) % 11}.{i % 4}") for i in range(40)]
    got = ordered(rows_table(rows), default_method()).get_column("patient_id").to_list()
    assert got == _python_order(rows)


def test_counts_are_those_of_the_rows() -> None:
    pop = generate(120, seed=3)
    s = screen(pop.issues, pop.patients, as_of=pop.as_of)
    c = counts(s.table, s.problems)
    rows = s.rows
    assert c["patients"] == len(rows) == 120
    assert c["in_scope"] == sum(r.in_scope is True for r in rows)
    assert c["out_of_scope"] == sum(r.in_scope is False for r in rows)
    assert c["on_worklist"] == len(s.worklist)
    for band in {r.band for r in rows}:
        assert c[f"band:{band}"] == sum(r.band == band for r in rows)
    for tier in {r.tier for r in rows if r.tier}:
        assert c[f"tier:{tier}"] == sum(r.tier == tier for r in rows)
    for key in ("dosage-text", "quantity-interval", "patch-assumed-one"):
        n = sum(f"{key}: " in r.ome_method for r in rows)
        assert c.get(f"dose_source:{key}", 0) == n


def test_the_worklist_file_is_made_from_the_columns_as_from_the_rows() -> None:
    """Each frame row says what ``reasons`` and the words say of the same PatientRow."""
    from opioidcds.population.report import reasons, worklist_frame  # noqa: PLC0415

    pop = generate(150, seed=8)
    s = screen(pop.issues, pop.patients, as_of=pop.as_of)
    frame = worklist_frame(s)
    labels = dict(s.factor_labels)
    rank = 0
    for row, rec in zip(s.rows, frame.iter_rows(named=True), strict=True):
        assert rec["patient_id"] == row.patient_id
        assert rec["reasons"] == reasons(row, labels)
        assert rec["factors_present"] == ";".join(row.factors_present)
        assert rec["ome_mg_per_day"] == (
            None if row.ome_mg_per_day is None else str(row.ome_mg_per_day)
        )
        if row.band.isdigit():
            rank += 1
            assert rec["rank"] == rank
        else:
            assert rec["rank"] is None
    assert rank == len(s.worklist) > 0
