"""Population screening: an issue extract in, a prioritised and explained worklist out.

The columnar part (Polars) checks the rows (in parts of whole patients for large extracts,
:mod:`~.partition`), resolves each distinct product once and groups the issues per patient.
The default engine ``"fast"`` then derives every patient's decision inputs in columns and
evaluates the rulesets once per class of inputs (:mod:`~.vector`); the few patients outside
that path are built by :func:`opioidcds.population.build.build_patient` and decided one by one
with ``assess``'s own derivation functions and rule evaluations shared between equivalent
inputs (:class:`~.memo.MemoEngine`). The engine ``"assess"`` calls
:func:`~opioidcds.assess` itself for every patient; the test suite checks both give
identical rows (docs/population.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal

import polars as pl

from opioidcds._decide.assessment import (  # the private helpers are assess's own derivations
    _HUNDRED,
    _STATUS,
    Assessment,
    FactorStatus,
    _factor_inputs,
    _History,
    _is_opioid_item,
    _ome,
    assess,
    tier_flags,
    uncounted_factors,
)
from opioidcds._decide.knowledge import (
    _HIGH_DOSE_FACTOR,
    Knowledge,
    _parameter_note,
    default_knowledge,
    for_knowledge,
)
from opioidcds._decide.patient_facts import local_rulesets
from opioidcds._decide.profile_notes import local_rules_text
from opioidcds._decide.rules import Decisions, DecisionStatus, Profile
from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds._inputs.patient import IssueRecord, Patient, ReadinessToChange, medicine_classes
from opioidcds._knowledge.products import MedicineClass
from opioidcds._knowledge.provenance import (
    KnowledgeSource,
    Provenance,
    build,
    canonical_json,
    combine,
    fingerprint_source,
)
from opioidcds._measure.ome import item_figures
from opioidcds._measure.results import OMEResult
from opioidcds.population.build import (
    BuiltPatient,
    Issue,
    MedicineMethod,
    Resolved,
    build_patient,
    resolve_product,
)
from opioidcds.population.memo import MemoEngine, class_of, cut_points
from opioidcds.population.method import ScreeningMethod, default_method
from opioidcds.population.partition import issue_parts
from opioidcds.population.prescription_ome import Setting, UnitMeasures, record_classes
from opioidcds.population.rows import (
    BAND_NOT_LISTED,
    DOSE_SOURCES,
    ROW_SCHEMA,
    PatientRow,
    decided_table,
    dose_sources,
    dose_sources_line,
    ordered,
    rows_table,
    table_rows,
)
from opioidcds.population.rows import counts as row_counts
from opioidcds.population.schema import RowProblem, read_patients
from opioidcds.population.vector import (
    decide,
    derive,
    plain,
)

__all__ = [
    "DOSE_SOURCES",
    "PatientRow",
    "Screening",
    "dose_sources",
    "dose_sources_line",
    "project_assessment",
    "screen",
]

EngineName = Literal["fast", "assess"]
_READY: Final = frozenset({ReadinessToChange.CONSIDERING, ReadinessToChange.READY})
_BAND_NOT_LISTED: Final = BAND_NOT_LISTED
_EXACT_METHODS: Final = frozenset({"dosage-text", "quantity-interval"})


def screening_method_source(method: ScreeningMethod) -> KnowledgeSource:
    """The provenance entry of a screening method: the canonical JSON of the loaded method."""
    return KnowledgeSource(
        kind="screening-method",
        id=method.id,
        version=method.version,
        effective_date=method.effective_date,
        sha256=hashlib.sha256(canonical_json(asdict(method))).hexdigest(),
    )


def for_screening(
    knowledge: Knowledge, profile: Profile | None, method: ScreeningMethod
) -> Provenance:
    """Provenance of a population screening.

    The assessment knowledge, the bundled catalogue (every issue's product is resolved against
    it), the ``worklist-priority`` ruleset and the screening method.
    """
    return combine(
        for_knowledge(knowledge, profile, True),
        build(
            [
                fingerprint_source("ruleset", knowledge.rulesets["worklist-priority"]),
                screening_method_source(method),
            ]
        ),
    )


@dataclass(frozen=True, slots=True)
class _Core:
    """What both engines must agree on for one patient."""

    in_scope: bool | None
    scope_rule: str | None
    scope_reason: str
    history: str
    ome: OMEResult | None
    factors: tuple[tuple[str, FactorStatus], ...]
    risk_level: str | None
    risk_level_if_unknown: str | None
    tier: str
    tier_if_unknown: str
    could_change: tuple[str, ...]


def _core_of(a: Assessment) -> _Core:
    return _Core(
        in_scope=a.scope.in_scope,
        scope_rule=a.scope.rule_id,
        scope_reason=a.scope.reason,
        history=a.scope.history,
        ome=a.ome,
        factors=tuple((f.id, f.status) for f in a.factors),
        risk_level=a.risk_level.level if a.risk_level else None,
        risk_level_if_unknown=a.risk_level.level_if_unknown if a.risk_level else None,
        tier=a.tier.tier,
        tier_if_unknown=a.tier.tier_if_unknown,
        could_change=a.unknowns_that_could_change,
    )


_Strat = tuple[str | None, str | None, str, str, frozenset[str]]


class _FastDecider:
    """assess()'s derivations, rule evaluations shared between equivalent patients.

    Mirrors ``assess._history``, ``assess._scope`` and ``assess._stratify`` without building
    traces or reports (which the worklist does not show); ``assess._factor_inputs`` is used as
    is. tests/population/test_population_differential.py checks the mirror against assess.
    """

    def __init__(self, kb: Knowledge, profile: Profile | None) -> None:
        self.kb = kb
        self.profile = profile
        self.run = MemoEngine()
        self.strat: dict[tuple[object, ...], _Strat] = {}
        self.notes: dict[str, str] = {}
        self.scope_rs = kb.bound("scope", profile)
        self.factor_rs = kb.bound("risk-factors", profile)
        self.early_rs = kb.bound("early-reordering", profile)
        self.level_rs = kb.bound("risk-level", profile)
        self.tier_rs = kb.bound("support-tier", profile)
        self.uncounted = uncounted_factors(self.factor_rs)
        self.levels = self.level_rs.ruleset.outputs["level"].values
        self.tiers = self.tier_rs.ruleset.outputs["tier"].values
        self.measures = UnitMeasures(Setting(kb.table, kb.vocabulary, kb.catalogue))
        self.level_cache: dict[tuple[int, bool], str] = {}
        self.tier_cache: dict[tuple[str | None, tuple[tuple[str, bool], ...], bool], str] = {}

    def early_status(self, percent: Decimal | None, before: int) -> DecisionStatus:
        """Status of rule early-reissue for one re-issue, as ``assess._history`` evaluates it."""
        d = self.run(
            self.early_rs,
            {"percent_of_supply_elapsed": percent, "days_before_assessment": before},
        )
        return d.statuses["early-reissue"]

    def scope(
        self, patient: Patient, hist: _History, *, current_opioid: bool
    ) -> tuple[bool | None, str | None, str]:
        return self.scope_of(
            {
                "cancer_pain": patient.cancer_pain,
                "palliative_care": patient.palliative_care,
                "opioid_substitution_therapy": bool(patient.on_opioid_substitution_therapy),
                "age": patient.age,
                "current_opioid": current_opioid,
                "opioid_use_days": hist.use_days,
                "opioid_issues": hist.issues,
            }
        )

    def scope_of(self, inputs: Mapping[str, object]) -> tuple[bool | None, str | None, str]:
        """(in scope, rule id, reason) as ``assess._scope`` gives them for these inputs."""
        bound = self.scope_rs
        d = self.run(bound, inputs)
        outcome = d.outcome
        fired = d.fired_ids
        if outcome is None or not fired:  # pragma: no cover - as in assess._scope
            return None, None, "scope undetermined: " + ", ".join(d.unknown_inputs) + " unknown"
        in_scope = outcome["in_scope"] is True
        reason = _text(outcome["reason"])
        note = self.notes.get(fired[0])
        if note is None:
            note = self.notes.setdefault(fired[0], _parameter_note(bound, fired[0]))
        if note and not in_scope:
            reason = f"{reason} ({note})"
        return in_scope, fired[0], reason

    def factors_of(self, decided: Decisions) -> tuple[tuple[str, FactorStatus], ...]:
        """Each factor's status from the decisions of ruleset risk-factors (as assess)."""
        return tuple((rid, _STATUS[st]) for rid, st in decided.statuses.items())

    def stratify_of(
        self, factors: tuple[tuple[str, FactorStatus], ...], *, in_scope: bool
    ) -> tuple[str | None, str | None, str, str, tuple[str, ...]]:
        """(level, level if unknown, tier, tier if unknown, unknowns that could change)."""
        strat = self.stratify(factors, in_scope=in_scope)
        unknown = tuple(rid for rid, st in factors if st is FactorStatus.UNKNOWN)
        return strat[0], strat[1], strat[2], strat[3], tuple(u for u in unknown if u in strat[4])

    def band_of(self, tier: str, *, early: bool, readiness: str | None) -> tuple[str, str]:
        """(band, reason) of ruleset worklist-priority, as :func:`_band` gives them."""
        ready = readiness is not None and ReadinessToChange(readiness) in _READY
        return _band_inputs(
            self.kb, self.profile, self.run, core_tier=tier, early=early, ready=ready
        )

    def _level(self, count: int, high: bool) -> str:
        key = (count, high)
        found = self.level_cache.get(key)
        if found is None:
            d = self.run(self.level_rs, {"factor_count": count, "high_dose": high})
            found = self.level_cache.setdefault(key, _text((d.outcome or {})["level"]))
        return found

    def _tier(
        self, level: str | None, flags: tuple[tuple[str, bool], ...], *, in_scope: bool
    ) -> str:
        key = (level, flags, in_scope)
        found = self.tier_cache.get(key)
        if found is None:
            d = self.run(self.tier_rs, {"in_scope": in_scope, "risk_level": level, **dict(flags)})
            found = self.tier_cache.setdefault(key, _text((d.outcome or {}).get("tier")))
        return found

    def stratify(self, factors: tuple[tuple[str, FactorStatus], ...], *, in_scope: bool) -> _Strat:
        status = dict(factors)
        unknown = tuple(rid for rid, st in factors if st is FactorStatus.UNKNOWN)
        present = sum(
            1 for rid, st in factors if rid not in self.uncounted and st is FactorStatus.PRESENT
        )
        hd = status.get(_HIGH_DOSE_FACTOR, FactorStatus.ABSENT)
        now_flags = tier_flags(self.tier_rs, status, frozenset()) if in_scope else ()
        key = (in_scope, present, hd, now_flags, unknown)
        found = self.strat.get(key)
        if found is not None:
            return found
        if not in_scope:
            tier = self._tier(None, (), in_scope=False)
            found = (None, None, tier, tier, frozenset())
            self.strat[key] = found
            return found
        unknown_others = sum(1 for u in unknown if u not in self.uncounted)

        def level_with(extra: set[str]) -> str:
            count = present + sum(1 for u in extra if u not in self.uncounted)
            high = hd is FactorStatus.PRESENT or _HIGH_DOSE_FACTOR in extra
            return self._level(count, high)

        def tier_with(extra: set[str]) -> str:
            flags = tier_flags(self.tier_rs, status, extra)
            return self._tier(level_with(extra), flags, in_scope=True)

        level = self._level(present, hd is FactorStatus.PRESENT)
        upper_level = self._level(present + unknown_others, hd is not FactorStatus.ABSENT)
        levels, tiers = self.levels, self.tiers
        could: set[str] = {
            u for u in unknown if levels.index(level_with({u})) > levels.index(level)
        }
        tier_now = self._tier(level, now_flags, in_scope=True)
        upper_tier = tier_with(set(unknown))
        could.update(u for u in unknown if tiers.index(tier_with({u})) > tiers.index(tier_now))
        if upper_level != level or upper_tier != tier_now:
            could.update(unknown)
        found = (level, upper_level, tier_now, upper_tier, frozenset(could))
        self.strat[key] = found
        return found

    def core(self, patient: Patient, hist: _History) -> _Core:
        counted = patient.opioid_candidates
        ome = _ome(counted, self.kb) if counted else None
        current_opioid = ome is not None and any(_is_opioid_item(i) for i in item_figures(ome))
        in_scope, rule_id, reason = self.scope(patient, hist, current_opioid=current_opioid)
        inputs, _ = _factor_inputs(patient, ome, hist)
        decided = self.run(self.factor_rs, inputs)
        factors = tuple((rid, _STATUS[s]) for rid, s in decided.statuses.items())
        strat = self.stratify(factors, in_scope=bool(in_scope))
        unknown = tuple(rid for rid, st in factors if st is FactorStatus.UNKNOWN)
        return _Core(
            in_scope=in_scope,
            scope_rule=rule_id,
            scope_reason=reason,
            history=hist.evidence,
            ome=ome,
            factors=factors,
            risk_level=strat[0],
            risk_level_if_unknown=strat[1],
            tier=strat[2],
            tier_if_unknown=strat[3],
            could_change=tuple(u for u in unknown if u in strat[4]),
        )


