"""pytest plugin for ``make mutation`` only: empty every opioidcds memo cache at session start.

mutmut forks each mutant's test run from a process that has already run the suite, so the
library's ``functools`` caches (parsed strengths, unit factors, measured items, loaded tables)
hold results computed by the *unmutated* code, and a mutant in a cached function would never
run. Clearing them when each mutant's pytest session starts makes every mutant execute.
Loaded by ``-p mutation_plugin`` in ``[tool.mutmut]``; not part of the normal suite.
"""

from __future__ import annotations

import sys

import pytest


def clear_opioidcds_caches() -> int:
    """Call ``cache_clear()`` on every cached function of the loaded opioidcds modules."""
    cleared = 0
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "opioidcds" or name.startswith("opioidcds.")):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear):
                clear()
                cleared += 1
    return cleared


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start each (mutant's) session with empty caches."""
    clear_opioidcds_caches()
