"""Optional extras: import a module of one, or say which extra to install.

Foundation layer: imports nothing of opioidcds.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["import_extra"]


def import_extra(module: str, extra: str) -> ModuleType:
    """Import ``module`` of an optional extra, saying which extra to install when it is missing.

    Raises:
        ImportError: the extra's packages are not installed.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.startswith("opioidcds"):
            raise
        raise ImportError(
            f"'{module}' needs the optional extra '{extra}': pip install 'opioidcds[{extra}]'"
        ) from exc