@lru_cache(maxsize=65_536)
def _is_opioid_record(dmd_code: str | None, product_name: str | None, drug: str | None) -> bool:
    if drug is None:
        return MedicineClass.OPIOID in record_classes(dmd_code, product_name)
    record = IssueRecord(
        issue_date=dt.date(2000, 1, 1), dmd_code=dmd_code, product_name=product_name, drug=drug
    )
    return MedicineClass.OPIOID in medicine_classes(record)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _methods_text(methods: Sequence[MedicineMethod]) -> str:
    if not methods:
        return "no current opioid"
    return " | ".join(f"{m.method}: {m.note}" for m in methods)


def _row(
    patient_id: str,
    patient: Patient,
    core: _Core,
    methods: Sequence[MedicineMethod],
    band: tuple[str, str],
) -> PatientRow:
    ome = core.ome
    computable = all(m.method in _EXACT_METHODS for m in methods)
    return PatientRow(
        patient_id=patient_id,
        status="screened",
        in_scope=core.in_scope,
        scope_rule=core.scope_rule,
        scope_reason=core.scope_reason,
        history=core.history,
        ome_mg_per_day=plain(ome.total_mg_per_day) if ome is not None else Decimal(0),
        ome_complete=(ome.complete if ome is not None else True) and computable,
        ome_method=_methods_text(methods),
        factors_present=tuple(r for r, s in core.factors if s is FactorStatus.PRESENT),
        factors_unknown=tuple(r for r, s in core.factors if s is FactorStatus.UNKNOWN),
        risk_level=core.risk_level,
        risk_level_if_unknown=core.risk_level_if_unknown,
        tier=core.tier,
        tier_if_unknown=core.tier_if_unknown,
        unknowns_that_could_change=core.could_change,
        readiness_to_change=(
            patient.readiness_to_change.value if patient.readiness_to_change else None
        ),
        band=band[0],
        band_reason=band[1],
    )


