"""Hazard HAZ-018: the same input gives byte-identical JSON across processes and hash seeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "patient-example.json"

SCRIPT = """
import json, sys
from opioidcds.cli.ome_cmd import parse_prescriptions
from opioidcds._measure.ome import calculate_ome
from opioidcds import PrnPolicy
data = json.loads(open(sys.argv[1], encoding="utf-8").read(), parse_float=str)
rxs = parse_prescriptions(data)
for table in ("uk-opioids-aware", "cdc-2022"):
    for policy in PrnPolicy:
        sys.stdout.write(calculate_ome(rxs, table=table, prn_policy=policy).model_dump_json())
        sys.stdout.write(calculate_ome(list(reversed(rxs)), table=table).model_dump_json())
"""


def run(seed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(EXAMPLE)],
        capture_output=True,
        check=True,
        env=env,
        timeout=120,
    )
    return done.stdout


def test_json_identical_across_hash_seeds() -> None:
    outputs = {seed: run(seed) for seed in ("0", "4242", "random")}
    first = outputs["0"]
    assert len(first) > 1000
    assert all(out == first for out in outputs.values())
