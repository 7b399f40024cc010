"""pytest plugin for ``make mutation`` only: empty every opioidcds memo cache at session start.

mutmut forks each mutant's test run from a process that has already run the suite, so the
library's ``functools`` caches (parsed strengths, unit factors, measured items, loaded tables)
hold results computed by the *unmutated* code, and a mutant in a cached function would never
run. Clearing them when each mutant's pytest session starts makes every mutant execute.

The per-call memos (``lru_cache`` with a size: parsed strengths and amounts, unit factors,
measured items, parsed dosage texts) are also emptied before *each test*: otherwise a test
that repeats an earlier test's prescription is served from the memo, mutmut's coverage map
never sees it reach the resolver, and the test is not run against that resolver's mutants
(measured: such mutants "survived" tests that kill them). The loaders (``cache``: tables,
vocabulary, catalogue, pint registry, grammar) are kept within a session for speed.

Loaded by ``-p mutation_plugin`` in ``[tool.mutmut]``; not part of the normal suite.
"""

from __future__ import annotations

import sys

import pytest


def clear_opioidcds_caches(*, memos_only: bool = False) -> int:
    """Call ``cache_clear()`` on the cached functions of the loaded opioidcds modules.

    With ``memos_only``, only size-bounded ``lru_cache`` memos (not the unbounded loaders).
    """
    cleared = 0
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "opioidcds" or name.startswith("opioidcds.")):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            info = getattr(value, "cache_info", None)
            if memos_only and (not callable(info) or info().maxsize is None):
                continue
            if callable(clear):
                clear()
                cleared += 1
    return cleared


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start each (mutant's) session with empty caches."""
    clear_opioidcds_caches()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Start each test with empty per-call memos (see the module docstring)."""
    clear_opioidcds_caches(memos_only=True)
