"""opioidcds: clinical decision support for long-term opioid prescribing.

Measure (oral morphine equivalents), stratify (risk factors), allocate support (tiers) and act
(alerts, worklists, tapering) for chronic non-cancer pain, UK primary care first::

    import opioidcds

    rx = opioidcds.Prescription(dmd_code="36120011000001101", dose_quantity=1,
                                dose_unit="patch", interval_hours=72)
    opioidcds.calculate_ome([rx]).total_mg_per_day       # Decimal('60.0')
    opioidcds.assess(opioidcds.Patient(age=70, sex="male", prescriptions=(rx,)))

Every supported name is importable from here; the implementation lives in private packages
that follow the flow of the data (``docs/architecture.md``)::

    _knowledge  ->  _inputs  ->  _resolve  ->  _measure  ->  _decide  ->  cli, cdshooks, population
    tables,        prescription,  dosage text,   OME           rules, assessment,
    vocabulary,    patient        products, FHIR               alerts, tapering,
    catalogue,                                                 hospital checks
    provenance

Names load on first use, so ``import opioidcds`` stays cheap. The optional extras have their own
public modules: :mod:`opioidcds.population` (extra ``population``), :mod:`opioidcds.cdshooks`
(extra ``service``) and :mod:`opioidcds.testing` (extra ``testing``); ``opioidcds.screen`` is
:func:`opioidcds.population.screen`. The import paths used before this layout
(``opioidcds.assess``, ``opioidcds.models``, ``opioidcds.rules`` ...) still work until the next
minor release, with a ``DeprecationWarning``.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING

from opioidcds import _deprecated, _extras
from opioidcds._version import __version__

if TYPE_CHECKING:  # the names below load lazily at run time (see __getattr__)
    from opioidcds._decide.alerts import Alert, AlertSeverity, check_prescription
    from opioidcds._decide.assessment import (
        Assessment,
        FactorStatus,
        LevelResult,
        PrescriptionUse,
        RiskFactorResult,
        ScopeResult,
        TierResult,
        assess,
    )
    from opioidcds._decide.hospital import (
        AcuteAlert,
        AcuteCheck,
        AcuteEpisode,
        CareSetting,
        DischargeCheck,
        DischargePrescription,
        InpatientCheck,
        ParenteralAdministration,
        check_discharge,
        check_episode,
        check_inpatient,
    )
    from opioidcds._decide.knowledge import Backend, Knowledge, default_knowledge, load_knowledge
    from opioidcds._decide.rules import (
        BackendError,
        Citation,
        Decision,
        DecisionReport,
        Decisions,
        DecisionStatus,
        Finding,
        HitPolicy,
        LintReport,
        Profile,
        ProfileError,
        Ruleset,
        RulesetDefectError,
        RulesetLoadError,
        Severity,
        Stage,
        UnknownRuleError,
        lint_path,
        load_profile,
        load_ruleset,
        load_rulesets,
    )
    from opioidcds._decide.taper import (
        HoldPoint,
        PaceChange,
        TaperKnowledge,
        TaperPlan,
        TaperStep,
        load_taper_knowledge,
        replan,
        taper_plan,
        taper_plan_for_patient,
    )
    from opioidcds._errors import (
        InvalidInputError,
        KnowledgeBaseError,
        OpioidCDSError,
        UnknownDrugError,
        UnknownProductError,
    )
    from opioidcds._inputs.patient import IssueRecord, Patient, ReadinessToChange, Sex
    from opioidcds._inputs.prescription import Prescription, PrnPolicy
    from opioidcds._knowledge.products import (
        Catalogue,
        MedicineClass,
        Product,
        classify_medicine,
        load_catalogue,
    )
    from opioidcds._knowledge.provenance import KnowledgeSource, Provenance
    from opioidcds._knowledge.tables import ConversionTable, load_table
    from opioidcds._knowledge.vocabulary import Vocabulary, load_vocabulary
    from opioidcds._measure.ome import calculate_ome
    from opioidcds._measure.results import ItemStatus, OMEItem, OMEResult
    from opioidcds._resolve.dosage import Dosage, UnparsedDosage, parse_dosage
    from opioidcds._resolve.fhir import BundleRead, SkippedEntry, from_bundle, read_bundle
    from opioidcds.population import screen as screen  # the extra's name, loaded lazily

# Where each public name is implemented. A new name goes here, in __all__ and in the
# TYPE_CHECKING imports above; tests/api/test_public_api.py checks the three agree and pins
# the list, so that a change to the public API is deliberate.
_PUBLIC: dict[str, str] = {
    # errors
    "OpioidCDSError": "opioidcds._errors",
    "InvalidInputError": "opioidcds._errors",
    "KnowledgeBaseError": "opioidcds._errors",
    "UnknownDrugError": "opioidcds._errors",
    "UnknownProductError": "opioidcds._errors",
    # knowledge
    "ConversionTable": "opioidcds._knowledge.tables",
    "load_table": "opioidcds._knowledge.tables",
    "Vocabulary": "opioidcds._knowledge.vocabulary",
    "load_vocabulary": "opioidcds._knowledge.vocabulary",
    "Catalogue": "opioidcds._knowledge.products",
    "MedicineClass": "opioidcds._knowledge.products",
    "Product": "opioidcds._knowledge.products",
    "classify_medicine": "opioidcds._knowledge.products",
    "load_catalogue": "opioidcds._knowledge.products",
    "KnowledgeSource": "opioidcds._knowledge.provenance",
    "Provenance": "opioidcds._knowledge.provenance",
    # inputs
    "Prescription": "opioidcds._inputs.prescription",
    "PrnPolicy": "opioidcds._inputs.prescription",
    "Patient": "opioidcds._inputs.patient",
    "IssueRecord": "opioidcds._inputs.patient",
    "ReadinessToChange": "opioidcds._inputs.patient",
    "Sex": "opioidcds._inputs.patient",
    # resolve
    "Dosage": "opioidcds._resolve.dosage",
    "UnparsedDosage": "opioidcds._resolve.dosage",
    "parse_dosage": "opioidcds._resolve.dosage",
    "BundleRead": "opioidcds._resolve.fhir",
    "SkippedEntry": "opioidcds._resolve.fhir",
    "from_bundle": "opioidcds._resolve.fhir",
    "read_bundle": "opioidcds._resolve.fhir",
    # measure
    "calculate_ome": "opioidcds._measure.ome",
    "ItemStatus": "opioidcds._measure.results",
    "OMEItem": "opioidcds._measure.results",
    "OMEResult": "opioidcds._measure.results",
    # decide: the rules DSL
    "BackendError": "opioidcds._decide.rules",
    "Citation": "opioidcds._decide.rules",
    "Decision": "opioidcds._decide.rules",
    "DecisionReport": "opioidcds._decide.rules",
    "DecisionStatus": "opioidcds._decide.rules",
    "Decisions": "opioidcds._decide.rules",
    "Finding": "opioidcds._decide.rules",
    "HitPolicy": "opioidcds._decide.rules",
    "LintReport": "opioidcds._decide.rules",
    "Profile": "opioidcds._decide.rules",
    "ProfileError": "opioidcds._decide.rules",
    "Ruleset": "opioidcds._decide.rules",
    "RulesetDefectError": "opioidcds._decide.rules",
    "RulesetLoadError": "opioidcds._decide.rules",
    "Severity": "opioidcds._decide.rules",
    "Stage": "opioidcds._decide.rules",
    "UnknownRuleError": "opioidcds._decide.rules",
    "lint_path": "opioidcds._decide.rules",
    "load_profile": "opioidcds._decide.rules",
    "load_ruleset": "opioidcds._decide.rules",
    "load_rulesets": "opioidcds._decide.rules",
    # decide: knowledge bundle, assessment, alerts
    "Backend": "opioidcds._decide.knowledge",
    "Knowledge": "opioidcds._decide.knowledge",
    "default_knowledge": "opioidcds._decide.knowledge",
    "load_knowledge": "opioidcds._decide.knowledge",
    "Assessment": "opioidcds._decide.assessment",
    "FactorStatus": "opioidcds._decide.assessment",
    "LevelResult": "opioidcds._decide.assessment",
    "PrescriptionUse": "opioidcds._decide.assessment",
    "RiskFactorResult": "opioidcds._decide.assessment",
    "ScopeResult": "opioidcds._decide.assessment",
    "TierResult": "opioidcds._decide.assessment",
    "assess": "opioidcds._decide.assessment",
    "Alert": "opioidcds._decide.alerts",
    "AlertSeverity": "opioidcds._decide.alerts",
    "check_prescription": "opioidcds._decide.alerts",
    # decide: tapering
    "HoldPoint": "opioidcds._decide.taper",
    "PaceChange": "opioidcds._decide.taper",
    "TaperKnowledge": "opioidcds._decide.taper",
    "TaperPlan": "opioidcds._decide.taper",
    "TaperStep": "opioidcds._decide.taper",
    "load_taper_knowledge": "opioidcds._decide.taper",
    "replan": "opioidcds._decide.taper",
    "taper_plan": "opioidcds._decide.taper",
    "taper_plan_for_patient": "opioidcds._decide.taper",
    # decide: hospital (acute-trust) checks
    "AcuteAlert": "opioidcds._decide.hospital",
    "AcuteCheck": "opioidcds._decide.hospital",
    "AcuteEpisode": "opioidcds._decide.hospital",
    "CareSetting": "opioidcds._decide.hospital",
    "DischargeCheck": "opioidcds._decide.hospital",
    "DischargePrescription": "opioidcds._decide.hospital",
    "InpatientCheck": "opioidcds._decide.hospital",
    "ParenteralAdministration": "opioidcds._decide.hospital",
    "check_discharge": "opioidcds._decide.hospital",
    "check_episode": "opioidcds._decide.hospital",
    "check_inpatient": "opioidcds._decide.hospital",
}

# Names of the optional extras, reachable from here but not in __all__ (a star import must not
# need an extra).
_EXTRA: dict[str, tuple[str, str]] = {
    "screen": ("opioidcds.population", "population"),
}

__all__ = [
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


def __getattr__(name: str) -> object:
    """Load a public name on first use (PEP 562) and keep it in the module namespace.

    Raises:
        ImportError: ``name`` belongs to an optional extra that is not installed (the message
            says which extra to install).
        AttributeError: no such public name.
    """
    where = _PUBLIC.get(name)
    if where is not None:
        value = getattr(importlib.import_module(where), name)
        globals()[name] = value
        return value
    if name in _EXTRA:
        module, extra = _EXTRA[name]
        return getattr(_extras.import_extra(module, extra), name)
    raise AttributeError(f"module 'opioidcds' has no attribute '{name}'")


def __dir__() -> list[str]:
    """The public names (for ``dir(opioidcds)`` and completion)."""
    return sorted({*globals(), *__all__, *_EXTRA})


class _Package(ModuleType):
    """The package module: a function here is never replaced by a submodule of the same name.

    ``opioidcds.assess`` is the function; importing the deprecated module path
    ``opioidcds.assess`` must not rebind the attribute to that module (Python's import system
    sets a submodule as an attribute of its parent after loading it).
    """

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, ModuleType) and name in _PUBLIC:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
_deprecated.install()
