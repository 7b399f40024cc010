"""Coverage-guided fuzzing of opioidcds's input boundaries with atheris (libFuzzer).

Run: ``make fuzz-atheris`` (needs the ``fuzz`` extra), or
``python fuzz/fuzz_opioidcds.py -max_total_time=60 [corpus_dir]``.

Each input's first byte (mod 4) picks a target; the rest, as UTF-8, is the target's input:
0 JSON text -> CLI reader's parser -> parse_prescriptions -> calculate_ome (both tables);
1 strength text -> parse_strength / parse_amount; 2 dosage text -> parse_dosage;
3 TOML text -> load_table from a temporary file. Only ``OpioidCDSError`` may escape a target:
anything else is a crash that libFuzzer reports with the input that caused it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from opioidcds import OpioidCDSError, calculate_ome, load_table, parse_dosage
    from opioidcds._knowledge.units import parse_amount, parse_strength
    from opioidcds.cli.ome_cmd import parse_prescriptions

_TMP = Path(tempfile.mkdtemp(prefix="opioidcds-fuzz-"))


def _json(text: str) -> None:
    try:
        data = json.loads(text, parse_float=str)
    except (ValueError, RecursionError):
        return  # the CLI reader turns these into InvalidInputError itself
    rxs = parse_prescriptions(data)
    for table in ("uk-opioids-aware", "cdc-2022"):
        calculate_ome(rxs, table=table).model_dump_json()


def _strength(text: str) -> None:
    with contextlib.suppress(OpioidCDSError):
        parse_strength(text)
    parse_amount(text)


def _toml(text: str) -> None:
    path = _TMP / "table.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    load_table(path)


TARGETS = (_json, _strength, lambda text: parse_dosage(text).model_dump_json(), _toml)


def test_one_input(data: bytes) -> None:
    """Entry point called by libFuzzer with each input."""
    if not data:
        return
    target = TARGETS[data[0] % len(TARGETS)]
    text = data[1:].decode("utf-8", errors="replace")
    with contextlib.suppress(OpioidCDSError):
        target(text)


def main() -> None:
    """Run libFuzzer with the command-line options it understands."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
