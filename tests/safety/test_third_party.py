"""docs/safety/third-party.md registers every package pyproject.toml names (SOUP register)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REGISTER = ROOT / "docs" / "safety" / "third-party.md"


def _name(requirement: str) -> str:
    """PEP 503-normalised distribution name of a requirement string."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def declared() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = list(data["project"].get("dependencies", []))
    for extra in data["project"].get("optional-dependencies", {}).values():
        requirements.extend(extra)
    requirements.extend(data.get("build-system", {}).get("requires", []))
    return {_name(r) for r in requirements} - {"opioidcds"}


def registered() -> set[str]:
    names: set[str] = set()
    for line in REGISTER.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith("| package"):
            first = line.split("|")[1]
            names.update(_name(part) for part in first.split(",") if part.strip())
    return names


def test_every_declared_dependency_is_registered() -> None:
    missing = sorted(declared() - registered())
    assert missing == [], "add a row to docs/safety/third-party.md for each"


def test_register_rows_are_complete() -> None:
    for line in REGISTER.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith("| package"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            assert len(cells) == 7, line[:60]
            assert all(cells), f"empty cell in the row of {cells[0]}"


def test_name_normalisation() -> None:
    assert _name("fhir.resources>=8") == "fhir-resources"
    assert _name("durable-rules==2.0.28") == "durable-rules"
    assert _name("Pint >=0.24") == "pint"
