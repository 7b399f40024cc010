"""MkDocs hook of the opioidcds docs site (``hooks:`` in mkdocs.yml).

At every build it:

* replaces generator markers in pages with content generated from the knowledge files and the
  code: ``<!-- generated: clinical-basis -->``, ``<!-- generated: cli-reference -->``,
  ``<!-- generated: limits-pages -->``, ``<!-- generated: limits-hazards -->``,
  ``<!-- generated: limits-review -->``, ``<!-- generated: patient-facts -->``,
  ``<!-- generated: opioid-strength -->``;
* replaces ``<!-- include: PATH -->`` with the repository file PATH (a published folder) in a
  fenced block;
* replaces ``<!-- run: ARGS -->`` (or ``<!-- run exit=N: ARGS -->``) with ``opioidcds ARGS``
  and its real output, failing the build if the exit code differs;
* publishes the knowledge folders and examples under ``repo/`` and rewrites links from pages to
  those repository files (``../rules/x.toml``) to the published copies; a link to a file that
  does not exist is left alone, so the strict build reports it;
* adds the repository's ``CHANGELOG.md`` as the page ``changelog.md``;
* shows the docstrings' Sphinx roles (``:class:`~opioidcds.Prescription```) as code,
  the last component only after ``~``, as Sphinx would.

An unknown marker or a failing generator stops the build (``PluginError``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from pathlib import Path

from docgen_cli import CommandFailedError, cli_reference, run_example
from docgen_clinical import KNOWLEDGE_FOLDERS, render
from docgen_facts import render_facts, render_strength
from docgen_limits import render as render_limits
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from opioidcds import OpioidCDSError

PUBLISHED_FOLDERS = (*KNOWLEDGE_FOLDERS, "examples")
"""Repository folders copied into the site under ``repo/`` (pages may link to their files)."""

_MARKER = re.compile(
    r"^([ \t]*)<!--\s*(generated|run|include)(?:\s+exit=(\d+))?:\s*(.*?)\s*-->[ \t]*$",
    re.MULTILINE,
)
_LINK = re.compile(r"\]\((\.\./[^)\s#]+)(#[^)\s]*)?\)")
_LIMITS_PAGE = "limitations.md"
# A Sphinx role as rendered from a docstring: ``:class:`~a.b.C``` -> ``:class:<code>~a.b.C</code>``
_SPHINX_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):<code>(~?)([^<]*)</code>")


def _root(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).resolve().parent


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Publish the knowledge folders and examples, and the changelog as a page."""
    root = _root(config)
    for folder in PUBLISHED_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            # Markdown files there are READMEs for the repository, not pages of the site
            if path.is_file() and path.suffix != ".md" and "__pycache__" not in path.parts:
                rel = path.relative_to(root).as_posix()
                files.append(File.generated(config, f"repo/{rel}", abs_src_path=str(path)))
    changelog = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    files.append(File.generated(config, "changelog.md", content=changelog))
    return files


def _generated(name: str, root: Path, docs_dir: Path) -> str:
    exclude = frozenset({_LIMITS_PAGE})
    generators: dict[str, Callable[[], str]] = {
        "clinical-basis": lambda: render(root),
        "cli-reference": cli_reference,
        "limits-pages": lambda: render_limits(root, docs_dir, "pages", exclude),
        "limits-hazards": lambda: render_limits(root, docs_dir, "hazards", exclude),
        "limits-review": lambda: render_limits(root, docs_dir, "review", exclude),
        "patient-facts": render_facts,
        "opioid-strength": lambda: render_strength(root),
    }
    if name not in generators:
        raise PluginError(f"unknown generator marker: {name!r}")
    return generators[name]()


def _include(rel: str, root: Path, page_dir: str) -> str:
    """A file of a published folder as a fenced block, with a link to the published copy."""
    path = (root / rel).resolve()
    if path.relative_to(root).parts[0] not in PUBLISHED_FOLDERS:
        raise PluginError(f"include: {rel} is not in a published folder")
    lang = {".toml": "toml", ".json": "json", ".csv": "text"}.get(path.suffix, "text")
    body = path.read_text(encoding="utf-8").rstrip()
    link = posixpath.relpath(f"repo/{rel}", page_dir or ".")
    return f"`{rel}` ([file]({link})):\n\n```{lang}\n{body}\n```\n"


def _rewrite_repo_links(markdown: str, page: Page, root: Path, docs_dir: Path) -> str:
    page_dir = posixpath.dirname(page.file.src_uri)

    def rewrite(m: re.Match[str]) -> str:
        target = (docs_dir / page_dir / m.group(1)).resolve()
        try:
            rel = target.relative_to(root)
        except ValueError:
            return m.group(0)
        if rel.parts[0] not in PUBLISHED_FOLDERS or not target.is_file():
            return m.group(0)
        published = posixpath.relpath(f"repo/{rel.as_posix()}", page_dir or ".")
        return f"]({published}{m.group(2) or ''})"

    return _LINK.sub(rewrite, markdown)


def _sphinx_role(m: re.Match[str]) -> str:
    target = m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2)
    return f"<code>{target}</code>"


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Show the Sphinx roles of the docstrings (``:class:`X```) as plain code, as Sphinx would."""
    return _SPHINX_ROLE.sub(_sphinx_role, html)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Expand the markers of ``page`` and rewrite its links to repository files."""
    root, docs_dir = _root(config), Path(config.docs_dir)

    def expand(m: re.Match[str]) -> str:
        indent, kind, exit_code, arg = m.group(1), m.group(2), m.group(3), m.group(4)
        try:
            if kind == "generated":
                text = _generated(arg, root, docs_dir)
            elif kind == "include":
                text = _include(arg, root, posixpath.dirname(page.file.src_uri))
            else:
                text = run_example(arg, root, PUBLISHED_FOLDERS, int(exit_code or 0))
        except (CommandFailedError, OpioidCDSError, OSError, ValueError) as exc:
            raise PluginError(f"{page.file.src_uri}: {kind} {arg!r}: {exc}") from exc
        # keep the marker's indentation (e.g. inside an admonition)
        return "\n".join(indent + line if line else line for line in text.splitlines())

    markdown = _MARKER.sub(expand, markdown)
    return _rewrite_repo_links(markdown, page, root, docs_dir)
