"""The public API is explicit and pinned: a change to it must be made here on purpose.

``opioidcds`` exports every supported name (lazily, so ``import opioidcds`` stays cheap);
``opioidcds.population`` and ``opioidcds.cdshooks`` export the extras' names. The import paths
of release 0.1 still work for one release, with a ``DeprecationWarning`` that says what to use.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import opioidcds

ROOT = Path(__file__).resolve().parents[2]
INIT = ROOT / "src" / "opioidcds" / "__init__.py"

EXPECTED = [
    "AcuteAlert",
    "AcuteCheck",
    "AcuteEpisode",
    "Alert",
    "AlertSeverity",
    "Assessment",
    "Backend",
    "BackendError",
    "BundleRead",
    "CareSetting",
    "Catalogue",
    "Citation",
    "ConversionTable",
    "Decision",
    "DecisionReport",
    "DecisionStatus",
    "Decisions",
    "DischargeCheck",
    "DischargePrescription",
    "Dosage",
    "FactorStatus",
    "Finding",
    "HitPolicy",
    "HoldPoint",
    "InpatientCheck",
    "InvalidInputError",
    "IssueRecord",
    "ItemStatus",
    "Knowledge",
    "KnowledgeBaseError",
    "KnowledgeSource",
    "LevelResult",
    "LintReport",
    "MedicineClass",
    "OMEItem",
    "OMEResult",
    "OpioidCDSError",
    "PaceChange",
    "ParenteralAdministration",
    "Patient",
    "Prescription",
    "PrescriptionUse",
    "PrnPolicy",
    "Product",
    "Profile",
    "ProfileError",
    "Provenance",
    "ReadinessToChange",
    "RiskFactorResult",
    "Ruleset",
    "RulesetDefectError",
    "RulesetLoadError",
    "ScopeResult",
    "Severity",
    "Sex",
    "SkippedEntry",
    "Stage",
    "TaperKnowledge",
    "TaperPlan",
    "TaperStep",
    "TierResult",
    "UnknownDrugError",
    "UnknownProductError",
    "UnknownRuleError",
    "UnparsedDosage",
    "Vocabulary",
    "__version__",
    "assess",
    "calculate_ome",
    "check_discharge",
    "check_episode",
    "check_inpatient",
    "check_prescription",
    "classify_medicine",
    "default_knowledge",
    "from_bundle",
    "lint_path",
    "load_catalogue",
    "load_knowledge",
    "load_profile",
    "load_ruleset",
    "load_rulesets",
    "load_table",
    "load_taper_knowledge",
    "load_vocabulary",
    "parse_dosage",
    "read_bundle",
    "replan",
    "taper_plan",
    "taper_plan_for_patient",
]

EXPECTED_POPULATION = [
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

EXPECTED_CDSHOOKS = [
    "SERVICES",
    "CDSHooksService",
    "CardContent",
    "Codelists",
    "FeedbackStore",
    "PrefetchMissingError",
    "RequestError",
    "UnknownServiceError",
    "create_app",
    "default_card_content",
    "default_codelists",
    "load_card_content",
    "load_codelists",
]


def test_all_is_pinned_and_sorted() -> None:
    assert opioidcds.__all__ == EXPECTED
    assert sorted(opioidcds.__all__) == opioidcds.__all__


def test_extras_public_names_are_pinned() -> None:
    import opioidcds.cdshooks  # noqa: PLC0415
    import opioidcds.population  # noqa: PLC0415

    assert opioidcds.population.__all__ == EXPECTED_POPULATION
    assert opioidcds.cdshooks.__all__ == EXPECTED_CDSHOOKS


def test_every_public_name_exists_and_is_documented() -> None:
    for module in ("opioidcds", "opioidcds.population", "opioidcds.cdshooks"):
        mod = importlib.import_module(module)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if callable(obj) or isinstance(obj, type):
                assert obj.__doc__, f"{module}.{name} has no docstring"


def _type_checking_imports() -> dict[str, str]:
    """The names the TYPE_CHECKING block of ``opioidcds/__init__.py`` imports, and from where."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                for alias in stmt.names:
                    found[alias.asname or alias.name] = str(stmt.module)
    return found


