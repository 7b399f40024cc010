"""Helpers shared by the rules DSL tests (a minimal ruleset text, a file writer, and every
shipped ruleset under every bundled profile)."""

from __future__ import annotations

from pathlib import Path

from opioidcds import Ruleset, load_rulesets
from opioidcds._knowledge.paths import knowledge_dir

FIXTURES = Path(__file__).parent / "fixtures"

MINIMAL = """
kind = "ruleset"
id = "mini"
version = "1.0.0"
effective_date = 2026-11-22
owner = "tests"
reviewer = "tests"
description = "minimal"
hit_policy = "collect"

[citations]
src = "A source."

[inputs.x]
type = "number"
label = "the x"
min = 0
max = 1000

[inputs.flag]
type = "boolean"
label = "the flag"

[inputs.colour]
type = "enum"
label = "the colour"
values = ["red", "green"]

[parameters.limit]
value = 10
citations = ["src"]

[[rules]]
id = "r1"
stage = "prevent"
when = "x > limit"
citations = ["src"]
rationale = "Because."
"""


def write(tmp_path: Path, text: str, name: str = "rs.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def shipped_rulesets() -> list[tuple[Ruleset, str | None]]:
    """Every shipped ruleset, bare and under each bundled profile (by file name)."""
    profiles = [None, *sorted(p.name for p in (knowledge_dir("rules") / "profiles").glob("*.toml"))]
    found = load_rulesets(knowledge_dir("rules")).values()
    return [(rs, profile) for rs in found for profile in profiles]
