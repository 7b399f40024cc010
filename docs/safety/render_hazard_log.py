"""Render docs/safety/hazards.toml as the readable docs/safety/hazard-log.md.

Usage: ``python docs/safety/render_hazard_log.py`` (writes the file; ``make hazard-log``) or
``python docs/safety/render_hazard_log.py --check`` (exit 1 if the file is out of date).
tests/safety/test_hazard_log.py imports :func:`render` to check the committed file agrees.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "hazards.toml"
TARGET = HERE / "hazard-log.md"


def load(path: Path = SOURCE) -> dict[str, Any]:
    """Read the hazard log's TOML source."""
    return tomllib.loads(path.read_text(encoding="utf-8"))


def risk(data: dict[str, Any], likelihood: int, severity: int) -> int:
    """Risk rating (1-5) from the file's own matrix."""
    row: list[int] = data["risk_matrix"][str(likelihood)]
    return row[severity - 1]


def _scale(data: dict[str, Any], name: str, value: int) -> str:
    return f"{value} {data['scales'][name][str(value)]}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(data: dict[str, Any]) -> str:  # noqa: PLR0915 - one straight-line document
    """Return the Markdown hazard log for ``data`` (the parsed TOML)."""
    out: list[str] = []
    add = out.append
    add(f"# {data['title']}")
    add("")
    add(
        "<!-- generated from hazards.toml by render_hazard_log.py (make hazard-log): "
        "do not edit by hand -->"
    )
    add("")
    add(f"Version {data['version']}, reviewed {data['reviewed']}. Scope: {data['scope']}")
    add("")
    add("## Scales")
    add("")
    add(
        "DCB0129/DCB0160 5 x 5 clinical risk matrix. *Initial* risk is before the library's "
        "controls; *residual* assumes every **verified** control holds. A hazard with an "
        "**open** control is not closed."
    )
    add("")
    add("| severity | likelihood | risk |")
    add("|---|---|---|")
    for i in range(1, 6):
        key = str(i)
        add(
            f"| {i} {data['scales']['severity'][key]} | {i} {data['scales']['likelihood'][key]} "
            f"| {i} {data['scales']['risk'][key]} |"
        )
    add("")
    add("Risk matrix (rows: likelihood; columns: severity 1-5):")
    add("")
    add("| likelihood | 1 | 2 | 3 | 4 | 5 |")
    add("|---|---|---|---|---|---|")
    for i in range(5, 0, -1):
        row = data["risk_matrix"][str(i)]
        add(f"| {i} {data['scales']['likelihood'][str(i)]} | " + " | ".join(map(str, row)) + " |")
    add("")
    add("## Summary")
    add("")
    add("| id | hazard | severity | initial risk | residual risk | open controls |")
    add("|---|---|---|---|---|---|")
    opened: list[tuple[str, dict[str, Any]]] = []
    for haz in data["hazard"]:
        sev = haz["severity"]
        initial = risk(data, haz["likelihood_initial"], sev)
        residual = risk(data, haz["likelihood_residual"], sev)
        open_ids = [c["id"] for c in haz["control"] if c["status"] == "open"]
        opened.extend((haz["id"], c) for c in haz["control"] if c["status"] == "open")
        add(
            f"| [{haz['id']}](#{haz['id'].lower()}) | {_cell(haz['title'])} | {sev} | {initial} "
            f"| {residual} | {', '.join(open_ids) or '-'} |"
        )
    add("")
    add("## Open controls")
    add("")
    add(
        "Not built yet; each is pinned in `tests/safety/test_hazard_log.py` and reported as a "
        "skipped test (`OPEN ...`) in every test run, so it cannot be forgotten."
    )
    add("")
    for haz_id, ctl in opened:
        add(f"- **{ctl['id']}** ({haz_id}, issue {ctl['issue']}): {ctl['description']}")
    add("")
    add("## Hazards")
    for haz in data["hazard"]:
        sev = haz["severity"]
        add("")
        add(f"### {haz['id']}")
        add("")
        add(f"**{haz['title']}**")
        add("")
        add(f"- Cause: {haz['cause']}")
        add(f"- Effect: {haz['effect']}")
        add(f"- Severity: {_scale(data, 'severity', sev)}")
        add(
            f"- Initial: likelihood {_scale(data, 'likelihood', haz['likelihood_initial'])}, "
            f"risk {risk(data, haz['likelihood_initial'], sev)}"
        )
        add(
            f"- Residual: likelihood {_scale(data, 'likelihood', haz['likelihood_residual'])}, "
            f"risk {risk(data, haz['likelihood_residual'], sev)}"
        )
        add("")
        add("Controls:")
        add("")
        for ctl in haz["control"]:
            status = ctl["status"].upper()
            if ctl["status"] == "open":
                status += f" (issue {ctl['issue']})"
            add(f"- **{ctl['id']}** [{status}] {ctl['description']}")
            for test in ctl["tests"]:
                add(f"  - `{test}`")
    add("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    """Write (or with ``--check`` compare) hazard-log.md; return the exit status."""
    text = render(load())
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            sys.stderr.write("hazard-log.md is out of date: run `make hazard-log`\n")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
