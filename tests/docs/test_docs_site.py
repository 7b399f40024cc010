"""The docs site's generated pages cannot silently drop knowledge, and its examples run.

The strict build itself (``make docs``, part of ``make test``) checks links, anchors, the nav,
docstrings and the example commands. These tests check what a build cannot see: that the
generated clinical-basis page lists every row of every conversion table, every rule and
parameter of every ruleset and every profile change (counted against the files read here
independently with ``tomllib``), that the known-limitations page collects every page's limits,
that the CLI reference has every command, and that the Python examples of the pages run.
"""

from __future__ import annotations

import re
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_hooks"))

import docgen_cli  # noqa: E402 - from docs/_hooks, put on the path above
import docgen_clinical  # noqa: E402
import docgen_limits  # noqa: E402
from docgen_markdown import esc, slug, table  # noqa: E402

from opioidcds.cli.app import app  # noqa: E402


@cache
def page() -> str:
    return docgen_clinical.render(ROOT)


def _toml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return data


def _lines_with(prefix: str) -> list[str]:
    return [line for line in page().splitlines() if line.startswith(prefix)]


# --- conversion tables ----------------------------------------------------------------------

TABLES = sorted(p for p in (ROOT / "conversion_tables").glob("*.toml") if "factors" in _toml(p))


def test_there_are_conversion_tables() -> None:
    assert {p.stem for p in TABLES} >= {"uk-opioids-aware", "cdc-2022"}


@pytest.mark.parametrize("path", TABLES, ids=lambda p: p.stem)
def test_every_conversion_table_row_is_listed_with_its_factor(path: Path) -> None:
    data = _toml(path)
    table_id = data["id"]
    rows = _lines_with(f'| <span id="factor--{slug(table_id)}--')
    assert len(rows) == len(data["factors"]), "a row is missing or listed twice"
    for row in data["factors"]:
        ident = slug("factor", table_id, row["ingredient"], row["route"])
        [line] = [r for r in rows if f'id="{ident}"' in r]
        cells = [c.strip() for c in line.split(" | ")]
        assert cells[1] == row["route"]
        if row.get("convertible", True):
            assert cells[2] == f"`{row['factor']}`"
            assert cells[3] == ("mg/day" if row["per"] == "mg" else row["per"])
        else:
            assert cells[2] == "not convertible"
            assert "No " in line or esc(row["reason"])[:40] in line
        for cite in row["citations"]:
            assert f"(#{slug('cite', table_id, cite)})" in line


def test_each_table_states_version_effective_date_and_reviewer() -> None:
    for path in TABLES:
        data = _toml(path)
        head = f"- Id `{data['id']}`, version **{data['version']}**, effective **"
        assert head + f"{data['effective_date']}**" in page()


# --- rulesets and profiles ------------------------------------------------------------------

RULE_FILES = sorted(p for p in (ROOT / "rules").rglob("*.toml"))
RULESETS = [p for p in RULE_FILES if _toml(p).get("kind") == "ruleset"]
PROFILES = [p for p in RULE_FILES if _toml(p).get("kind") == "profile"]


def test_there_are_rulesets_and_profiles() -> None:
    ids = {_toml(p)["id"] for p in RULESETS}
    assert ids >= {"risk-factors", "risk-level", "support-tier", "prescribing-alerts", "scope"}
    assert PROFILES


@pytest.mark.parametrize("path", RULESETS, ids=lambda p: p.stem)
def test_every_rule_and_parameter_is_listed(path: Path) -> None:
    data = _toml(path)
    rs = data["id"]
    rules = _lines_with(f'| <span id="rule--{slug(rs)}--')
    assert len(rules) == len(data["rules"]), "a rule is missing or listed twice"
    for rule in data["rules"]:
        [line] = [r for r in rules if f'id="{slug("rule", rs, rule["id"])}"' in r]
        assert f"`{rule['id']}`" in line
        for cite in rule["citations"]:
            assert f"(#{slug('cite', rs, cite)})" in line
    params = _lines_with(f'| <span id="param--{slug(rs)}--')
    assert len(params) == len(data.get("parameters", {}))
    for name, spec in data.get("parameters", {}).items():
        [line] = [p for p in params if f'id="{slug("param", rs, name)}"' in p]
        assert f"| `{name}` | `{spec['value']}` |" in line.replace("</span>", "| ", 1)
    cites = _lines_with(f'- <span id="cite--{slug(rs)}--')
    assert len(cites) == len(data["citations"])


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.stem)
def test_every_profile_change_is_listed(path: Path) -> None:
    data = _toml(path)
    for rs, section in data.get("rulesets", {}).items():
        for name, override in section.get("parameters", {}).items():
            assert (
                f"parameter [`{name}`](#{slug('param', rs, name)}) = `{override['value']}`"
                in page()
            )
        for disabled in section.get("disable", ()):
            assert f"rule [`{disabled['rule']}`](#{slug('rule', rs, disabled['rule'])})" in page()


