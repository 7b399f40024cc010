"""opioidcds: clinical decision support for long-term opioid prescribing.

Measure (oral morphine equivalents), stratify (risk factors), allocate support (tiers) and act
(alerts, worklists, tapering) for chronic non-cancer pain, UK primary care first. See
``CLINICAL.md`` for the clinical basis and ``docs/`` for the user guide.
"""

from __future__ import annotations

from opioidcds._version import __version__
from opioidcds.errors import (
    InvalidInputError,
    KnowledgeBaseError,
    OpioidCDSError,
    UnknownDrugError,
    UnknownProductError,
)

__all__ = [
    "InvalidInputError",
    "KnowledgeBaseError",
    "OpioidCDSError",
    "UnknownDrugError",
    "UnknownProductError",
    "__version__",
]
