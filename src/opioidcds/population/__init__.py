"""Population screening ("Find", NHS England analysis 2023): an explained worklist from an extract.

Needs the optional extra ``population`` (Polars, SciPy): ``pip install 'opioidcds[population]'``.
See ``docs/population.md``::

    from opioidcds.population import screen, write_outputs
    screening = screen("issues.csv", patients="patients.csv", as_of=dt.date(2026, 11, 1))
    write_outputs(screening, "out", html=True)

Service evaluation and practice trends (``docs/evaluation.md``)::

    from opioidcds.population import evaluate, write_evaluation
    result = evaluate("questionnaires.csv", "issues.csv", list_sizes="list_sizes.csv")
    write_evaluation(result, "evaluation-out", html=True)

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
from opioidcds.population.evaluation import Evaluation, evaluate  # noqa: E402
from opioidcds.population.evaluation_method import (  # noqa: E402
    EvaluationMethod,
    default_evaluation_method,
    load_evaluation_method,
)
from opioidcds.population.evaluation_report import write_evaluation  # noqa: E402
from opioidcds.population.funnel import Funnel, FunnelPoint  # noqa: E402
from opioidcds.population.instruments import (  # noqa: E402
    Instrument,
    ValueSet,
    default_instruments,
    load_instrument,
    load_value_set,
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
from opioidcds.population.prom import (  # noqa: E402
    QUESTIONNAIRE_COLUMNS,
    QuestionnaireRecord,
    ScoredQuestionnaire,
    ScoreResult,
    read_questionnaires,
    score_questionnaire,
)
from opioidcds.population.report import OUTPUT_FORMATS, render_html, write_outputs  # noqa: E402
from opioidcds.population.schema import ISSUE_COLUMNS, PATIENT_COLUMNS, RowProblem  # noqa: E402
from opioidcds.population.service import Measure, MeasureSummary, PatientChange  # noqa: E402
from opioidcds.population.synthetic import SyntheticPopulation, generate  # noqa: E402
from opioidcds.population.trends import LIST_SIZE_COLUMNS, PracticeMonth  # noqa: E402

__all__ = [
    "ISSUE_COLUMNS",
    "LIST_SIZE_COLUMNS",
    "OUTPUT_FORMATS",
    "PATIENT_COLUMNS",
    "QUESTIONNAIRE_COLUMNS",
    "Evaluation",
    "EvaluationMethod",
    "Funnel",
    "FunnelPoint",
    "GroupOutcome",
    "Instrument",
    "Measure",
    "MeasureSummary",
    "Outcomes",
    "OutcomesMethod",
    "PatientChange",
    "PatientOutcome",
    "PatientRow",
    "PracticeMonth",
    "QuestionnaireRecord",
    "RowProblem",
    "ScoreResult",
    "ScoredQuestionnaire",
    "Screening",
    "ScreeningMethod",
    "SignedRank",
    "SyntheticPopulation",
    "ValueSet",
    "compare",
    "default_evaluation_method",
    "default_instruments",
    "default_method",
    "default_outcomes_method",
    "evaluate",
    "generate",
    "load_evaluation_method",
    "load_instrument",
    "load_method",
    "load_outcomes_method",
    "load_value_set",
    "outcomes",
    "project_assessment",
    "read_questionnaires",
    "render_html",
    "score_questionnaire",
    "screen",
    "write_evaluation",
    "write_outputs",
]
