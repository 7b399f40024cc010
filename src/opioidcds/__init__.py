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
from opioidcds.models import ItemStatus, OMEItem, OMEResult, Prescription, PrnPolicy
from opioidcds.ome import calculate_ome
from opioidcds.products import Catalogue, MedicineClass, Product, classify_medicine, load_catalogue
from opioidcds.tables import ConversionTable, load_table
from opioidcds.vocabulary import Vocabulary, load_vocabulary

__all__ = [
    "Catalogue",
    "ConversionTable",
    "InvalidInputError",
    "ItemStatus",
    "KnowledgeBaseError",
    "MedicineClass",
    "OMEItem",
    "OMEResult",
    "OpioidCDSError",
    "Prescription",
    "PrnPolicy",
    "Product",
    "UnknownDrugError",
    "UnknownProductError",
    "Vocabulary",
    "__version__",
    "calculate_ome",
    "classify_medicine",
    "load_catalogue",
    "load_table",
    "load_vocabulary",
]
