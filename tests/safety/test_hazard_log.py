"""The hazard log (docs/safety/hazards.toml) is checked against the test suite.

Fails if a control names a test that does not exist, if a hazard has no control, if a verified
control names no test, if the set of open controls changes without this file being updated, or
if docs/safety/hazard-log.md is not the rendering of hazards.toml. Each open control is also
reported as a skipped test (``OPEN HAZ-...``) in every run, so open work stays visible.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAFETY = ROOT / "docs" / "safety"

# Pinned: opening or closing a control is a deliberate edit here and in hazards.toml.
OPEN_CONTROLS: dict[str, str] = {}  # control id -> issue; none open now

REQUIRED_TOPICS = [
    "factor",
    "unit confusion",
    "megagauss",
    "patch",
    "prn",
    "methadone",
    "rounding",
    "omission",
    "dm+d",
    "combination",
    "stale",
    "implausible",
    "leaking",
    "wrong patient",
    "wording",
    "durable-rules",
]


@cache
def hazards() -> dict[str, Any]:
    return tomllib.loads((SAFETY / "hazards.toml").read_text(encoding="utf-8"))


def controls() -> list[tuple[str, dict[str, Any]]]:
    return [(h["id"], c) for h in hazards()["hazard"] for c in h["control"]]


@cache
def defined_tests(path: Path) -> frozenset[str]:
    """``func`` and ``Class::func`` names of the test functions defined in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return frozenset(n for n in names if n.split("::")[-1].startswith("test"))


def node_exists(node_id: str) -> bool:
    path_text, sep, name = node_id.partition("::")
    name = re.sub(r"\[.*\]$", "", name)
    path = ROOT / path_text
    return bool(sep) and path.is_file() and name in defined_tests(path)


def test_every_listed_test_exists() -> None:
    missing = [
        f"{ctl['id']}: {test}"
        for _haz, ctl in controls()
        for test in ctl["tests"]
        if not node_exists(test)
    ]
    assert missing == [], "controls name tests that do not exist"


def test_node_id_checker_rejects_missing_tests() -> None:
    assert node_exists("tests/safety/test_hazard_log.py::test_every_listed_test_exists")
    assert not node_exists("tests/safety/test_hazard_log.py::test_no_such_test")
    assert not node_exists("tests/safety/no_such_file.py::test_every_listed_test_exists")
    assert not node_exists("tests/safety/test_hazard_log.py")


def test_every_hazard_is_complete_and_controlled() -> None:
    ids = [h["id"] for h in hazards()["hazard"]]
    assert len(ids) == len(set(ids)), "duplicate hazard id"
    control_ids = [c["id"] for _h, c in controls()]
    assert len(control_ids) == len(set(control_ids)), "duplicate control id"
    for haz in hazards()["hazard"]:
        for key in ("title", "cause", "effect"):
            assert haz[key].strip(), f"{haz['id']}: {key} is empty"
        for key in ("severity", "likelihood_initial", "likelihood_residual"):
            assert haz[key] in range(1, 6), f"{haz['id']}: {key} off the 1-5 scale"
        assert haz["likelihood_residual"] <= haz["likelihood_initial"]
        assert haz["control"], f"{haz['id']} has no control"
        for ctl in haz["control"]:
            assert ctl["id"].startswith(haz["id"] + "-C")
            assert ctl["description"].strip()
            assert ctl["status"] in {"verified", "open"}
            if ctl["status"] == "verified":
                assert ctl["tests"], f"{ctl['id']} is verified but names no test"
            else:
                assert ctl.get("issue"), f"{ctl['id']} is open but names no issue"


def test_required_hazards_are_covered() -> None:
    text = " ".join(f"{h['title']} {h['cause']}".lower() for h in hazards()["hazard"])
    missing = [topic for topic in REQUIRED_TOPICS if topic not in text]
    assert missing == []


def test_open_controls_are_pinned() -> None:
    found = {c["id"]: c["issue"] for _h, c in controls() if c["status"] == "open"}
    assert found == OPEN_CONTROLS, (
        "open controls changed: update OPEN_CONTROLS here and the hazard log together"
    )


def test_open_controls_are_reported() -> None:
    """Open controls are listed in every run's summary (-ra) as a skip, so none is forgotten.

    With no control open the test passes (there is nothing to report).
    """
    lines = []
    for control_id in sorted(OPEN_CONTROLS):
        ctl = next(c for _h, c in controls() if c["id"] == control_id)
        lines.append(f"OPEN {control_id} (issue {ctl['issue']}): {ctl['description'][:120]}")
    if lines:
        pytest.skip("; ".join(lines))


def test_rendering_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location(
        "render_hazard_log", SAFETY / "render_hazard_log.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.render(module.load())
    current = (SAFETY / "hazard-log.md").read_text(encoding="utf-8")
    assert current == expected, "docs/safety/hazard-log.md is out of date: run `make hazard-log`"
