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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect tests whose node id has an escaped non-ASCII character (``\\xb5``, ``\\u2003``).

    mutmut records node ids in one pytest session and passes them back by name in a later
    session of the same process; there, an id such as ``test_parsed[200\\xb5g when required]``
    is "not found" (pytest exit code 4) and the whole mutation run stops (measured,
    mutmut 3.8.1, pytest 9.2). The few such tests (dosage texts with micro signs, fractions,
    accents) stay in ``make test``; their ASCII neighbours cover the same code paths.
    """
    keep = [item for item in items if "\\x" not in item.nodeid and "\\u" not in item.nodeid]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
