"""Generate the CLI reference from the Typer application, and run example commands.

The reference is Typer's own Markdown generator (``typer MODULE utils docs``) run over
``opioidcds.cli.app``: the same help texts, arguments, options and defaults as ``--help``.
(mkdocs-click cannot read it: Typer 0.29 builds on its own vendored copy of click.)
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from typer.testing import CliRunner

__all__ = ["CommandFailedError", "cli_reference", "run_example"]


class CommandFailedError(RuntimeError):
    """An example command in the docs did not exit as the page says it does."""


def cli_reference() -> str:
    """Markdown for every ``opioidcds`` command (title line dropped: the page has its own).

    Raises:
        CommandFailedError: Typer's generator failed.
    """
    cmd = [sys.executable, "-m", "typer", "opioidcds.cli.app", "utils", "docs"]
    cmd += ["--name", "opioidcds", "--title", "opioidcds"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise CommandFailedError(f"typer utils docs failed: {done.stderr.strip()}")
    lines = done.stdout.splitlines()
    return "\n".join(lines[1:]).strip() + "\n"


def run_example(args: str, root: Path, folders: tuple[str, ...], expected_exit: int = 0) -> str:
    """Run ``opioidcds ARGS`` as from ``root`` and return a console block with its output.

    The command runs in-process (Typer's test runner: no interpreter start-up per command)
    with a fixed terminal width and no colour, so the page shows what a user sees, in a
    scratch folder holding links to ``root``'s
    ``folders``: relative paths work as in the repository and outputs it writes are thrown
    away.

    Raises:
        CommandFailedError: the exit code is not ``expected_exit``.
    """
    from opioidcds.cli.app import app  # noqa: PLC0415 - only when a page runs a command

    env = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        for folder in folders:
            (Path(scratch) / folder).symlink_to(root / folder, target_is_directory=True)
        done = CliRunner().invoke(app, shlex.split(args), env=env)
    if done.exit_code != expected_exit:
        raise CommandFailedError(
            f"'opioidcds {args}' exited {done.exit_code}, the page says {expected_exit}:"
            f"\n{done.output}"
        ) from done.exception
    output = done.output.rstrip()
    lines = [f"$ opioidcds {args}", *output.splitlines()]
    if expected_exit:
        lines.append(f"$ echo $?\n{expected_exit}")
    body = "\n".join(line.rstrip() for line in lines)
    return f"```console\n{body}\n```\n"