def _band(
    kb: Knowledge, profile: Profile | None, run: MemoEngine, patient: Patient, core: _Core
) -> tuple[str, str]:
    early = dict(core.factors).get("early-reordering") is FactorStatus.PRESENT
    ready = patient.readiness_to_change in _READY
    return _band_inputs(kb, profile, run, core_tier=core.tier, early=early, ready=ready)


def _band_inputs(
    kb: Knowledge,
    profile: Profile | None,
    run: MemoEngine,
    *,
    core_tier: str,
    early: bool,
    ready: bool,
) -> tuple[str, str]:
    d = run(
        kb.bound("worklist-priority", profile),
        {"tier": core_tier, "early_reordering": early, "ready_to_change": ready},
    )
    outcome = d.outcome or {}
    band = outcome.get("band")
    reason = outcome.get("reason")
    return (
        band if isinstance(band, str) else _BAND_NOT_LISTED,
        reason if isinstance(reason, str) else "",
    )


def project_assessment(
    patient_id: str,
    built: BuiltPatient,
    assessment: Assessment,
    *,
    knowledge: Knowledge | None = None,
    profile: Profile | None = None,
) -> PatientRow:
    """The worklist row of ``assessment`` (what the fast engine must reproduce exactly)."""
    kb = knowledge if knowledge is not None else default_knowledge()
    if built.patient is None:
        raise InvalidInputError("built", "has no patient")
    core = _core_of(assessment)
    band = _band(kb, profile, MemoEngine(), built.patient, core)
    return _row(patient_id, built.patient, core, built.methods, band)


def _not_screened(patient_id: str, reason: str) -> PatientRow:
    return PatientRow(
        patient_id=patient_id,
        status="not-screened",
        in_scope=None,
        scope_rule=None,
        scope_reason=reason,
        history="",
        ome_mg_per_day=None,
        ome_complete=False,
        ome_method="",
        factors_present=(),
        factors_unknown=(),
        risk_level=None,
        risk_level_if_unknown=None,
        tier=None,
        tier_if_unknown=None,
        unknowns_that_could_change=(),
        readiness_to_change=None,
        band=_BAND_NOT_LISTED,
        band_reason="Not screened: " + reason,
    )


LOCAL_SCHEMA: Final[dict[str, pl.DataType]] = {
    "patient_id": pl.String(),
    "ruleset": pl.String(),
    "version": pl.String(),
    "rules_fired": pl.List(pl.String()),
    "result": pl.String(),
    "outcome": pl.String(),
    "cannot_evaluate": pl.List(pl.String()),
}
"""Columns of :attr:`Screening.local`: one row per patient and local ruleset."""


