"""Generate the "Clinical basis" page from the knowledge files, at every docs build.

Every conversion factor, risk factor, threshold (ruleset parameter, plausibility limit, method
value), support tier and rule is rendered from the files the library loads, with each file's
version, effective date, owner, reviewer status and citations, so the page cannot drift from
the data. Conversion tables and rulesets are read through the library's own loaders (the page
shows what the code uses); every other knowledge file is rendered generically from its TOML.
``tests/docs/test_docs_site.py`` checks that every table row and every rule id appears.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from docgen_markdown import anchor, code, esc, slug, table

from opioidcds import ConversionTable, Profile, Ruleset, load_profile, load_ruleset, load_table
from opioidcds._decide.rules.conditions import format_value, render_condition
from opioidcds._knowledge.tables import DEFAULT_TABLE_ID

__all__ = ["KNOWLEDGE_FOLDERS", "knowledge_files", "render"]

KNOWLEDGE_FOLDERS = (
    "conversion_tables",
    "rules",
    "population_method",
    "codelists",
    "catalogue",
    "instruments",
    "inputs",
)
"""The folders of versioned knowledge, as bundled in the wheel (pyproject.toml)."""

# Rulesets in reading order (the clinical pathway); any other ruleset follows alphabetically.
_RULESET_ORDER = (
    "scope",
    "risk-factors",
    "early-reordering",
    "risk-level",
    "support-tier",
    "prescribing-alerts",
    "worklist-priority",
    "discharge",
    "inpatient",
)
_RULESET_TITLES = {
    "scope": "Scope: who is assessed",
    "risk-factors": "Risk factors",
    "early-reordering": "Early re-ordering",
    "risk-level": "Risk level",
    "support-tier": "Support tiers",
    "prescribing-alerts": "Prescribing alerts",
    "worklist-priority": "Worklist priority bands",
    "discharge": "Hospital discharge checks",
    "inpatient": "Hospital inpatient checks",
}
_HEADER_KEYS = frozenset(
    {
        "kind",
        "id",
        "version",
        "effective_date",
        "owner",
        "reviewer",
        "title",
        "jurisdiction",
        "description",
        "notes",
        "citations",
    }
)
_NOT_REVIEWED = "none named in the file (not reviewed by a clinical safety officer)"


def knowledge_files(root: Path) -> list[Path]:
    """Every TOML knowledge file under the knowledge folders of ``root``, sorted."""
    return sorted(p for folder in KNOWLEDGE_FOLDERS for p in (root / folder).rglob("*.toml"))


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return data


def _citations(data: Mapping[str, Any]) -> dict[str, str]:
    """Citations as id -> text, from either ``[[citations]]`` rows or a ``[citations]`` table."""
    raw = data.get("citations", {})
    if isinstance(raw, list):
        return {str(c["id"]): str(c["text"]) for c in raw}
    return {str(k): str(v) for k, v in raw.items()}


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _source_link(root: Path, path: Path) -> str:
    """A link to the published copy of a repository file (the docs hook publishes them)."""
    rel = _rel(root, path)
    return f"[`{rel}`](repo/{rel})"


def _cite_links(file_key: str, ids: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"[{esc(c)}](#{slug('cite', file_key, c)})" for c in ids)


def _citation_list(file_key: str, cites: Mapping[str, str]) -> list[str]:
    if not cites:
        return ["Citations: none in the file.", ""]
    lines = ["Citations:", ""]
    lines.extend(
        f"- {anchor(slug('cite', file_key, cid))}**{esc(cid)}**: {esc(text)}"
        for cid, text in cites.items()
    )
    return [*lines, ""]


def _header_facts(root: Path, path: Path, data: Mapping[str, Any]) -> list[str]:
    reviewer = data.get("reviewer")
    facts = [
        f"- Source: {_source_link(root, path)}",
        f"- Id {code(data.get('id', path.stem))}, version **{esc(data.get('version', '?'))}**, "
        f"effective **{esc(data.get('effective_date', '?'))}**",
        f"- Owner: {esc(data.get('owner', 'not stated'))}",
        f"- Reviewer: {esc(reviewer) if reviewer else _NOT_REVIEWED}",
    ]
    if data.get("jurisdiction"):
        facts.append(f"- Jurisdiction: {esc(data['jurisdiction'])}")
    facts.extend(f"- Note: {esc(note)}" for note in data.get("notes", ()))
    if data.get("description"):
        facts.append(f"- {esc(data['description'])}")
    return [*facts, ""]


# --- summary --------------------------------------------------------------------------------


def _summary(root: Path, files: list[Path]) -> list[str]:
    lines = [
        "## Knowledge files",
        "",
        "Every file of the knowledge base, as read by this build. A file without a named "
        "reviewer has not been reviewed by a clinical safety officer.",
        "",
    ]
    rows = []
    for path in files:
        data = _read(path)
        rows.append(
            [
                _source_link(root, path),
                code(data.get("kind", "table" if "factors" in data else "knowledge")),
                esc(data.get("version", "?")),
                esc(data.get("effective_date", "?")),
                esc(data.get("owner", "not stated")),
                esc(data.get("reviewer") or "none named"),
                str(len(_citations(data))),
            ]
        )
    header = ["file", "kind", "version", "effective", "owner", "reviewer", "citations"]
    return lines + table(header, rows)


# --- conversion tables ----------------------------------------------------------------------


def _per(row_per: str | None) -> str:
    if row_per is None:
        return ""
    return "mg/day" if row_per == "mg" else row_per


def _conversion_table(root: Path, path: Path) -> list[str]:
    data = _read(path)
    ct: ConversionTable = load_table(path)
    key = ct.id
    lines = [
        f"### {esc(data.get('title') or ct.id)} {{ #{slug('table', key)} }}",
        "",
        *_header_facts(root, path, data),
        "OME per day = daily amount x factor. A factor `per mg/day` multiplies the daily mass "
        "of the ingredient; a factor `per microgram/hour` multiplies a patch's delivery rate.",
        "",
    ]
    rows = []
    for r in ct.rows():
        if r.convertible:
            factor, per, note = code(r.factor), esc(_per(r.per)), esc(r.note or "")
        else:
            factor, per, note = "not convertible", "", esc(r.reason or "")
        rows.append(
            [
                anchor(slug("factor", key, r.ingredient, r.route)) + esc(r.ingredient),
                esc(r.route),
                factor,
                per,
                _cite_links(key, r.citations),
                note,
            ]
        )
    lines += table(["ingredient", "route", "factor", "per", "citations", "note"], rows)
    return lines + _citation_list(key, _citations(data))


# --- rulesets -------------------------------------------------------------------------------


def _condition_cell(lines: list[str]) -> str:
    out = []
    for line in lines:
        stripped = line.lstrip(" ")
        indent = "&nbsp;" * (len(line) - len(stripped))
        out.append(indent + code(stripped))
    return "<br>".join(out)


def _outcome_cell(rule_outcome: tuple[tuple[str, Any], ...]) -> str:
    parts = []
    for k, v in rule_outcome:
        value = "; ".join(str(x) for x in v) if isinstance(v, tuple) else format_value(v)
        parts.append(f"**{esc(k)}**: {esc(value)}")
    return "<br>".join(parts)


def _ruleset(root: Path, path: Path, rs: Ruleset, level: str) -> list[str]:
    data = _read(path)
    key = rs.id
    title = _RULESET_TITLES.get(rs.id, f"Ruleset {rs.id}")
    policy = f"hit policy **{esc(rs.hit_policy)}**"
    if rs.hit_policy_reason:
        policy += f" ({esc(rs.hit_policy_reason)})"
    lines = [
        f"{level} {esc(title)} {{ #{slug('ruleset', key)} }}",
        "",
        *_header_facts(root, path, data),
        f"Ruleset {code(rs.id)}, {policy}.",
        "",
    ]
    if rs.parameters:
        lines += ["Thresholds (parameters; a local profile may override them):", ""]
        prows = [
            [
                anchor(slug("param", key, name)) + code(name),
                code(format_value(p.value)),
                esc(p.unit or ""),
                esc(p.description or ""),
                _cite_links(key, p.citations),
            ]
            for name, p in rs.parameters.items()
        ]
        lines += table(["parameter", "value", "unit", "description", "citations"], prows)
    params = {name: p.value for name, p in rs.parameters.items()}
    rrows = []
    for r in rs.rules:
        rule = anchor(slug("rule", key, r.id)) + code(r.id)
        if r.title:
            rule += f"<br>{esc(r.title)}"
        row = [
            rule,
            esc(r.stage),
            _condition_cell(render_condition(r.condition, "", params)),
            _outcome_cell(r.outcome),
            esc(r.rationale),
            _cite_links(key, r.citations),
        ]
        if rs.hit_policy in ("priority", "first"):
            row.insert(1, esc(r.priority if r.priority is not None else ""))
        rrows.append(row)
    header = ["rule", "stage", "when", "outcome", "rationale", "citations"]
    if rs.hit_policy in ("priority", "first"):
        header.insert(1, "priority")
    lines += ["Rules:", "", *table(header, rrows)]
    return lines + _citation_list(key, rs.citations)


def _profile(root: Path, path: Path, prof: Profile) -> list[str]:
    data = _read(path)
    key = f"profile-{prof.id}"
    lines = [
        f"### Profile {esc(prof.id)} {{ #{slug('profile', prof.id)} }}",
        "",
        *_header_facts(root, path, data),
        "Not applied by default: a caller selects it (`--profile FILE` or "
        "`load_knowledge(profile=...)`).",
        "",
    ]
    rows = []
    for rs_id, section in prof.sections.items():
        for name, ov in section.parameters.items():
            rows.append(
                [
                    f"[{code(rs_id)}](#{slug('ruleset', rs_id)})",
                    f"parameter [{code(name)}](#{slug('param', rs_id, name)}) = "
                    f"{code(format_value(ov.value))}",
                    esc(ov.reason),
                    _cite_links(key, ov.citations),
                ]
            )
        rows.extend(
            [
                f"[{code(rs_id)}](#{slug('ruleset', rs_id)})",
                f"rule [{code(d.rule)}](#{slug('rule', rs_id, d.rule)}) disabled",
                esc(d.reason),
                "",
            ]
            for d in section.disable
        )
    lines += table(["ruleset", "change", "reason", "citations"], rows)
    return lines + _citation_list(key, prof.citations)


# --- any other knowledge file ---------------------------------------------------------------


def _scalar(value: object) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k} = {_scalar(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_scalar(v) for v in value)
    return str(value)


def _is_scalarish(value: object) -> bool:
    return not isinstance(value, dict | list) or (
        isinstance(value, list) and all(not isinstance(v, dict | list) for v in value)
    )


def _values(name: str, value: object) -> list[str]:
    label = f"**{esc(name)}**"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        columns: list[str] = []
        for row in value:
            columns.extend(k for k in row if k not in columns)
        rows = [[esc(_scalar(row.get(c, ""))) for c in columns] for row in value]
        return [f"{label} ({len(value)} rows):", "", *table([esc(c) for c in columns], rows)]
    if isinstance(value, dict):
        flat = {k: v for k, v in value.items() if _is_scalarish(v)}
        lines = [f"{label}:", ""]
        if flat:
            lines += table(["key", "value"], [[code(k), esc(_scalar(v))] for k, v in flat.items()])
        for k, v in value.items():
            if k not in flat:
                lines += _values(f"{name}.{k}", v)
        return lines
    return [f"{label}: {esc(_scalar(value))}", ""]


def _generic(root: Path, path: Path, *, collapsed: bool) -> list[str]:
    data = _read(path)
    key = f"file-{_rel(root, path)}"
    body: list[str] = []
    for k, v in data.items():
        if k not in _HEADER_KEYS:
            body += _values(k, v)
    if collapsed:
        body = ['??? note "Values"', "", *[f"    {line}" if line else "" for line in body]]
    heading = f"### {code(_rel(root, path))} {{ #{slug('file', _rel(root, path))} }}"
    lines = [heading, "", *_header_facts(root, path, data), *body, ""]
    return lines + _citation_list(key, _citations(data))


# --- the page -------------------------------------------------------------------------------

# Files with a dedicated section in "Other thresholds and method values" (rendered in full);
# every other non-table, non-rules file goes to "Vocabularies, catalogue and codelists"
# (collapsed: long lists).
_THRESHOLD_FILES = (
    "conversion_tables/plausibility.toml",
    "conversion_tables/taper.toml",
    "population_method/screening.toml",
)


def render(root: Path) -> str:
    """Return the generated Markdown of the clinical-basis page for the repository ``root``.

    Raises:
        opioidcds._errors.KnowledgeBaseError: a knowledge file does not load (the build fails).
    """
    files = knowledge_files(root)
    tables, rulesets, profiles, others = [], [], [], []
    for path in files:
        data = _read(path)
        kind = data.get("kind")
        if "factors" in data and kind is None:
            tables.append(path)
        elif kind == "ruleset":
            rulesets.append((path, load_ruleset(path)))
        elif kind == "profile":
            profiles.append((path, load_profile(path)))
        else:
            others.append(path)
    tables.sort(key=lambda p: (p.stem != DEFAULT_TABLE_ID, p.stem))  # the default table first
    order = {rid: i for i, rid in enumerate(_RULESET_ORDER)}
    rulesets.sort(key=lambda pr: (order.get(pr[1].id, len(order)), pr[1].id))

    lines = _summary(root, files)
    lines += [
        "## Conversion factors",
        "",
        "OME is a measure of risk, never a dose-conversion tool: do not use it to switch a "
        "patient from one opioid to another (incomplete cross-tolerance).",
        "",
    ]
    for path in tables:
        lines += _conversion_table(root, path)
    lines += [
        "## Rulesets: scope, risk factors, risk level, support tiers and alerts",
        "",
        "Each ruleset in the rules DSL ([reference](dsl.md)); `when` shows each condition with "
        "the parameter values in force without a profile.",
        "",
    ]
    for path, rs in rulesets:
        lines += _ruleset(root, path, rs, "###")
    lines += ["## Local profiles", ""]
    for path, prof in profiles:
        lines += _profile(root, path, prof)
    lines += ["## Other thresholds and method values", ""]
    rels = {_rel(root, p): p for p in others}
    for rel in _THRESHOLD_FILES:
        if rel in rels:
            lines += _generic(root, rels.pop(rel), collapsed=False)
    lines += [
        "## Vocabularies, catalogue and codelists",
        "",
        "Not thresholds, but knowledge that changes a result (which ingredient a name means, a "
        "form's route, a product's strength, which codes count as a risk input). The dm+d "
        "product rows themselves are in `catalogue/uk-dmd-opioids.csv` (see "
        "[Products](products.md)).",
        "",
    ]
    for path in rels.values():
        lines += _generic(root, path, collapsed=True)
    return "\n".join(lines) + "\n"
