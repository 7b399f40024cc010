"""Screening parts of one extract in turn with shared decision memos (the Spark workers' way).

``shared_deciders`` lets a process that screens one patient partition after another reuse the
doses, OMEs and rule decisions already worked out; the results must be exactly those of a
fresh screening of each part.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from opioidcds.population import engine as engine_module
from opioidcds.population import screen
from opioidcds.population.engine import shared_deciders
from opioidcds.population.report import worklist_frame

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "population"


def test_shared_memos_give_the_fresh_results_and_are_reused_only_inside() -> None:
    issues = pl.read_csv(EXAMPLE / "issues.csv", infer_schema=False)
    patients = pl.read_csv(EXAMPLE / "patients.csv", infer_schema=False)
    ids = sorted(set(issues.get_column("patient_id").to_list()))
    halves = [set(ids[: len(ids) // 2]), set(ids[len(ids) // 2 :])]
    parts = [
        (
            issues.filter(pl.col("patient_id").is_in(h)),
            patients.filter(pl.col("patient_id").is_in(h)),
        )
        for h in halves
    ]
    fresh = [screen(i, p) for i, p in parts]
    made: list[object] = []
    real = engine_module._decider

    def spy(*args: object) -> object:
        made.append(real(*args))  # type: ignore[arg-type]
        return made[-1]

    engine_module._decider = spy  # type: ignore[assignment]
    try:
        shared = []
        for i, p in parts:
            with shared_deciders():
                shared.append(screen(i, p))
        outside = screen(*parts[0])
    finally:
        engine_module._decider = real
    # the second part reused the first part's decider; outside the block a new one is made
    assert len(made) == 3
    assert made[0] is made[1]
    assert made[2] is not made[0]
    for got, want in zip([*shared, outside], [*fresh, fresh[0]], strict=True):
        assert worklist_frame(got).equals(worklist_frame(want))
        assert got.problems == want.problems
        assert dict(got.counts) == dict(want.counts)