@dataclass(frozen=True, slots=True)
class Screening:
    """The result of :func:`screen`: one row per patient (worklist order) and the problems.

    ``table`` holds the rows as columns (``opioidcds.population.rows.ROW_SCHEMA``: one column
    per field of :class:`PatientRow`, the OME as its exact text), in worklist order: band,
    then the method's keys (largest first), then patient id; :attr:`rows` gives them as
    :class:`PatientRow` objects, made on first use. ``problems`` lists every excluded or
    unused input row by file, row number and reason (never its values). ``counts`` summarises
    the run: every issue row read is an opioid, benzodiazepine, gabapentinoid or
    other-medicine row, or an excluded one (``issue_rows_*``, ``problem_rows_issues``).
    ``capacity``: people a practice can contact in a week (the report's "contact this week"
    list; default from the method file). ``local`` holds each patient's result of each local
    ruleset run for every patient (``LOCAL_SCHEMA``; empty without local rulesets), decided by
    :func:`~opioidcds.assess` itself; ``local_rules`` names the local rules in force
    (extensions and local rulesets), or ``None``.
    """

    as_of: dt.date | None
    table: pl.DataFrame = field(compare=False, repr=False)
    problems: tuple[RowProblem, ...]
    counts: Mapping[str, int]
    versions: Mapping[str, str]
    method: ScreeningMethod
    engine: str
    provenance: Provenance  # every knowledge source used and their content hash (HAZ-011)
    factor_labels: Mapping[str, str] = field(default_factory=dict)
    capacity: int | None = None
    local: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=LOCAL_SCHEMA), compare=False, repr=False
    )
    local_rules: str | None = None
    _rows: list[tuple[PatientRow, ...]] = field(
        default_factory=list, init=False, compare=False, repr=False
    )

    @property
    def rows(self) -> tuple[PatientRow, ...]:
        """Every patient's row, in worklist order (made from :attr:`table` once)."""
        if not self._rows:
            self._rows.append(table_rows(self.table))
        return self._rows[0]

    @property
    def worklist(self) -> tuple[PatientRow, ...]:
        """The rows on the worklist (in scope, banded), in priority order."""
        if self._rows:
            return tuple(r for r in self._rows[0] if r.band != _BAND_NOT_LISTED)
        return table_rows(self._listed())

    @property
    def weekly_capacity(self) -> int:
        """People to contact this week: ``capacity`` as given, else the method's default."""
        return self.capacity if self.capacity is not None else self.method.weekly_capacity

    @property
    def call_first(self) -> tuple[PatientRow, ...]:
        """The top of the worklist a practice can contact this week (:attr:`weekly_capacity`)."""
        if self._rows:
            return self.worklist[: self.weekly_capacity]
        return table_rows(self._listed().head(self.weekly_capacity))

    def _listed(self) -> pl.DataFrame:
        return self.table.filter(pl.col("band") != _BAND_NOT_LISTED)


_ISSUE_COLUMNS: Final = (
    "row",
    "patient_id",
    "issue_date",
    "rid",
    "quantity",
    "dosage_text",
    "days_supply",
)


def _resolve_all(df: pl.DataFrame) -> tuple[pl.DataFrame, list[Resolved]]:
    """Resolve each distinct (dmd_code, product_name) once; add column ``rid``."""
    pairs = df.select("dmd_code", "product_name").unique(maintain_order=True)
    resolved = [resolve_product(c, n) for c, n in pairs.iter_rows()]
    pairs = pairs.with_columns(pl.Series("rid", range(len(resolved)), dtype=pl.Int64))
    joined = df.join(pairs, on=["dmd_code", "product_name"], how="left", nulls_equal=True)
    return joined, resolved


def _attributes(patients: pl.DataFrame | None) -> dict[str, dict[str, object]]:
    if patients is None:
        return {}
    out: dict[str, dict[str, object]] = {}
    for rec in patients.drop("row").iter_rows(named=True):
        pid = str(rec.pop("patient_id"))
        out[pid] = {k: v for k, v in rec.items() if v is not None}
    return out


_SHARING: ContextVar[bool] = ContextVar("opioidcds_shared_deciders", default=False)
_KEPT: dict[object, _FastDecider] = {}  # (knowledge, profile): the decider kept for them


@contextmanager
def shared_deciders() -> Iterator[None]:
    """Within the block, :func:`screen` reuses the decision memos of earlier calls in the block.

    For a process that screens many parts of one extract in turn (a Spark Python worker
    screens one patient partition after another): the dosage doses, OMEs and rule decisions
    worked out for one part are not worked out again for the next. Everything memoised is a
    function of the knowledge and profile alone (the key), never of a patient or a date. The
    memos are kept by the process (one set per knowledge and profile) until it ends: use it in
    processes that screen one extract.
    """
    token = _SHARING.set(True)
    try:
        yield
    finally:
        _SHARING.reset(token)


def _decider(kb: Knowledge, profile: Profile | None) -> _FastDecider:
    """A new decider, or, inside :func:`shared_deciders`, the one kept for this knowledge."""
    if not _SHARING.get():
        return _FastDecider(kb, profile)
    try:
        key: object = (id(kb), profile)  # the kept decider holds kb: its id is not reused
        found = _KEPT.get(key)
    except TypeError:  # a profile that cannot be a key: nothing shared
        return _FastDecider(kb, profile)
    if found is None or found.kb is not kb:
        found = _KEPT[key] = _FastDecider(kb, profile)
    return found


