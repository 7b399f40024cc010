"""``opioidcds rules``: lint knowledge files and explain a ruleset as a decision table.

Exit codes: 0 clean; 1 ``check`` found errors (or warnings with ``--strict``); 2 invalid input
or usage (missing path, unknown ruleset id, a file that does not load).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from opioidcds._decide.rules.conditions import format_value, render_condition
from opioidcds._decide.rules.evaluator import BoundRuleset, Ruleset
from opioidcds._decide.rules.linter import Severity, lint_bound
from opioidcds._decide.rules.loader import (
    lint_path,
    load_profile,
    load_ruleset,
    read_knowledge_file,
)
from opioidcds._decide.rules.profiles import Profile, ProfileSection
from opioidcds._errors import KnowledgeBaseError
from opioidcds._knowledge.paths import knowledge_dir

__all__ = ["rules_app"]

rules_app = typer.Typer(
    name="rules",
    help="Check and explain the rulesets and profiles (the rules DSL).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

_EXIT_PROBLEMS = 1
_EXIT_USAGE = 2


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False, width=140)


@rules_app.command("check")
def check(
    path: Annotated[
        Path | None,
        typer.Argument(help="A ruleset/profile file or a folder (default: the bundled rules/)."),
    ] = None,
    strict: Annotated[bool, typer.Option(help="Fail on warnings too.", metavar="")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print findings as JSON.", metavar="")
    ] = False,
) -> None:
    """Lint rulesets and profiles: gaps, overlaps, examples, never-firing rules, citations."""
    console = _console()
    target = path if path is not None else knowledge_dir("rules")
    if not target.exists():
        console.print(f"[red]error:[/red] no such file or folder: {target}")
        raise typer.Exit(_EXIT_USAGE)
    report = lint_path(target)
    if as_json:
        findings = [
            {
                "severity": str(f.severity),
                "code": f.code,
                "message": f.message,
                "file": f.file,
                "rule_id": f.rule_id,
                "line": f.line,
                "counterexample": dict(f.counterexample),
            }
            for f in report.findings
        ]
        typer.echo(json.dumps({"checked": list(report.checked), "findings": findings}, indent=2))
    elif report.findings:
        table = Table(title=f"rules check: {target}", show_lines=False)
        for col in ("severity", "where", "rule", "problem", "counter-example"):
            table.add_column(col, overflow="fold")
        for f in report.findings:
            colour = "red" if f.severity is Severity.ERROR else "yellow"
            table.add_row(  # file names and messages may hold brackets: never markup
                f"[{colour}]{f.severity}[/{colour}]",
                escape(f.file if f.line is None else f"{f.file}:{f.line}"),
                escape(f.rule_id or ""),
                escape(f"[{f.code}] {f.message}"),
                escape(", ".join(f"{k}={v}" for k, v in f.counterexample)),
            )
        console.print(table)
    n_err, n_warn = len(report.errors), len(report.warnings)
    if not as_json:
        console.print(
            f"checked {len(report.checked)} file(s): {n_err} error(s), {n_warn} warning(s)"
        )
    if n_err or (strict and n_warn):
        raise typer.Exit(_EXIT_PROBLEMS)


def _find_ruleset(key: str, folder: Path) -> Path | None:
    candidate = Path(key)
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    if not folder.is_dir():
        return None
    for file in sorted(folder.rglob("*.toml")):
        try:
            kind, data = read_knowledge_file(file)
        except KnowledgeBaseError:
            continue
        if kind == "ruleset" and data.get("id") == key:
            return file
    return None


@rules_app.command("explain")
def explain(
    ruleset: Annotated[str, typer.Argument(help="A ruleset id (in the rules folder) or a path.")],
    profile: Annotated[
        Path | None,
        typer.Option(help="Show parameters and rules as this profile sets them.", metavar="FILE"),
    ] = None,
    rules_dir: Annotated[
        Path | None,
        typer.Option(help="Folder to look ids up in (default: bundled rules/).", metavar="FOLDER"),
    ] = None,
) -> None:
    """Print a ruleset as a readable decision table with its parameters and citations."""
    console = _console()
    folder = rules_dir if rules_dir is not None else knowledge_dir("rules")
    path = _find_ruleset(ruleset, folder)
    if path is None or not path.exists():
        console.print(
            f"[red]error:[/red] no ruleset '{ruleset}' (give an id in {folder} or a path)"
        )
        raise typer.Exit(_EXIT_USAGE)
    try:
        rs = load_ruleset(path, check=False)
        prof = load_profile(profile) if profile is not None else None
        bound = rs.bind(prof, check=False)
    except KnowledgeBaseError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(_EXIT_USAGE) from None
    _print_ruleset(console, rs, prof)
    report = lint_bound(bound)
    status = "clean" if report.ok else f"{len(report.errors)} error(s)"
    console.print(
        f"lint: {status}, {len(report.warnings)} warning(s) (run 'rules check' for detail)"
    )


def _print_ruleset(console: Console, rs: Ruleset, prof: Profile | None) -> None:
    section = prof.section_for(rs.id) if prof is not None else None
    console.print(f"[bold]{rs.id}[/bold] version {rs.version}, effective {rs.effective_date}")
    console.print(rs.description)
    console.print(f"owner: {rs.owner}; reviewer: {rs.reviewer or '(none named)'}")
    reason = f" - {rs.hit_policy_reason}" if rs.hit_policy_reason else ""
    console.print(f"hit policy: [bold]{rs.hit_policy}[/bold]{reason}")
    if prof is not None:
        console.print(f"profile: {prof.id} version {prof.version} ({prof.owner})")
    _print_inputs(console, rs)
    _print_parameters(console, rs, section)
    _print_rules(console, rs.bind(prof, check=False))
    _print_citations(console, rs, prof)


def _print_inputs(console: Console, rs: Ruleset) -> None:
    inputs = Table(title="Inputs")
    for col in ("name", "type", "unit", "domain", "unknown allowed", "description"):
        inputs.add_column(col, overflow="fold")
    for f in rs.inputs:
        if f.values:
            domain = ", ".join(f.values)
        else:
            lo = "-inf" if f.minimum is None else format_value(f.minimum)
            hi = "+inf" if f.maximum is None else format_value(f.maximum)
            domain = "" if f.type == "boolean" else f"[{lo}, {hi}]"
        inputs.add_row(
            f.name,
            f.type,
            f.unit or "",
            domain,
            "no" if f.required else "yes",
            f.description or "",
        )
    console.print(inputs)


def _print_parameters(console: Console, rs: Ruleset, section: ProfileSection | None) -> None:
    if rs.parameters:
        params = Table(title="Parameters")
        for col in ("name", "value", "unit", "citations", "profile change"):
            params.add_column(col, overflow="fold")
        for name, p in rs.parameters.items():
            override = section.parameters.get(name) if section else None
            value = format_value(p.value)
            change = ""
            cites = ", ".join(p.citations)
            if override is not None:
                change = f"{value} -> {format_value(override.value)}: {override.reason}"
                value = format_value(override.value)
                cites = ", ".join(override.citations)
            params.add_row(name, value, p.unit or "", cites, change)
        console.print(params)


def _print_rules(console: Console, bound: BoundRuleset) -> None:
    rs = bound.ruleset
    disabled = dict(bound.binding.disabled)
    params, notes = bound.binding.params, bound.binding.notes
    table = Table(title="Decision table", show_lines=True)
    columns = ["#", "rule", "stage", "when", "outcome", "citations"]
    if rs.hit_policy == "priority":
        columns.insert(1, "priority")
    for col in columns:
        table.add_column(col, overflow="fold")
    for n, r in enumerate(rs.rules, start=1):
        outcome = "\n".join(
            f"{k} = {', '.join(v) if isinstance(v, tuple) else format_value(v)}"
            for k, v in r.outcome
        )
        rule = r.id + (f"\n{r.title}" if r.title else "")
        if r.id in disabled:
            rule += f"\n[yellow]DISABLED: {disabled[r.id]}[/yellow]"
        row = [
            str(n),
            rule,
            str(r.stage),
            "\n".join(render_condition(r.condition, "", params, notes)),
            outcome,
            ", ".join(r.citations),
        ]
        if rs.hit_policy == "priority":
            row.insert(1, str(r.priority))
        table.add_row(*row)
    console.print(table)


def _print_citations(console: Console, rs: Ruleset, prof: Profile | None) -> None:
    cites = Table(title="Citations")
    cites.add_column("id")
    cites.add_column("source", overflow="fold")
    for cid, text in rs.citations.items():
        cites.add_row(cid, text)
    if prof is not None:
        for cid, text in prof.citations.items():
            cites.add_row(f"{cid} (profile)", text)
    console.print(cites)
