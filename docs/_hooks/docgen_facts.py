"""Generated tables of the patient facts a local ruleset may read (issue 23).

``<!-- generated: patient-facts -->`` becomes a table of ``inputs/patient-facts.toml`` (name,
type, unit or values, what it means, where it comes from) and
``<!-- generated: opioid-strength -->`` the strong and weak opioids of
``inputs/opioid-strength.toml`` with their sources, read through the library's own loaders, so
the page cannot drift from the files the library uses.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from opioidcds._decide.patient_facts import opioid_strength
from opioidcds._decide.rules.loader import bundled_patient_facts

__all__ = ["render_facts", "render_strength"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_facts() -> str:
    """The facts catalogue as a Markdown table."""
    cat = bundled_patient_facts()
    lines = [
        f"Catalogue `{cat.id}` {cat.version} (effective {cat.effective_date}), supplied by "
        f"{cat.supplied_by}.",
        "",
        "| fact | type | unit or values | meaning | derived from |",
        "|---|---|---|---|---|",
    ]
    for f in cat.facts.values():
        what = ", ".join(f"`{v}`" for v in f.values) if f.values else (f.unit or "")
        if f.ordered and f.values:
            what += " (ordered, lowest first)"
        lines.append(
            f"| `{f.name}` | {f.type} | {_cell(what)} | {_cell(f.description)} | "
            f"{_cell(f.derived_from)} |"
        )
    if cat.family_prefix:
        lines.append(
            f"| `{cat.family_prefix}<id>` | boolean | | {_cell(cat.family_description or '')} | "
            f"ruleset {cat.family_rules_of} (each rule id, hyphens as underscores) |"
        )
    return "\n".join(lines) + "\n"


def render_strength(root: Path) -> str:
    """The strong and weak opioid ingredients with the sources they cite."""
    table = opioid_strength()
    data = tomllib.loads((root / "inputs" / "opioid-strength.toml").read_text(encoding="utf-8"))
    cites = data["citations"]
    lines = [
        f"`inputs/opioid-strength.toml` {table.version} (effective {table.effective_date}):",
        "",
    ]
    for kind in ("strong", "weak"):
        names = ", ".join(sorted(getattr(table, kind)))
        sources = "; ".join(_cell(cites[c]) for c in data[kind]["citations"])
        lines.append(f"* **{kind.capitalize()}**: {names}. Sources: {sources}")
    lines.append(
        "* Any other ingredient (or a medicine not recognised) is **unknown**: the fact is then "
        "unknown unless another current opioid decides it."
    )
    return "\n".join(lines) + "\n"