def screen(
    issues: str | Path | pl.DataFrame,
    patients: str | Path | pl.DataFrame | None = None,
    *,
    as_of: dt.date | None = None,
    knowledge: Knowledge | None = None,
    profile: Profile | None = None,
    method: ScreeningMethod | None = None,
    engine: EngineName = "fast",
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    capacity: int | None = None,
) -> Screening:
    """Screen every patient of an issue extract as of ``as_of`` (default: latest issue date).

    Args:
        issues: the issue extract (CSV/Parquet path or a DataFrame of text columns).
        patients: the optional patient table (same forms).
        as_of: the screening date; later issues are not used (and are listed).
        knowledge: the knowledge bundle (default: :func:`~opioidcds.default_knowledge`).
        profile: a local profile (thresholds), as for :func:`~opioidcds.assess`.
        method: the screening method (default: the bundled one).
        engine: ``"fast"`` (default) or ``"assess"`` (calls ``assess`` per patient).
        progress: called as ``progress(done, total)`` every few thousand patients (only at the
            end when screening in several processes).
        workers: processes to use (default 1). More than one is used only from 20,000
            patients, with the default knowledge and no profile, and needs the calling script's
            entry point guarded by ``if __name__ == "__main__":`` (start method ``spawn``).
        capacity: people the practice can contact in a week: the size of the report's
            "contact this week" list (default: the method file's, 4; see
            ``population_method/screening.toml``). It orders nothing: the worklist is the same.

    Returns:
        A :class:`Screening`.

    Raises:
        InvalidInputError: a file cannot be read or lacks required columns (named), or
            ``capacity`` is not a whole number from 1 to 100,000.
    """
    if capacity is not None and (
        isinstance(capacity, bool)
        or not isinstance(capacity, int)
        or not 1 <= capacity <= _MAX_CAPACITY
    ):
        raise InvalidInputError("capacity", "must be a whole number of people from 1 to 100000")
    kb = knowledge if knowledge is not None else default_knowledge()
    meth = method if method is not None else default_method()
    parts: list[pl.DataFrame] = []
    problems: list[RowProblem] = []
    for part, part_problems in issue_parts(issues):
        parts.append(part)
        problems.extend(part_problems)
    pt_df: pl.DataFrame | None = None
    excluded: frozenset[str] = frozenset()
    if patients is not None:
        pt_df, pt_problems, excluded = read_patients(patients)
        problems.extend(pt_problems)
    counts: dict[str, int] = {
        "issue_rows_read": sum(p.height for p in parts) + sum(p.file == "issues" for p in problems),
        **{key: 0 for _, key in _KIND_COUNTS},
    }
    if as_of is None:
        dates = [d for p in parts if p.height for d in (p.get_column("issue_date").max(),)]
        as_of = max((d for d in dates if isinstance(d, dt.date)), default=None)
    tables: list[pl.DataFrame] = []
    done = 0
    ids: list[pl.DataFrame] = []
    decider = _decider(kb, profile)
    has_local = bool(local_rulesets(kb))
    local: list[dict[str, object]] = []
    everyone = sum(p.get_column("patient_id").n_unique() for p in parts if p.height)
    for k in range(len(parts)):
        df, resolved = _usable(parts[k], as_of, problems, counts)
        parts[k] = df  # the checked rows are no longer needed
        total = df.get_column("patient_id").n_unique() if df.height else 0
        ids.append(df.select("patient_id").unique())
        n_workers = _workers(workers, total, parallel_ok=knowledge is None and profile is None)
        if n_workers > 1 and as_of is not None:
            tables.append(
                _screen_parallel(
                    df,
                    resolved,
                    pt_df,
                    excluded=excluded,
                    as_of=as_of,
                    meth=meth,
                    engine=engine,
                    n_workers=n_workers,
                )
            )
        else:
            ctx = _Context(kb, profile, meth, decider, engine, excluded, as_of)
            tables.append(
                _screen_frame(
                    ctx,
                    df,
                    resolved,
                    pt_df,
                    progress=None if progress is None else _offset(progress, done, everyone),
                    total=total,
                    local=local if has_local else None,
                )
            )
        done += tables[-1].height
        parts[k] = df.clear()
    if progress is not None:
        progress(done, done)
    counts["patients_in_table_without_issues"] = (
        0
        if pt_df is None
        else pt_df.select("patient_id")
        .unique()
        .join(pl.concat(ids), on="patient_id", how="anti")
        .height
    )
    table = ordered(pl.concat(tables) if tables else pl.DataFrame(schema=ROW_SCHEMA), meth)
    counts.update(row_counts(table, problems))
    labels = {
        r.id: str(dict(r.outcome).get("label", r.id)) for r in kb.rulesets["risk-factors"].rules
    }
    return Screening(
        as_of=as_of,
        table=table,
        problems=tuple(sorted(problems, key=lambda p: (p.file, p.row))),
        counts=counts,
        versions={
            **kb.versions(profile),
            "ruleset:worklist-priority": kb.rulesets["worklist-priority"].version,
            "method": f"{meth.id} {meth.version}",
        },
        method=meth,
        engine=engine,
        provenance=for_screening(kb, profile, meth),
        factor_labels=labels,
        capacity=capacity,
        local=pl.DataFrame(local, schema=LOCAL_SCHEMA),
        local_rules=local_rules_text(kb.rulesets),
    )


def _offset(
    progress: Callable[[int, int], None], done: int, everyone: int
) -> Callable[[int, int], None]:
    """``progress`` of one part, after the ``done`` patients of earlier parts, of ``everyone``."""

    def report(n: int, _total: int) -> None:
        progress(done + n, max(everyone, done + n))

    return report


def _screen_frame(
    ctx: _Context,
    df: pl.DataFrame,
    resolved: Sequence[Resolved],
    patients: pl.DataFrame | None,
    *,
    progress: Callable[[int, int], None] | None = None,
    total: int = 0,
    local: list[dict[str, object]] | None = None,
) -> pl.DataFrame:
    """Screen every patient of ``df`` (usable rows, sorted by patient, date, row).

    With ``local`` (a list), each patient's local-ruleset results are appended to it
    (:func:`_local_rows`). Works through the frame in slices of whole patients (about
    ``_SLICE_ROWS`` rows for the fast engine, ``_SLICE_ROWS_ASSESS`` for ``assess``) to bound
    memory.
    """
    tables: list[pl.DataFrame] = []
    done = 0
    fast = ctx.engine == "fast" and ctx.as_of is not None
    for piece in _slices(df, _SLICE_ROWS if fast else _SLICE_ROWS_ASSESS):
        pts = _patients_of(patients, piece)
        if local is not None:
            local.extend(_local_rows(ctx, piece, resolved, pts))
        if fast:
            tables.append(_screen_columns(ctx, piece, resolved, pts))
        else:
            attrs = _attributes(pts)
            rows = [
                _screen_one(ctx, pid, group, attrs.get(pid), None)
                for pid, group in _patient_groups(piece, resolved)
            ]
            tables.append(rows_table(rows))
        done += tables[-1].height
        if progress is not None:
            progress(done, total)
    return pl.concat(tables) if tables else pl.DataFrame(schema=ROW_SCHEMA)


