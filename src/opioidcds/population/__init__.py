"""Population screening ("Find", seed 002): a prioritised, explained worklist from an extract.

Needs the optional extra ``population`` (Polars). See ``docs/population.md``.
"""

from opioidcds.population.engine import PatientRow, Screening, project_assessment, screen
from opioidcds.population.method import ScreeningMethod, default_method, load_method
from opioidcds.population.schema import ISSUE_COLUMNS, PATIENT_COLUMNS, RowProblem

__all__ = [
    "ISSUE_COLUMNS",
    "PATIENT_COLUMNS",
    "PatientRow",
    "RowProblem",
    "Screening",
    "ScreeningMethod",
    "default_method",
    "load_method",
    "project_assessment",
    "screen",
]
