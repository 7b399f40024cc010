"""Population screening ("Find", NHS England analysis 2023): an explained worklist from an extract.

Needs the optional extra ``population`` (Polars, SciPy): ``pip install 'opioidcds[population]'``.
See ``docs/population.md``::

    from opioidcds.population import screen, write_outputs
    screening = screen("issues.csv", patients="patients.csv", as_of=dt.date(2026, 11, 1))
    write_outputs(screening, "out", html=True)

May import: every layer of :mod:`opioidcds` below the delivery packages; not the CLI or the
CDS Hooks service.
"""

from opioidcds._extras import import_extra as _import_extra

_import_extra("polars", "population")
_import_extra("scipy", "population")

from opioidcds.population.engine import (  # noqa: E402 - after the check of the extra
    PatientRow,
    Screening,
    project_assessment,
    screen,
)
from opioidcds.population.method import (  # noqa: E402
    ScreeningMethod,
    default_method,
    load_method,
)
from opioidcds.population.outcomes import (  # noqa: E402
    GroupOutcome,
    Outcomes,
    OutcomesMethod,
    PatientOutcome,
    SignedRank,
    compare,
    default_outcomes_method,
    load_outcomes_method,
    outcomes,
)
from opioidcds.population.report import OUTPUT_FORMATS, render_html, write_outputs  # noqa: E402
from opioidcds.population.schema import ISSUE_COLUMNS, PATIENT_COLUMNS, RowProblem  # noqa: E402
from opioidcds.population.synthetic import SyntheticPopulation, generate  # noqa: E402

__all__ = [
    "ISSUE_COLUMNS",
    "OUTPUT_FORMATS",
    "PATIENT_COLUMNS",
    "GroupOutcome",
    "Outcomes",
    "OutcomesMethod",
    "PatientOutcome",
    "PatientRow",
    "RowProblem",
    "Screening",
    "ScreeningMethod",
    "SignedRank",
    "SyntheticPopulation",
    "compare",
    "default_method",
    "default_outcomes_method",
    "generate",
    "load_method",
    "load_outcomes_method",
    "outcomes",
    "project_assessment",
    "render_html",
    "screen",
    "write_outputs",
]