def _local_rows(
    ctx: _Context, piece: pl.DataFrame, resolved: Sequence[Resolved], pts: pl.DataFrame | None
) -> list[dict[str, object]]:
    """Each patient's result of each local ruleset (``LOCAL_SCHEMA`` rows).

    Decided by :func:`~opioidcds.assess` on the patient built with the whole history, so a
    local ruleset reads the same patient facts as ``opioidcds assess`` (issue 23). A patient
    not screened gets no row here (the worklist says why); one whose assessment fails gets a
    row per local ruleset saying "not evaluated" and why (the error's field, never a value).
    """
    out: list[dict[str, object]] = []
    attrs = _attributes(pts)
    as_of = ctx.as_of
    if as_of is None:  # pragma: no cover - as_of is set whenever there are rows
        return out
    for pid, group in _patient_groups(piece, resolved):
        if pid in ctx.excluded:
            continue
        built = build_patient(group, attrs.get(pid), as_of=as_of, method=ctx.method)
        if built.patient is None:
            continue
        try:
            a = assess(built.patient, knowledge=ctx.kb, profile=ctx.profile)
        except OpioidCDSError as exc:  # never a silent gap: each local ruleset says why
            field_name = getattr(exc, "field", None) or type(exc).__name__
            why = f"not evaluated: the assessment failed ({field_name})"
            out.extend(
                {
                    "patient_id": pid,
                    "ruleset": rid,
                    "version": ctx.kb.rulesets[rid].version,
                    "rules_fired": [],
                    "result": "not evaluated",
                    "outcome": why,
                    "cannot_evaluate": [],
                }
                for rid in local_rulesets(ctx.kb)
            )
            continue
        out.extend(
            {
                "patient_id": pid,
                "ruleset": r.ruleset_id,
                "version": r.ruleset_version,
                "rules_fired": [o.rule_id for o in r.fired],
                "result": r.headline(),
                "outcome": r.summary(),
                "cannot_evaluate": list(r.cannot_evaluate),
            }
            for r in a.local
        )
    return out


def _patients_of(patients: pl.DataFrame | None, piece: pl.DataFrame) -> pl.DataFrame | None:
    """The patient-table rows of the patients of ``piece``."""
    if patients is None:
        return None
    return patients.join(piece.select("patient_id").unique(), on="patient_id", how="semi")


def _screen_columns(
    ctx: _Context, piece: pl.DataFrame, resolved: Sequence[Resolved], pts: pl.DataFrame | None
) -> pl.DataFrame:
    """The fast engine on one slice: columnar inputs, decided per class (module vector).

    Patients the columnar path leaves out are screened one by one by the reference path.
    """
    as_of = ctx.as_of
    if as_of is None:  # pragma: no cover - the caller checks
        raise InvalidInputError("as_of", "is required")
    piece = piece.with_columns(pl.col("patient_id").rle_id().alias("pid"))  # sorted by patient
    hist = _history_frame(piece, resolved, as_of, ctx.decider)
    derived = derive(
        piece,
        resolved,
        pts,
        hist,
        as_of=as_of,
        method=ctx.method,
        excluded=ctx.excluded,
        measures=ctx.decider.measures,
    )
    decided = decide(derived, ctx.decider)
    table = decided_table(decided, derived.omes)
    back = sorted(derived.fallback | decided.fallback)
    rows: list[PatientRow] = []
    if back:
        mine = pl.Series("patient_id", back, dtype=pl.String).implode()  # a list, not a column
        sub = piece.filter(pl.col("patient_id").is_in(mine))
        hists = _histories(hist.filter(pl.col("patient_id").is_in(mine)))
        attrs = _attributes(None if pts is None else pts.filter(pl.col("patient_id").is_in(mine)))
        for pid, group in _patient_groups(sub, resolved):
            rows.append(_screen_one(ctx, pid, group, attrs.get(pid), hists.get(pid, _NO_OPIOID)))
    return pl.concat([table, rows_table(rows)]) if rows else table


_SLICE_ROWS: Final = 2_000_000  # memory bound, not clinical
_SLICE_ROWS_ASSESS: Final = 250_000  # the per-patient path holds Python objects per slice


def _slices(df: pl.DataFrame, size: int = _SLICE_ROWS) -> Iterator[pl.DataFrame]:
    """Consecutive slices of about ``size`` rows of a patient-sorted frame (whole patients)."""
    if df.height <= size:
        yield df
        return
    ids = df.get_column("patient_id")
    start = 0
    while start < df.height:
        end = min(start + size, df.height)
        if end < df.height:
            last = ids[end - 1]
            # extend to the end of that patient's rows (the frame is sorted by patient)
            end = start + int(ids.slice(start).search_sorted(last, side="right"))
        yield df.slice(start, end - start)
        start = end


_PARALLEL_MIN_PATIENTS: Final = 20_000  # below this, starting processes costs more than it saves


def _workers(requested: int | None, patients: int, *, parallel_ok: bool) -> int:
    if not requested or requested <= 1 or not parallel_ok or patients < _PARALLEL_MIN_PATIENTS:
        return 1
    return min(requested, 16)


def _worker(
    payload: tuple[
        pl.DataFrame,
        list[Resolved],
        pl.DataFrame | None,
        frozenset[str],
        dt.date,
        ScreeningMethod,
        EngineName,
    ],
) -> pl.DataFrame:
    """Screen one part in a worker process (default knowledge, no profile)."""
    df, resolved, pts, excluded, as_of, meth, engine = payload
    kb = default_knowledge()
    ctx = _Context(kb, None, meth, _FastDecider(kb, None), engine, excluded, as_of)
    return _screen_frame(ctx, df, resolved, pts)


