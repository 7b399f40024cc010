"""Generate the parts of "Known limitations" that must not drift from their sources.

* every "Limits" / "Known limits" / "Known gaps" / "What is not done" section of the user-guide
  pages, copied with a link back (so a page's own limits are the single source);
* every hazard control still open in ``docs/safety/hazards.toml``;
* every knowledge file with no named reviewer or a review still pending.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from docgen_clinical import knowledge_files
from docgen_markdown import esc, table

__all__ = ["LIMIT_HEADING", "LimitSection", "limit_sections", "render", "slugify"]

LIMIT_HEADING = re.compile(
    r"^(#{2,6})\s+((?:known\s+)?limit(?:s|ations)?\b.*|known gaps\b.*|what is not done\b.*)$",
    re.IGNORECASE,
)
"""A heading that starts a page's limits section (case-insensitive)."""

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_PAGE_LOCAL_LINK = re.compile(r"\]\(#")
# A reviewer field that records no completed clinical review.
_NOT_DONE = re.compile(r"pending|not yet|to be assigned|illustrative|sign-off pending", re.I)


@dataclass(frozen=True)
class LimitSection:
    """One limits section of one page."""

    page: str  # path relative to docs/, e.g. "population.md"
    page_title: str
    heading: str
    body: str


def slugify(heading: str) -> str:
    """The anchor MkDocs gives a heading (Python-Markdown's toc ``slugify`` with ``-``).

    Re-implemented to keep the generator typed; the strict build checks every anchor, so a
    difference would fail the build rather than leave a broken link.
    """
    value = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def _sections(page: str, text: str) -> list[LimitSection]:
    title = page
    found: list[LimitSection] = []
    current: tuple[int, str, list[str]] | None = None
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading and len(heading.group(1)) == 1 and title == page:
            title = heading.group(2).strip()
        if heading and current is not None and len(heading.group(1)) <= current[0]:
            found.append(LimitSection(page, title, current[1], "\n".join(current[2]).strip()))
            current = None
        if current is not None:
            current[2].append(line)
            continue
        limit = None if in_fence else LIMIT_HEADING.match(line)
        if limit:
            current = (len(limit.group(1)), limit.group(2).strip(), [])
    if current is not None:
        found.append(LimitSection(page, title, current[1], "\n".join(current[2]).strip()))
    return found


def limit_sections(docs_dir: Path, exclude: frozenset[str] = frozenset()) -> list[LimitSection]:
    """The limits sections of every top-level page of ``docs_dir`` (except ``exclude``)."""
    out: list[LimitSection] = []
    for path in sorted(docs_dir.glob("*.md")):
        if path.name not in exclude:
            out.extend(_sections(path.name, path.read_text(encoding="utf-8")))
    return out


def _shift_headings(body: str, by: int) -> str:
    def shift(m: re.Match[str]) -> str:
        return "#" * min(6, len(m.group(1)) + by) + " " + m.group(2)

    return "\n".join(_HEADING.sub(shift, line) for line in body.splitlines())


def _page_sections(docs_dir: Path, exclude: frozenset[str]) -> list[str]:
    lines: list[str] = []
    for s in limit_sections(docs_dir, exclude):
        link = f"{s.page}#{slugify(s.heading)}"
        lines += [
            f"### {s.page_title}",
            "",
            f"From [{s.page_title}: {s.heading}]({link}).",
            "",
            _PAGE_LOCAL_LINK.sub(f"]({s.page}#", _shift_headings(s.body, 1)),
            "",
        ]
    return lines


def _open_controls(root: Path) -> list[str]:
    data = tomllib.loads((root / "docs/safety/hazards.toml").read_text(encoding="utf-8"))
    rows = [
        [
            f"[{esc(hazard['id'])}](safety/hazard-log.md#{hazard['id'].lower()})",
            esc(hazard["title"]),
            esc(control["id"]),
            esc(control["description"]),
            f"issue {esc(control['issue'])}" if control.get("issue") else "",
        ]
        for hazard in data["hazard"]
        for control in hazard.get("control", ())
        if control.get("status") == "open"
    ]
    if not rows:
        return ["No hazard control is open.", ""]
    return table(["hazard", "title", "open control", "what is missing", "issue"], rows)


def _unreviewed(root: Path) -> list[str]:
    rows = []
    for path in knowledge_files(root):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        reviewer = str(data.get("reviewer", ""))
        if not reviewer or _NOT_DONE.search(reviewer):
            rel = path.relative_to(root).as_posix()
            rows.append([f"`{rel}`", esc(data.get("version", "?")), esc(reviewer or "none")])
    if not rows:
        return ["Every knowledge file names a reviewer and none is pending.", ""]
    return table(["file", "version", "reviewer"], rows)


def render(root: Path, docs_dir: Path, part: str, exclude: frozenset[str]) -> str:
    """Markdown for one generated part: ``pages``, ``hazards`` or ``review``.

    Raises:
        KeyError: an unknown part.
    """
    parts = {
        "pages": lambda: _page_sections(docs_dir, exclude),
        "hazards": lambda: _open_controls(root),
        "review": lambda: _unreviewed(root),
    }
    return "\n".join(parts[part]()) + "\n"
