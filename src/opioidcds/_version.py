"""The library's version: the single source hatch reads for the distribution's metadata.

A plain string, not ``importlib.metadata.version()``: that call costs ~100 ms of import time,
a quarter of the import-plus-first-call budget (issue 2).
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"
