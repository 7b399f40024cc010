"""Patient facts for local rulesets, derived once per patient, and their evaluation (issue 23).

A local ruleset with ``runs_for = "every-patient"`` (in a ``--rules DIR`` folder) reads the
typed facts of ``inputs/patient-facts.toml``: strong or weak opioid, days of opioid use, the
medicine classes prescribed, the OME, each risk factor, the risk level and tier, the care
setting and days since dated events. :func:`derive_facts` derives them from what the
assessment already worked out (the same function for ``assess`` and the population screen, so
both decide a local ruleset identically); :func:`local_results` evaluates every local ruleset
with them. Which ingredients are strong opioids is knowledge
(``inputs/opioid-strength.toml``, cited; :func:`opioid_strength`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Final, Literal

from pydantic import Field, ValidationError

from opioidcds._decide.knowledge import Engine, Knowledge
from opioidcds._decide.local_results import LocalOutcome, LocalResult, local_rulesets
from opioidcds._decide.rules import BoundRuleset, Profile, RulesetLoadError
from opioidcds._decide.rules.errors import LoadProblem
from opioidcds._decide.rules.loader import read_data_file
from opioidcds._decide.rules.schema import Date, Slug, Text, Version, _Doc
from opioidcds._display import format_decimal, words
from opioidcds._inputs.patient import Patient
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._measure.results import ItemStatus, OMEResult

__all__ = [
    "LocalOutcome",
    "LocalResult",
    "OpioidStrength",
    "derive_facts",
    "local_results",
    "local_rulesets",
    "opioid_strength",
    "strength_of",
]

PRIMARY_CARE: Final = "primary-care"
"""The care setting of ``assess`` and ``screen`` (fact ``care_setting``)."""
_FACTOR_PREFIX: Final = "factor_"


# --- strong and weak opioids ------------------------------------------------------------------


class _GroupDoc(_Doc):
    ingredients: list[Text] = Field(min_length=1)
    citations: list[Slug] = Field(min_length=1)


class _StrengthDoc(_Doc):
    kind: Literal["opioid-strength"]
    id: Slug
    version: Version
    effective_date: Date
    owner: Text
    reviewer: Text | None = None
    description: Text
    citations: dict[Slug, Text] = Field(min_length=1)
    strong: _GroupDoc
    weak: _GroupDoc


@dataclass(frozen=True, slots=True)
class OpioidStrength:
    """Strong and weak opioid ingredients (lower-case names of the OME conversion table)."""

    id: str
    version: str
    effective_date: dt.date
    strong: frozenset[str]
    weak: frozenset[str]


@cache
def opioid_strength() -> OpioidStrength:
    """The bundled ``inputs/opioid-strength.toml``, read and checked once.

    Raises:
        RulesetLoadError: the file is invalid, cites an undeclared source, or lists an
            ingredient as both strong and weak (a packaging defect).
    """
    path = knowledge_dir("inputs") / "opioid-strength.toml"
    data = read_data_file(path)
    try:
        doc = _StrengthDoc.model_validate(data)
    except ValidationError as exc:
        raise RulesetLoadError.from_validation(path, exc) from None
    strong = frozenset(i.lower() for i in doc.strong.ingredients)
    weak = frozenset(i.lower() for i in doc.weak.ingredients)
    problems = [
        LoadProblem(str(path), f"citation '{c}' is not declared")
        for c in (*doc.strong.citations, *doc.weak.citations)
        if c not in doc.citations
    ]
    problems.extend(
        LoadProblem(str(path), f"ingredient '{i}' is listed both strong and weak")
        for i in sorted(strong & weak)
    )
    if problems:
        raise RulesetLoadError(problems)
    return OpioidStrength(doc.id, doc.version, doc.effective_date, strong, weak)


def strength_of(ome: OMEResult | None) -> tuple[bool | None, bool | None]:
    """``(strong_opioid, weak_opioid)`` of the current opioids in ``ome``.

    True when some opioid item's ingredient is listed so; false when every opioid item's
    ingredient is listed and none is; unknown (``None``) otherwise (an ingredient not listed or
    not resolved is never read as the other kind). No current opioid: both false.
    """
    if ome is None:
        return False, False
    table = opioid_strength()
    ingredients = [
        (i.ingredient or "").lower() for i in ome.items if i.status is not ItemStatus.NOT_OPIOID
    ]
    return _any_of(ingredients, table.strong, table), _any_of(ingredients, table.weak, table)


def _any_of(
    ingredients: Iterable[str], group: frozenset[str], table: OpioidStrength
) -> bool | None:
    names = list(ingredients)
    if any(n in group for n in names):
        return True
    if all(n in table.strong or n in table.weak for n in names):
        return False
    return None


# --- the facts ----------------------------------------------------------------------------------


def _days(later: dt.date | None, earlier: dt.date | None) -> int | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).days


def derive_facts(
    patient: Patient,
    *,
    ome: OMEResult | None,
    current_opioid: bool,
    opioid_use_days: int | None,
    early_reorders_at_least: int | None,
    sedative_medicines_at_least: int,
    in_scope: bool | None,
    factors: Mapping[str, bool | None],
    factor_count: int | None,
    risk_level: str | None,
    risk_level_if_unknown: str | None,
    tier: str | None,
) -> dict[str, object]:
    """Every patient fact of ``inputs/patient-facts.toml`` (``None``: unknown).

    ``factors`` maps each risk factor id to present (true), absent (false) or unknown; it
    becomes ``factor_<id>`` (underscores for hyphens).
    """
    strong, weak = strength_of(ome)
    as_of = patient.assessment_date
    if ome is None:
        total: Decimal | None = Decimal(0)
        lower = Decimal(0)
    else:
        lower = ome.total_mg_per_day
        total = ome.total_mg_per_day if ome.complete else None
    sex = None if patient.sex.value == "unknown" else patient.sex.value
    readiness = patient.readiness_to_change
    facts: dict[str, object] = {
        "care_setting": PRIMARY_CARE,
        "age": patient.age,
        "sex": sex,
        "in_scope": in_scope,
        "current_opioid": current_opioid,
        "strong_opioid": strong,
        "weak_opioid": weak,
        "opioid_use_days": opioid_use_days,
        "ome_mg_per_day": total,
        "ome_lower_bound_mg_per_day": lower,
        "benzodiazepine_coprescribed": patient.benzodiazepine,
        "z_drug_coprescribed": patient.z_drug,
        "gabapentinoid_coprescribed": patient.gabapentinoid,
        "sedative_medicines_at_least": sedative_medicines_at_least,
        "early_reorders_at_least": early_reorders_at_least,
        "days_since_ae_attendance": _days(as_of, patient.last_ae_attendance),
        "days_since_opioid_review": _days(as_of, patient.last_opioid_review),
        "cancer_pain": patient.cancer_pain,
        "palliative_care": patient.palliative_care,
        "readiness_to_change": readiness.value if readiness is not None else None,
        "factor_count": factor_count,
        "risk_level": risk_level,
        "risk_level_if_unknown": risk_level_if_unknown,
        "tier": tier,
    }
    facts.update({_FACTOR_PREFIX + f.replace("-", "_"): s for f, s in factors.items()})
    return facts


# --- local rulesets -----------------------------------------------------------------------------


def _value_text(bound: BoundRuleset, field: str, value: object) -> str:
    rs = bound.ruleset
    if isinstance(value, tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, str) and field in rs.outputs and rs.outputs[field].values:
        return rs.label(field, value)
    return str(value)


def local_results(
    knowledge: Knowledge,
    profile: Profile | None,
    facts: Mapping[str, object],
    run: Engine,
) -> tuple[LocalResult, ...]:
    """Every local ruleset of ``knowledge`` evaluated on ``facts`` (empty without any).

    Raises:
        ProfileError: the profile cannot be applied.
        InvalidInputError: a fact is outside a local ruleset's declared bounds.
    """
    out: list[LocalResult] = []
    for rid in local_rulesets(knowledge):
        bound = knowledge.bound(rid, profile)
        rs = bound.ruleset
        d = run(bound, {n: facts.get(n) for n in rs.input_names})
        fired = tuple(
            LocalOutcome(
                rule_id=dec.rule_id,
                title=rs.rule(dec.rule_id).display,
                outcome=tuple(
                    f"{words(k).capitalize()}: {_value_text(bound, k, v)}"
                    for k, v in dec.outcome.items()
                ),
            )
            for dec in d.fired
        )
        unknown = tuple(sorted(d.unknown_inputs)) if not fired else ()
        out.append(
            LocalResult(
                ruleset_id=rs.id,
                ruleset_version=rs.version,
                owner=rs.owner,
                source=rs.source.rsplit("/", 1)[-1],
                fired=fired,
                cannot_evaluate=unknown,
                cannot_evaluate_labels=tuple(dict.fromkeys(rs.input_label(n) for n in unknown)),
                report=d.report(),
            )
        )
    return tuple(out)