def _screen_parallel(
    df: pl.DataFrame,
    resolved: list[Resolved],
    patients: pl.DataFrame | None,
    *,
    excluded: frozenset[str],
    as_of: dt.date,
    meth: ScreeningMethod,
    engine: EngineName,
    n_workers: int,
) -> pl.DataFrame:
    """Screen slices of whole patients in ``n_workers`` processes (start method ``spawn``).

    Each process decides with the same rules and its own caches, so the rows are those of one
    process (tests/population check this). ``spawn`` needs the calling script's entry point
    guarded by ``if __name__ == "__main__":`` (the ``opioidcds`` command is).
    """
    payloads = []
    size = max(1, min(_SLICE_ROWS, -(-df.height // (n_workers * 4))))  # 4 parts per process
    for piece in _slices(df, size):
        pts = _patients_of(patients, piece)
        payloads.append((piece, resolved, pts, excluded, as_of, meth, engine))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
        results = list(pool.map(_worker, payloads))
    return pl.concat(results) if results else pl.DataFrame(schema=ROW_SCHEMA)


_KIND_COUNTS: Final = (
    ("opioid", "issue_rows_opioid"),
    ("benzodiazepine", "issue_rows_benzodiazepine"),
    ("gabapentinoid", "issue_rows_gabapentinoid"),
    ("other", "issue_rows_other_medicines"),
)
_MAX_CAPACITY: Final = 100_000  # a sanity bound on people a week, not clinical


def _usable(
    df: pl.DataFrame, as_of: dt.date | None, problems: list[RowProblem], counts: dict[str, int]
) -> tuple[pl.DataFrame, list[Resolved]]:
    """Leave out (and list) issues after ``as_of`` and unrecognised products; sort."""
    if as_of is not None:
        late = df.filter(pl.col("issue_date") > as_of)
        problems.extend(
            RowProblem("issues", int(r), "issued after the as-of date: not used")
            for r in late.get_column("row")
        )
        df = df.filter(pl.col("issue_date") <= as_of)
    df, resolved = _resolve_all(df)
    unknown_rids = [i for i, r in enumerate(resolved) if r.kind is None]
    if unknown_rids:
        bad = df.filter(pl.col("rid").is_in(unknown_rids)).select("row", "rid")
        problems.extend(
            RowProblem("issues", int(row), resolved[rid].reason or "product not recognised")
            for row, rid in bad.iter_rows()
        )
        df = df.filter(~pl.col("rid").is_in(unknown_rids))
    for kind, key in _KIND_COUNTS:
        rids = [i for i, r in enumerate(resolved) if r.kind == kind]
        counts[key] = counts.get(key, 0) + df.filter(pl.col("rid").is_in(rids)).height
    return df.sort(["patient_id", "issue_date", "row"]).select(_ISSUE_COLUMNS), resolved


def _patient_groups(
    df: pl.DataFrame, resolved: Sequence[Resolved]
) -> Iterator[tuple[str, list[Issue]]]:
    """Each patient's issues (sorted by date, then row), from a frame sorted by patient."""
    cols = {c: df.get_column(c).to_list() for c in _ISSUE_COLUMNS}
    pids: list[str] = cols["patient_id"]
    quantities: dict[str, Decimal] = {}
    n = len(pids)
    start = 0
    while start < n:
        pid = pids[start]
        end = start
        while end < n and pids[end] == pid:
            end += 1
        group = []
        for j in range(start, end):
            q = cols["quantity"][j]
            dq = quantities.get(q)
            if dq is None:
                dq = quantities.setdefault(q, Decimal(q))
            group.append(
                Issue(
                    row=cols["row"][j],
                    issue_date=cols["issue_date"][j],
                    resolved=resolved[cols["rid"][j]],
                    quantity=dq,
                    dosage_text=cols["dosage_text"][j],
                    days_supply=cols["days_supply"][j],
                )
            )
        yield pid, group
        start = end


@dataclass(frozen=True, slots=True)
class _Context:
    kb: Knowledge
    profile: Profile | None
    method: ScreeningMethod
    decider: _FastDecider
    engine: EngineName
    excluded: frozenset[str]
    as_of: dt.date | None


def _screen_one(
    ctx: _Context,
    pid: str,
    group: list[Issue],
    attributes: Mapping[str, object] | None,
    hist: _History | None,
) -> PatientRow:
    kb, profile = ctx.kb, ctx.profile
    if pid in ctx.excluded:
        return _not_screened(pid, "patient table row excluded (see the problems list)")
    if ctx.as_of is None:  # pragma: no cover - as_of is set whenever there are rows
        return _not_screened(pid, "no as-of date")
    fast = ctx.engine == "fast" and hist is not None
    built = build_patient(
        group, attributes, as_of=ctx.as_of, method=ctx.method, with_history=not fast
    )
    if built.patient is None:
        return _not_screened(pid, built.not_screened or "could not be built")
    try:
        if not fast or hist is None:
            a = assess(built.patient, knowledge=kb, profile=profile)
            return project_assessment(pid, built, a, knowledge=kb, profile=profile)
        core = ctx.decider.core(built.patient, hist)
    except OpioidCDSError as exc:
        field_name = getattr(exc, "field", None)
        return _not_screened(pid, f"assessment failed ({field_name or type(exc).__name__})")
    band = _band(kb, profile, ctx.decider.run, built.patient, core)
    return _row(pid, built.patient, core, built.methods, band)


_NO_OPIOID: Final = _History(0, 0, 0, True, 0, "no opioid issues in the history given", ())


def _history_frame(
    df: pl.DataFrame, resolved: Sequence[Resolved], as_of: dt.date, decider: _FastDecider
) -> pl.DataFrame:
    """Each patient's history figures in columns, exactly as ``assess._history`` derives them.

    Columns ``patient_id``, ``use_days``, ``issues``, ``early``, ``all_classed``,
    ``reissues``, ``evidence``; patients without opioid issues have no row.

    Opioid issues (as :func:`~opioidcds._inputs.patient.medicine_classes` classes them) grouped by
    medicine; each re-issue's (days since the previous issue, its supply, days before the
    as-of date) is evaluated once per distinct triple by rule early-reissue.
    """
    opioid_rids = [
        i
        for i, r in enumerate(resolved)
        if r.kind is not None and _is_opioid_record(r.dmd_code, r.product_name, None)
    ]
    numbers: dict[str, int] = {}  # one number per medicine key (same code, else same name)
    keys = pl.DataFrame(
        {
            "rid": list(range(len(resolved))),
            "key": [
                numbers.setdefault(
                    (r.dmd_code or r.product_name or "").strip().lower(), len(numbers)
                )
                for r in resolved
            ],
        },
        schema={"rid": pl.Int64, "key": pl.Int64},
    )
    # ``df`` is sorted by patient, date, row: each medicine's issues are in date order as
    # ``assess._history`` sorts them (a stable sort by date of the history's order)
    op = df.filter(pl.col("rid").is_in(opioid_rids)).join(
        keys, on="rid", how="left", maintain_order="left"
    )
    by = ["pid", "key"]
    op = op.with_columns(
        pl.col("issue_date").shift(1).over(by).alias("prev_date"),
        pl.col("days_supply").shift(1).over(by).alias("prev_supply"),
    )
    re = op.filter(pl.col("prev_date").is_not_null()).select(
        "pid",
        (pl.col("issue_date") - pl.col("prev_date")).dt.total_days().alias("diff"),
        pl.col("prev_supply"),
        (pl.lit(as_of) - pl.col("issue_date")).dt.total_days().alias("before"),
    )
    coded = _early_classes(re, decider)
    per_reissue = coded.group_by("pid").agg(
        pl.col("fired").sum().alias("early"),
        pl.col("undetermined").sum().alias("undetermined"),
        pl.len().alias("reissues"),
    )
    summary = (
        op.group_by("pid")
        .agg(
            pl.col("patient_id").first(),
            pl.len().alias("issues"),
            pl.col("issue_date").min().alias("first"),
        )
        .join(per_reissue, on="pid", how="left")
    )
    early = pl.col("early").fill_null(0)
    undetermined = pl.col("undetermined").fill_null(0)
    reissues = pl.col("reissues").fill_null(0)
    use_days = (pl.lit(as_of) - pl.col("first")).dt.total_days()
    evidence = pl.format(
        "{} opioid issues from {} to {} ({} days); {} early re-issue(s) of {}",
        "issues",
        pl.col("first").dt.strftime("%Y-%m-%d"),
        pl.lit(as_of.isoformat()),
        use_days,
        early,
        reissues,
    ) + pl.when(undetermined > 0).then(
        pl.format(", {} without a supply period (could not be classed)", undetermined)
    ).otherwise(pl.lit(""))
    return summary.select(
        "patient_id",
        use_days.alias("use_days"),
        pl.col("issues").cast(pl.Int64),
        early.cast(pl.Int64).alias("early"),
        (undetermined == 0).alias("all_classed"),
        reissues.cast(pl.Int64).alias("reissues"),
        evidence.alias("evidence"),
        "pid",
    )


def _early_classes(re: pl.DataFrame, decider: _FastDecider) -> pl.DataFrame:
    """Columns ``fired``/``undetermined`` of each re-issue (rule early-reissue, per class).

    The rule is evaluated once per class of (percent of the supply elapsed, days before the
    as-of date).

    The percentage is ``assess._history``'s (days since the previous issue x 100 / its supply;
    unknown without a supply), computed once per distinct pair.
    """
    cuts = cut_points(decider.early_rs)
    percents: dict[int, Decimal | None] = {}
    pairs = re.select("diff", "prev_supply").unique(maintain_order=True)
    seen: dict[object, int] = {}
    codes = []
    for diff, supply in pairs.iter_rows():
        percent = Decimal(diff) * _HUNDRED / Decimal(supply) if supply else None
        code = seen.setdefault(class_of(cuts["percent_of_supply_elapsed"], percent), len(seen))
        percents.setdefault(code, percent)
        codes.append(code)
    pairs = pairs.with_columns(pl.Series("_pc", codes, dtype=pl.Int64))
    befores = re.select("before").unique(maintain_order=True)
    days: dict[int, int] = {}
    seen = {}
    codes = []
    for (before,) in befores.iter_rows():
        code = seen.setdefault(class_of(cuts["days_before_assessment"], before), len(seen))
        days.setdefault(code, before)
        codes.append(code)
    befores = befores.with_columns(pl.Series("_bc", codes, dtype=pl.Int64))
    re = re.join(pairs, on=["diff", "prev_supply"], how="left", nulls_equal=True).join(
        befores, on="before", how="left"
    )
    classes = re.select("_pc", "_bc").unique()
    statuses = [decider.early_status(percents[pc], days[bc]) for pc, bc in classes.iter_rows()]
    classes = classes.with_columns(
        pl.Series("fired", [s is DecisionStatus.FIRED for s in statuses], dtype=pl.Boolean),
        pl.Series(
            "undetermined",
            [s is DecisionStatus.CANNOT_EVALUATE for s in statuses],
            dtype=pl.Boolean,
        ),
    )
    return re.join(classes, on=["_pc", "_bc"], how="left")


def _histories(frame: pl.DataFrame) -> dict[str, _History]:
    """The history figures of :func:`_history_frame` as ``assess._history`` objects."""
    return {
        pid: _History(use_days, issues, early, all_classed, reissues, evidence, ())
        for pid, use_days, issues, early, all_classed, reissues, evidence in frame.select(
            "patient_id", "use_days", "issues", "early", "all_classed", "reissues", "evidence"
        ).iter_rows()
    }