def test_support_tiers_and_risk_levels_are_on_the_page() -> None:
    # the four tiers of the NHS England analysis (2023, figure 4) and the four levels, as the
    # rulesets' outcomes
    for tier in ("letter", "brief-gp-intervention", "pcn-service", "specialist-mdt"):
        assert f"**tier**: {esc(tier)}" in page()
    for level in ("low", "moderate", "high", "very-high"):
        assert f"**level**: {esc(level)}" in page()


def test_every_knowledge_file_is_in_the_summary_with_version_and_date() -> None:
    files = docgen_clinical.knowledge_files(ROOT)
    assert len(files) >= len(TABLES) + len(RULE_FILES)
    for path in files:
        data = _toml(path)
        rel = path.relative_to(ROOT).as_posix()
        [line] = _lines_with(f"| [`{rel}`](repo/{rel}) |")
        assert f"| {esc(data['version'])} | {esc(data['effective_date'])} |" in line


# --- known limitations ----------------------------------------------------------------------


def test_limits_sections_of_the_user_guide_are_collected() -> None:
    pages = {s.page for s in docgen_limits.limit_sections(DOCS)}
    # the pages that have a limits section today; losing one means a heading was renamed
    assert pages >= {
        "acute.md",
        "cdshooks.md",
        "fhir.md",
        "population.md",
        "risk-and-tiers.md",
        "tapering.md",
    }
    for section in docgen_limits.limit_sections(DOCS):
        assert section.body, f"empty limits section in {section.page}"


def test_limits_section_extraction(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "# Page A\n\n## Use\n\ntext\n\n```md\n## Limits\nnot a heading\n```\n\n"
        "## Known limits\n\n- one\n\n### Detail\n\n- two\n\n## After\n\n- not a limit\n",
        encoding="utf-8",
    )
    [section] = docgen_limits.limit_sections(tmp_path)
    assert (section.page, section.page_title, section.heading) == ("a.md", "Page A", "Known limits")
    assert "- one" in section.body
    assert "- two" in section.body
    assert "not a limit" not in section.body


def test_slugify_matches_mkdocs_headings() -> None:
    # Python-Markdown's toc: punctuation dropped, runs of spaces and hyphens become one hyphen
    assert docgen_limits.slugify("Limits (not built yet)") == "limits-not-built-yet"
    assert docgen_limits.slugify("What is not done") == "what-is-not-done"
    assert docgen_limits.slugify('Population screening ("Find")') == "population-screening-find"


def test_open_hazard_controls_are_listed() -> None:
    data = _toml(DOCS / "safety" / "hazards.toml")
    open_ids = [
        c["id"] for h in data["hazard"] for c in h.get("control", ()) if c["status"] == "open"
    ]
    text = docgen_limits.render(ROOT, DOCS, "hazards", frozenset())
    for control in open_ids:
        assert f"| {esc(control)} |" in text


# --- CLI reference and examples -------------------------------------------------------------


def _command_paths(command: Any, prefix: str = "opioidcds") -> list[str]:
    paths = []
    for name, sub in getattr(command, "commands", {}).items():
        paths.append(f"{prefix} {name}")
        paths.extend(_command_paths(sub, f"{prefix} {name}"))
    return paths


def test_cli_reference_has_every_command() -> None:
    reference = docgen_cli.cli_reference()
    commands = _command_paths(typer.main.get_command(app))
    assert len(commands) >= 10
    for command in commands:
        assert re.search(rf"^#+ `{re.escape(command)}`$", reference, re.MULTILINE), command


def test_run_example_fails_on_an_unexpected_exit_code() -> None:
    folders = ("rules", "tests")
    assert "checked" in docgen_cli.run_example("rules check", ROOT, folders)
    with pytest.raises(docgen_cli.CommandFailedError):  # names a ruleset found nowhere: exit 1
        docgen_cli.run_example(
            "rules check tests/rules/fixtures/profiles/ics-90.toml", ROOT, folders
        )


def _python_blocks(page_name: str) -> list[str]:
    path = ROOT / page_name if page_name == "README.md" else DOCS / page_name
    text = path.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize(
    "page_name",
    [
        "README.md",
        "getting-started.md",
        "dsl-profile-example.md",
        "local-rules.md",
        "architecture.md",
    ],
)
def test_python_examples_of_the_page_run(
    page_name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = _python_blocks(page_name)
    assert blocks
    monkeypatch.chdir(ROOT)  # the examples use repository paths
    namespace: dict[str, object] = {"__name__": "docs_example"}  # a page's blocks run in order
    for n, block in enumerate(blocks):
        code = compile(block, f"{page_name}[python block {n}]", "exec")
        exec(code, namespace)  # noqa: S102 - the page's own examples
    capsys.readouterr()


# --- Markdown helpers -----------------------------------------------------------------------


def test_escaping_keeps_a_table_intact() -> None:
    cell = esc("a | b <script> *x* _y_ [z](w) https://example.org/a_b.")
    assert "|" not in cell.replace("\\|", "")
    assert "<script>" not in cell
    assert "<https://example.org/a_b>." in cell
    lines = table(["h1", "h2"], [[cell, ""]])
    assert lines[2].count(" | ") == 1