def test_lazy_table_type_imports_and_all_agree() -> None:
    # Three lists in __init__.py must agree: the lazy table, __all__, and the imports that type
    # checkers read. The extras' names are reachable but kept out of __all__.
    table = opioidcds._PUBLIC
    typed = _type_checking_imports()
    assert set(opioidcds.__all__) == {*table, "__version__"}
    assert {n: m for n, m in typed.items() if n not in opioidcds._EXTRA} == table
    for name, module in table.items():
        assert getattr(importlib.import_module(module), name) is getattr(opioidcds, name)


def test_screen_is_reachable_from_the_top() -> None:
    from opioidcds.population import screen  # noqa: PLC0415

    assert opioidcds.screen is screen


def test_import_opioidcds_loads_no_implementation() -> None:
    # `import opioidcds` is cheap: the names load when first used.
    code = (
        "import sys, opioidcds; print(sorted(m for m in sys.modules if m.startswith('opioidcds.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    )
    assert (
        done.stdout.strip()
        == "['opioidcds._deprecated', 'opioidcds._extras', 'opioidcds._version']"
    )


def test_star_import_needs_no_extra() -> None:
    namespace: dict[str, object] = {}
    exec("from opioidcds import *", namespace)  # noqa: S102 - a fixed string
    assert "assess" in namespace
    assert "screen" not in namespace


OLD_PATHS = [
    ("opioidcds.assess", "assess", "assess"),
    ("opioidcds.assess", "check_prescription", "check_prescription"),
    ("opioidcds.assess", "Knowledge", "Knowledge"),
    ("opioidcds.patient", "Patient", "Patient"),
    ("opioidcds.models", "Prescription", "Prescription"),
    ("opioidcds.models", "OMEResult", "OMEResult"),
    ("opioidcds.models", "Provenance", "Provenance"),
    ("opioidcds.errors", "InvalidInputError", "InvalidInputError"),
    ("opioidcds.ome", "calculate_ome", "calculate_ome"),
    ("opioidcds.dosage", "parse_dosage", "parse_dosage"),
    ("opioidcds.fhir", "from_bundle", "from_bundle"),
    ("opioidcds.taper", "taper_plan", "taper_plan"),
    ("opioidcds.acute", "check_discharge", "check_discharge"),
    ("opioidcds.rules", "load_ruleset", "load_ruleset"),
    ("opioidcds.rules.linter", "lint_path", "lint_path"),
    ("opioidcds.products", "load_catalogue", "load_catalogue"),
    ("opioidcds.tables", "load_table", "load_table"),
]


@pytest.mark.parametrize(("old", "name", "public"), OLD_PATHS)
def test_old_import_paths_warn_and_give_the_same_objects(old: str, name: str, public: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"'{old}' is deprecated.*from 'opioidcds'"):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(opioidcds, public)


def test_old_module_path_does_not_replace_the_function() -> None:
    # `opioidcds.assess` is the function, even after the old module path was imported.
    sys.modules.pop("opioidcds.assess", None)
    with pytest.warns(DeprecationWarning, match="'opioidcds.assess' is deprecated"):
        importlib.import_module("opioidcds.assess")
    assert callable(opioidcds.assess)
    assert opioidcds.assess.__name__ == "assess"


def test_moved_module_keeps_one_identity_and_its_own_name() -> None:
    # An old path is the moved module itself (never a second copy of its classes), and the
    # module keeps its own spec (pickling and reloading use the new path).
    from opioidcds._decide.rules import loader  # noqa: PLC0415

    sys.modules.pop("opioidcds.rules.loader", None)
    sys.modules.pop("opioidcds.rules", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = importlib.import_module("opioidcds.rules.loader")
    assert old is loader
    assert loader.__spec__ is not None
    assert loader.__spec__.name == "opioidcds._decide.rules.loader"


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = opioidcds.no_such_name


def test_package_is_typed() -> None:
    assert (ROOT / "src" / "opioidcds" / "py.typed").is_file()
