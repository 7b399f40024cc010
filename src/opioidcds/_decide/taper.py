"""Individualised opioid tapering plans (issue 7; the "Treat" stage of the NHS England analysis).

The Faculty of Pain Medicine default is a 10% reduction every 2 weeks, but tapering works best
at a pace the patient sets, in a plan shared with the practice team and the community pharmacy
(NHS England analysis of opioid-reduction programmes, 2023, "Treat"; ``docs/tapering.md``).
:func:`taper_plan` turns a patient's current opioid prescriptions into dated steps
a pharmacy can dispense; :func:`replan` starts again from any step with the dose actually taken.

Rules (``docs/tapering.md``; every number comes from ``conversion_tables/taper.toml``):

- Each step reduces one prescription by ``reduction`` of its *current* daily dose (default) or
  of its *starting* daily dose, in its own ingredient: OME is used only to order prescriptions,
  to report and to check the target, never to convert between opioids.
- The dose is rounded to the nearest dispensable dose (ties to the higher, gentler one) made of
  real UK strengths of the same ingredient, form and release type from the dm+d catalogue (at
  most ``max_units_per_dose`` tablets per dose; at most ``max_patches_per_application``
  patches worn together, of one patch family; liquids in ``liquid_ml_resolution`` mL of the same
  product), among doses that take off at least ``min_step_fraction`` of the intended
  reduction. If rounding gives no change or an increase, the nearest strictly lower
  dispensable dose is taken: a plan never increases. A patient's brand is kept where it has
  the strength (modified-release opioids are prescribed by brand).
- Tablets and capsules use the prescribed strength and a short chain of lower strengths, each
  the largest at most ``lower_strength_ratio`` of the one above (oxycodone MR 40, 20, 10, 5 mg;
  co-codamol 30/500, 15/500): few strengths per product, steps of clinical size.
- Patches may move down to a family of smaller patches (buprenorphine 3-4-day to 7-day, with
  that family's change interval), never back up.
- Doses stay equal through the day. When the dose is already the smallest dispensable one, the
  next step takes one dose a day away; from one dose a day (or the smallest patch), it stops.
- Combination products (co-codamol) mix only strengths that do not raise any non-opioid
  ingredient per dose above its current amount (so paracetamol never increases).
- Several opioids: one at a time, in ``order`` (default: most OME first), each down to stopped
  before the next, until the total daily OME reaches ``target``. A step that would go below the
  target takes instead the highest allowed dose at or below it.
- Not planned, each with its reason (never skipped silently): methadone (specialist), a PRN or
  dose-range prescription (no regular dose to step down), an ingredient without an OME factor,
  a product whose strength is not in the catalogue, a frequency that is not whole doses a day.

All arithmetic is exact :class:`~decimal.Decimal`.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Context, Decimal, localcontext
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Self

from pydantic import Field, computed_field, model_validator

from opioidcds._base import InputModel, ResultModel
from opioidcds._display import format_date, format_decimal, plural
from opioidcds._errors import InvalidInputError
from opioidcds._inputs.prescription import DoseUnitKind, Prescription
from opioidcds._knowledge.files import (
    KnowledgeHeader,
    KnowledgeModel,
    check_citations,
    read_knowledge_file,
)
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.products import (
    Catalogue,
    Derivation,
    MedicineClass,
    Product,
    ProductKind,
    classify_medicine,
    load_catalogue,
)
from opioidcds._knowledge.provenance import (
    Provenance,
    combine,
    header_source,
    knowledge_provenance,
)
from opioidcds._knowledge.tables import ConversionTable, default_table, table_name
from opioidcds._knowledge.units import Dimension, Strength, StrengthKind, parse_strength
from opioidcds._knowledge.vocabulary import FormKind, Vocabulary, default_vocabulary
from opioidcds._measure.ome import calculate_ome
from opioidcds._resolve.prescription import ResolvedPrescription, resolve_prescription
from opioidcds._version import __version__

if TYPE_CHECKING:
    from opioidcds._decide.knowledge import Knowledge
    from opioidcds._decide.rules import Profile
    from opioidcds._inputs.patient import Patient

__all__ = [
    "HoldPoint",
    "NotPlanned",
    "PaceChange",
    "PlanStatus",
    "ProductLine",
    "ReduceFrom",
    "StepItem",
    "TaperKnowledge",
    "TaperPlan",
    "TaperStep",
    "default_taper_knowledge",
    "load_taper_knowledge",
    "replan",
    "taper_plan",
    "taper_plan_for_patient",
]

TAPER_FILE = "taper.toml"
_CONTEXT = Context(prec=150, traps=[])
_ZERO = Decimal(0)
_ONE = Decimal(1)
_HOURS_PER_DAY = Decimal(24)  # a unit conversion, not a clinical number
_MAX_STEPS = 2000  # a guard against a bug looping; every ladder is finite (not clinical)


# --- knowledge ---------------------------------------------------------------------------------
class _Pace(KnowledgeModel):
    reduction: Decimal = Field(gt=0, lt=1)
    interval_days: int = Field(ge=1, le=366)
    min_step_fraction: Decimal = Field(ge=0, le=1)
    citations: tuple[str, ...] = Field(min_length=1)


class _Dispensing(KnowledgeModel):
    liquid_ml_resolution: Decimal = Field(gt=0, le=10)
    max_units_per_dose: int = Field(ge=1, le=6)
    max_patches_per_application: int = Field(ge=1, le=4)
    lower_strength_ratio: Decimal = Field(gt=0, lt=1)
    citations: tuple[str, ...] = Field(min_length=1)


class _PatchFamily(KnowledgeModel):
    ingredient: str = Field(min_length=1)
    name: str = Field(min_length=1)
    rates: tuple[Decimal, ...] = Field(min_length=1)
    change_hours: Decimal | None = Field(default=None, gt=0)
    citations: tuple[str, ...] = Field(min_length=1)


class _NotPlannedRule(KnowledgeModel):
    ingredient: str | None = Field(default=None, min_length=1)
    route: str | None = Field(default=None, min_length=1)
    reason: str = Field(min_length=1)
    citations: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.ingredient is None) == (self.route is None):
            raise ValueError("a not_planned rule names an ingredient or a route")
        return self


class TaperKnowledge(KnowledgeHeader):
    """``conversion_tables/taper.toml``: default pace, dispensing resolution, refusals."""

    pace: _Pace
    dispensing: _Dispensing
    patch_families: tuple[_PatchFamily, ...] = ()
    not_planned: tuple[_NotPlannedRule, ...] = ()

    @model_validator(mode="after")
    def _cited(self) -> Self:
        used = {"pace": list(self.pace.citations), "dispensing": list(self.dispensing.citations)}
        used |= {
            f"patch_families[{i}]": list(f.citations) for i, f in enumerate(self.patch_families)
        }
        used |= {f"not_planned[{i}]": list(r.citations) for i, r in enumerate(self.not_planned)}
        check_citations(TAPER_FILE, self, used)
        return self

    def citation_text(self, cid: str) -> str:
        """The text of citation ``cid`` (empty if absent)."""
        return next((c.text for c in self.citations if c.id == cid), "")


def load_taper_knowledge(path: Path | str | None = None) -> TaperKnowledge:
    """Load and validate a taper knowledge file (default: the bundled ``taper.toml``).

    Raises:
        KnowledgeBaseError: unreadable, malformed, or a row without a known citation.
    """
    file = Path(path) if path is not None else knowledge_dir("conversion_tables") / TAPER_FILE
    return read_knowledge_file(file, TaperKnowledge)


@cache
def default_taper_knowledge() -> TaperKnowledge:
    """The bundled taper knowledge, loaded once per process (immutable, shared)."""
    return load_taper_knowledge()


# --- inputs ------------------------------------------------------------------------------------
class ReduceFrom(StrEnum):
    """What the reduction fraction is a fraction of."""

    CURRENT = "current"
    """The current daily dose: 10% of a shrinking dose (the usual reading; default)."""
    STARTING = "starting"
    """The starting daily dose: equal steps (a linear taper)."""


class HoldPoint(InputModel):
    """Stay on the dose of step ``at_step`` for ``intervals`` extra intervals (a pause)."""

    at_step: int = Field(ge=1, le=_MAX_STEPS)
    intervals: int = Field(ge=1, le=52)


class PaceChange(InputModel):
    """From step ``from_step`` on, a different interval and/or a different reduction."""

    from_step: int = Field(ge=1, le=_MAX_STEPS)
    every_days: int | None = Field(default=None, ge=1, le=366)
    reduction: Decimal | None = Field(default=None, gt=0, lt=1, max_digits=12, decimal_places=10)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.every_days is None and self.reduction is None:
            raise InvalidInputError("every_days", "a pace change needs every_days or reduction")
        return self


# --- results -----------------------------------------------------------------------------------
class PlanStatus(StrEnum):
    """Overall outcome of a plan."""

    PLANNED = "planned"
    PARTIAL = "partial"  # some prescriptions could not be planned: see not_planned
    NOT_PLANNED = "not-planned"  # no prescription could be planned
    OUT_OF_SCOPE = "out-of-scope"  # the patient is outside the scope of rules/scope.toml


class ProductLine(ResultModel):
    """One product to dispense: ``dose_quantity`` ``dose_unit`` of it per dose."""

    dmd_code: str
    product_name: str
    strength: str
    dose_quantity: Decimal
    dose_unit: str


class StepItem(ResultModel):
    """One prescription's dose at a step.

    ``per_dose`` is the opioid amount per administration (mg; for patches the total rate worn,
    microgram/hour); ``doses_per_day`` is ``None`` for patches (their change interval is kept
    from the prescription). ``lines`` say what to dispense; empty when ``stopped``.
    """

    prescription_index: int
    prescription_indices: tuple[int, ...]
    ingredient: str
    form: str
    per_dose: Decimal
    per_dose_unit: str
    doses_per_day: Decimal | None
    interval_hours: Decimal | None
    daily_amount: Decimal
    daily_amount_unit: str
    daily_ome_mg: Decimal
    lines: tuple[ProductLine, ...]
    stopped: bool = False
    instruction: str
    summary: str

    def prescriptions(self) -> tuple[Prescription, ...]:
        """The lines as :class:`Prescription` objects (what to prescribe at this step)."""
        out = []
        for line in self.lines:
            freq: dict[str, Decimal] = {}
            if self.doses_per_day is not None:
                freq["doses_per_day"] = self.doses_per_day
            elif self.interval_hours is not None:
                freq["interval_hours"] = self.interval_hours
            out.append(
                Prescription(
                    dmd_code=line.dmd_code,
                    dose_quantity=line.dose_quantity,
                    dose_unit=line.dose_unit,
                    **freq,
                )
            )
        return tuple(out)


class TaperStep(ResultModel):
    """One step of a plan: from ``date`` until ``until``, take ``items``.

    Step 0 is the current dose (``date`` is ``None``: before the plan). ``until`` is the first
    day of the next step and ``last_day`` the day before it. ``change_mg`` is the change of the
    total daily OME from the previous step (never positive within a plan). ``note`` says why a
    step is not an ordinary reduction (one dose a day fewer, stopped, bigger than planned
    because no dispensable dose lies in between, the target).
    """

    number: int
    date: dt.date | None
    until: dt.date | None
    items: tuple[StepItem, ...]
    daily_ome_mg: Decimal
    change_mg: Decimal
    change_percent: Decimal | None
    changed_prescription: int | None
    reduction: Decimal | None
    interval_days: int | None
    hold_intervals: int = 0
    note: str | None = None

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented use
    @property
    def last_day(self) -> dt.date | None:
        """The last day on this step's dose (the day before ``until``; ``None`` for the last).

        Every output shows a step as from ``date`` to ``last_day``, both days included.
        """
        return None if self.until is None else self.until - dt.timedelta(days=1)

    def prescriptions(self) -> tuple[Prescription, ...]:
        """Every product line of the step as :class:`Prescription` objects."""
        return tuple(rx for item in self.items if not item.stopped for rx in item.prescriptions())


class NotPlanned(ResultModel):
    """A prescription no plan was made for, and why (``opioid`` false: not an opioid at all)."""

    prescription_index: int
    label: str
    reason: str
    opioid: bool = True


class TaperPlan(ResultModel):
    """A dated tapering plan and its basis (``docs/safety/provenance.md``).

    ``steps[0]`` is the current dose of the planned prescriptions; each later step changes one
    prescription. ``not_planned`` lists every prescription left out, with its reason; their
    OME is not in the steps' totals. ``history`` holds the steps of an earlier plan before a
    re-plan (:func:`replan`). ``provenance`` names every knowledge source used (taper
    defaults, table, vocabulary, catalogue; and the scope rulesets for
    :func:`taper_plan_for_patient`), with a content hash of them all.
    """

    status: PlanStatus
    reason: str | None = None
    scope_rule: str | None = None
    steps: tuple[TaperStep, ...]
    not_planned: tuple[NotPlanned, ...]
    history: tuple[TaperStep, ...] = ()
    start: dt.date
    start_ome_mg: Decimal
    final_ome_mg: Decimal
    target_ome_mg: Decimal
    target_reached: bool
    reduction: Decimal
    interval_days: int
    reduce_from: ReduceFrom
    order: tuple[int, ...]
    hold_points: tuple[HoldPoint, ...]
    pace: tuple[PaceChange, ...]
    liquid_ml_resolution: Decimal
    knowledge_id: str
    knowledge_version: str
    knowledge_effective_date: str
    knowledge_citation: str
    table_id: str
    table_version: str
    catalogue_id: str
    catalogue_version: str
    library_version: str
    provenance: Provenance
    local_rules: tuple[str, ...] = ()
    """The local profile and local rules in force when the plan was made (issue 23), in
    words; named first by every output. The steps read no ruleset: they do not change them."""

    def table_name(self) -> str:
        """The conversion table of the plan's OME figures, as people read it.

        Its title, version and effective date (:func:`opioidcds._knowledge.tables.table_name`);
        the id stays in ``table_id``.
        """
        sha = self.provenance.sha256_of("conversion-table")
        return table_name(self.table_id, self.table_version, sha256=sha)

    @property
    def end_date(self) -> dt.date | None:
        """The date of the last step (``None`` if there is no reduction step)."""
        return self.steps[-1].date if len(self.steps) > 1 else None

    def explain(self) -> str:
        """The plan in plain text for a prescriber or pharmacist: each step, then the basis.

        What the command line prints (``opioidcds taper``); the patient handout is HTML. Each
        step runs from its first to its last day, both included (as on the handout).
        """
        lines = [*self.local_rules, "Tapering plan"]
        first = self.steps[0].number if self.steps else None
        for step in self.steps:
            if step.date is None:
                when = "now" + (
                    f" until {format_date(step.last_day)}" if step.last_day is not None else ""
                )
            elif step.last_day is None:
                when = f"from {format_date(step.date)}"
            else:
                when = f"{format_date(step.date)} to {format_date(step.last_day)}"
            if step.hold_intervals:
                when += f" (held {step.hold_intervals} extra interval(s))"
            change = ""
            if step.number != first:
                change = f"; change {format_decimal(step.change_mg)}"
                if step.change_percent is not None:
                    change += f" ({format_decimal(step.change_percent)}%)"
            lines.append(
                f"Step {step.number}: {when}: {format_decimal(step.daily_ome_mg)} mg OME/day"
                f"{change}"
            )
            lines.extend(f"  {item.instruction}" for item in step.items)
            if step.note and step.number != first:
                lines.append(f"  [{step.note}]")
        lines.extend(
            f"NOT PLANNED: prescription {r.prescription_index + 1}: {r.reason}"
            for r in self.not_planned
        )
        if self.reason:
            lines.append(self.reason)
        pace = "".join(
            f"; from step {p.from_step}: "
            + ", ".join(
                x
                for x in (
                    f"{format_decimal(p.reduction * 100)}%" if p.reduction is not None else "",
                    f"every {p.every_days} days" if p.every_days is not None else "",
                )
                if x
            )
            for p in sorted(self.pace, key=lambda p: p.from_step)
        )
        effective = format_date(dt.date.fromisoformat(self.knowledge_effective_date))
        lines.append(
            f"Pace: {format_decimal(self.reduction * 100)}% of the {self.reduce_from.value} dose "
            f"every {self.interval_days} days{pace}, to {format_decimal(self.target_ome_mg)} mg "
            f"OME/day (target {'reached' if self.target_reached else 'NOT reached'}). Tapering "
            f"defaults {self.knowledge_version} ({effective}); "
            f"conversion table: {self.table_name()}; dm+d catalogue "
            f"{self.catalogue_version}; opioidcds {self.library_version}. OME is a measure of "
            "risk: the plan never converts between opioids."
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        """Short and readable: status, the doses from and to, the steps."""
        return (
            f"<TaperPlan {self.status.value}: {format_decimal(self.start_ome_mg)} -> "
            f"{format_decimal(self.final_ome_mg)} mg OME/day in {max(len(self.steps) - 1, 0)} "
            f"step(s) from {self.start.isoformat()}>"
        )


# --- planning internals ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Unit:
    """A dispensable product: opioid amount per unit (mg, microgram/hour) or per mL (liquids).

    ``amount`` is what the unit counts for in OME; for a patch whose product delivers another
    rate than its label, under a table that counts delivered rates, that rate (a fentanyl "12"
    patch delivering 12.5, issue 18); ``labelled`` is the strength on the label.
    """

    product: Product
    amount: Decimal
    others: tuple[Decimal, ...]  # non-opioid ingredient amounts per unit, label order
    family: str = ""
    labelled: Decimal | None = None  # the labelled amount, when it differs from ``amount``

    @property
    def label_amount(self) -> Decimal:
        """The amount on the label (per unit, or per mL)."""
        return self.amount if self.labelled is None else self.labelled


_Composition = tuple[tuple[_Unit, Decimal], ...]  # (unit, count or mL) per dose


@dataclass(frozen=True, slots=True)
class _Regimen:
    per_dose: Decimal
    doses_per_day: Decimal | None  # None: patch
    composition: _Composition


@dataclass(frozen=True, slots=True)
class _Track:
    index: int
    indices: tuple[int, ...]  # every input prescription merged into this one (same product kind)
    label: str
    ingredient: str
    names: tuple[str, ...]  # all ingredients, label order
    route: str
    form: str
    kind: FormKind
    ratio: Decimal  # OME mg/day per unit of daily amount (mg/day or microgram/hour)
    ladders: dict[str, dict[Decimal, _Composition]]  # dispensable per-dose amounts, by family
    start: _Regimen
    interval_hours: Decimal | None  # patches: change interval, kept
    patch_frequency: Decimal | None  # patches given with doses_per_day instead
    family_hours: dict[str, Decimal]  # patches: change interval of a family, if fixed
    units: tuple[_Unit, ...]  # dispensable strengths
    limit: tuple[Decimal, ...] | None  # combinations: non-opioid amounts per dose, at most
    base_max: int  # most units (patches) per dose from taper.toml

    def ladder(self, reg: _Regimen) -> dict[Decimal, _Composition]:
        """Dispensable per-dose amounts from ``reg``: its own patch family, or one lower.

        A family whose largest patch is below the smallest of the current family may be moved
        down to (buprenorphine 3-4-day to 7-day patches), never back up: no ping-pong.
        """
        family = reg.composition[0][0].family if reg.composition else ""
        own = self.ladders.get(family, {})
        merged = dict(own)
        floor = min((u.amount for u, _ in reg.composition), default=_ZERO)
        for name in sorted(self.ladders):
            if name == family:
                continue
            other = self.ladders[name]
            top = max((u.amount for c in other.values() for u, _ in c), default=_ZERO)
            if own and top < floor:
                for amount, comp in other.items():
                    merged.setdefault(amount, comp)
        if self.limit is not None:  # combinations: no non-opioid ingredient per dose goes up
            now = _others(reg.composition)
            merged = {
                a: c
                for a, c in merged.items()
                if all(x <= y for x, y in zip(_others(c), now, strict=True))
            }
        return merged

    def daily(self, reg: _Regimen | None) -> Decimal:
        if reg is None:
            return _ZERO
        return reg.per_dose if reg.doses_per_day is None else reg.per_dose * reg.doses_per_day

    def ome(self, reg: _Regimen | None) -> Decimal:
        return self.daily(reg) * self.ratio


class _Refusal(Exception):  # noqa: N818 - internal control flow, never escapes
    def __init__(self, reason: str, *, opioid: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.opioid = opioid


_FREQ_WORDS = {1: "once a day", 2: "twice a day", 3: "three times a day", 4: "four times a day"}


def _freq_text(n: Decimal | None) -> str:
    if n is None:
        return ""
    if n == n.to_integral_value() and int(n) in _FREQ_WORDS:
        return _FREQ_WORDS[int(n)]
    return f"{format_decimal(n)} times a day"


def _noun(track: _Track, unit: _Unit) -> str:
    if track.kind is FormKind.PATCH:
        return "patch"
    if track.kind is FormKind.LIQUID:
        return "mL"
    form = default_vocabulary().find_form(unit.product.form)
    return form.nouns[0] if form is not None and form.nouns else "unit"


def _lines(track: _Track, comp: _Composition) -> tuple[ProductLine, ...]:
    return tuple(
        ProductLine(
            dmd_code=u.product.dmd_code,
            product_name=u.product.product_name,
            strength=u.product.strength or "",
            dose_quantity=q,
            dose_unit=_noun(track, u),
            # a count noun stays singular; the quantity says how many
        )
        for u, q in comp
    )


def _hours(hours: Decimal | None) -> str:
    if hours is None:
        return "as prescribed"
    text = f"{format_decimal(hours)} hours"
    days = hours / _HOURS_PER_DAY
    return f"{text} ({format_decimal(days)} days)" if _whole(days) else text


def _plural(noun: str, quantity: Decimal) -> str:
    """``noun`` for ``quantity`` of it: "1 tablet", "2 tablets", "2 suppositories", "10 mL"."""
    return noun if quantity <= 1 else plural(noun)


def _item(track: _Track, reg: _Regimen | None) -> StepItem:
    patch = track.kind is FormKind.PATCH
    unit = "microgram/hour" if patch else "mg"
    if reg is None:
        return StepItem(
            prescription_index=track.index,
            prescription_indices=track.indices,
            ingredient=track.ingredient,
            form=track.form,
            per_dose=_ZERO,
            per_dose_unit=unit,
            doses_per_day=None,
            interval_hours=None,
            daily_amount=_ZERO,
            daily_amount_unit=unit if patch else "mg/day",
            daily_ome_mg=_ZERO,
            lines=(),
            stopped=True,
            instruction=(
                f"Stop {track.label}."
                if track.form in track.label.lower()
                else f"Stop {track.label} ({track.form})."
            ),
            summary=f"Stop {_short_name(track)}.",
        )
    lines = _lines(track, reg.composition)
    interval, frequency = track.interval_hours, track.patch_frequency
    family = reg.composition[0][0].family if reg.composition else ""
    new_family = patch and family != track.start.composition[0][0].family
    if new_family and family in track.family_hours:
        interval, frequency = track.family_hours[family], None
    parts = " + ".join(
        f"{format_decimal(line.dose_quantity)} {_plural(line.dose_unit, line.dose_quantity)}"
        f" of {line.product_name}"
        for line in lines
    )
    amount = f"{track.ingredient} {format_decimal(reg.per_dose)} {unit}"
    if len(track.names) > 1:  # a combination: the name the patient knows, then the opioid
        amount = f"{track.label} ({amount})"
    if patch:
        if new_family:
            every = f", a different type of patch: changed every {_hours(interval)}"
        elif interval is not None:
            every = f", changed every {_hours(interval)} as before"
        else:
            every = ", changed as before"
        text = f"{amount}: wear {parts} together{every}."
    else:
        text = f"{amount} {_freq_text(reg.doses_per_day)}: {parts} each time."
    return StepItem(
        summary=_summary(track, reg, interval, new_family=new_family),
        prescription_index=track.index,
        prescription_indices=track.indices,
        ingredient=track.ingredient,
        form=track.form,
        per_dose=reg.per_dose,
        per_dose_unit=unit,
        doses_per_day=reg.doses_per_day if not patch else frequency,
        interval_hours=interval if patch else None,
        daily_amount=track.daily(reg),
        daily_amount_unit="microgram/hour" if patch else "mg/day",
        daily_ome_mg=track.ome(reg),
        lines=lines,
        instruction=text,
    )


def _short_name(track: _Track) -> str:
    """The ingredient, or the combination's name as prescribed (co-codamol)."""
    return track.label if len(track.names) > 1 else track.ingredient


def _summary(track: _Track, reg: _Regimen, interval: Decimal | None, *, new_family: bool) -> str:
    """A short instruction for the handout.

    For example "oxycodone 35 mg twice a day (30 mg + 5 mg modified-release tablets)".
    """
    amount = format_decimal(reg.per_dose)
    form = track.form
    if track.kind is FormKind.LIQUID:
        ml = sum((q for _, q in reg.composition), _ZERO)
        strength = reg.composition[0][0].product.strength or ""
        return (
            f"{_short_name(track)} {format_decimal(ml)} mL ({amount} mg) "
            f"{_freq_text(reg.doses_per_day)} ({strength} {form})"
        )
    parts = " + ".join(
        (f"{format_decimal(q)} x " if q != 1 else "") + (u.product.strength or "")
        for u, q in reg.composition
    )
    if track.kind is FormKind.PATCH:
        every = f", changed every {_hours(interval)}" if interval is not None else ""
        kind = " (a different type of patch)" if new_family else ""
        return f"{_short_name(track)} {amount} microgram/hour: {parts} patches{kind}{every}"
    units = sum((q for _, q in reg.composition), _ZERO)
    freq = _freq_text(reg.doses_per_day)
    if len(track.names) > 1:  # co-codamol: the tablets, then the opioid amount
        return (
            f"{_short_name(track)}: {parts} {_plural(form, units)} {freq} "
            f"({track.ingredient} {amount} mg each time)"
        )
    return f"{_short_name(track)} {amount} mg {freq} ({parts} {_plural(form, units)})"


def _same_strength(a: Strength, b: Strength) -> bool:
    if a.kind is not b.kind or len(a.amounts) != len(b.amounts):
        return False
    va, vb = a.volume_ml or _ONE, b.volume_ml or _ONE
    return all(x * vb == y * va for x, y in zip(a.amounts, b.amounts, strict=True))


def _brand(product: Product) -> str | None:
    if product.kind is not ProductKind.AMP:
        return None
    return product.product_name.split()[0].casefold()


def _representative(candidates: list[Product], brand: str | None) -> Product:
    """Same brand as the patient's product if there is one, else the VMP, else lowest code."""

    def rank(p: Product) -> tuple[int, int, int, int]:
        same_brand = 0 if brand is not None and _brand(p) == brand else 1
        vmp = 0 if p.kind is ProductKind.VMP else 1
        # the shortest name is the plain product ("tablets", not "effervescent tablets")
        return (same_brand, vmp, len(p.product_name), int(p.dmd_code))

    return min(candidates, key=rank)


def _units(
    r: ResolvedPrescription,
    opioid_pos: int,
    catalogue: Catalogue,
    given: Product | None,
    knowledge: TaperKnowledge,
    *,
    delivered: bool = False,
) -> list[_Unit]:
    """The dispensable strengths for ``r``: same ingredients, form, route, release type."""
    form = r.form
    if form is None:  # pragma: no cover - resolve gives a form or a problem
        raise _Refusal("the pharmaceutical form is not known")
    names = tuple(i.name for i in r.ingredients)
    # one unit per strength and per rate counted: fentanyl "12" patches that deliver 12.5 and
    # those that deliver 12 are different units when the table counts delivered rates
    by_strength: dict[tuple[tuple[Decimal, ...], Decimal], tuple[Strength, list[Product]]] = {}
    for p in catalogue:
        if (
            p.derivation is Derivation.SUCCESSOR
            or p.strength is None
            or p.opioid_dependence_treatment
            or p.ingredient_names != names
            or p.form != form.name
            or p.route != r.route
        ):
            continue
        s = parse_strength(p.strength)
        key = tuple(a / (s.volume_ml or _ONE) for a in s.amounts)
        counted = _counted_rate(p, key[opioid_pos], delivered=delivered)
        by_strength.setdefault((key, counted), (s, []))[1].append(p)
    brand = _brand(given) if given is not None else None
    units = []
    families = {f.name: f for f in knowledge.patch_families if f.ingredient == names[opioid_pos]}
    for (key, counted), (s, products) in by_strength.items():
        product = _representative(products, brand)
        amount = key[opioid_pos]
        others = tuple(a for i, a in enumerate(key) if i != opioid_pos)
        family = ""
        if s.kind is StrengthKind.RATE and families:
            family = next((n for n, f in families.items() if amount in f.rates), "?")
        units.append(_Unit(product, counted, others, family, None if counted == amount else amount))
    units.sort(key=lambda u: (u.amount, u.others, u.product.dmd_code))
    return units


def _counted_rate(product: Product, labelled: Decimal, *, delivered: bool) -> Decimal:
    """The rate a patch counts at: its delivered rate where the table counts those (issue 18)."""
    if delivered and product.delivered_rate is not None:
        return product.delivered_rate
    return labelled


def _compositions(
    units: list[_Unit], max_count: int, limit_others: tuple[Decimal, ...] | None
) -> dict[str, dict[Decimal, _Composition]]:
    """Per-dose amounts from at most ``max_count`` units, per patch family (``""``: one family).

    For each amount keep the composition with the fewest units, then the largest units first.
    ``limit_others`` caps each non-opioid ingredient per dose (combination products); for them
    the composition with the *most* units is kept, so the non-opioid dose (paracetamol) stays
    as it is for as long as possible (codeine 30 mg as 15 + 15 with 1 g paracetamol, not one
    30/500 tablet with 500 mg) and later steps can still be small.
    """
    ladders: dict[str, dict[Decimal, _Composition]] = {}
    for family in sorted({u.family for u in units}):
        best: dict[Decimal, tuple[tuple[int, tuple[Decimal, ...]], _Composition]] = {}
        pool = sorted((u for u in units if u.family == family), key=lambda u: -u.amount)
        for count in range(1, max_count + 1):
            for combo in itertools.combinations_with_replacement(pool, count):
                if limit_others is not None:
                    totals = [sum(c) for c in zip(*(u.others for u in combo), strict=True)]
                    if any(t > lim for t, lim in zip(totals, limit_others, strict=True)):
                        continue
                amount = sum((u.amount for u in combo), _ZERO)
                comp: list[tuple[_Unit, Decimal]] = []
                for u in combo:
                    if comp and comp[-1][0] is u:
                        comp[-1] = (u, comp[-1][1] + 1)
                    else:
                        comp.append((u, _ONE))
                rank = (
                    -count if limit_others is not None else count,
                    tuple(-u.amount for u in combo),
                )
                if amount not in best or rank < best[amount][0]:
                    best[amount] = (rank, tuple(comp))
        ladders[family] = {a: c for a, (_, c) in sorted(best.items())}
    return ladders


def _whole(value: Decimal) -> bool:
    return value == value.to_integral_value()


def _refusal_for(
    r: ResolvedPrescription, knowledge: TaperKnowledge, table: ConversionTable
) -> tuple[int, str]:
    """Return (opioid position, ingredient) or raise a refusal with its reason."""
    if r.problem is not None:
        classes = classify_medicine(r.label)
        if classes and MedicineClass.OPIOID not in classes:
            kinds = ", ".join(sorted(c.value.replace("_", " ") for c in classes))
            raise _Refusal(
                f"not an opioid ({kinds}): not part of an opioid tapering plan", opioid=False
            )
        raise _Refusal(f"cannot be read: {r.problem}")
    opioids = [i for i, ing in enumerate(r.ingredients) if ing.opioid]
    if not opioids:
        raise _Refusal("not an opioid: not part of an opioid tapering plan", opioid=False)
    if len(opioids) > 1:
        raise _Refusal("more than one opioid ingredient in one product: plan by hand")
    pos = opioids[0]
    name = r.ingredients[pos].name
    for rule in knowledge.not_planned:
        if rule.ingredient == name or (rule.route is not None and rule.route == r.route):
            raise _Refusal(rule.reason)
    dose = r.dose
    if dose is None:  # pragma: no cover - resolve sets a dose or a problem
        raise _Refusal("no dose")
    if dose.prn:
        raise _Refusal(
            "a when-required (PRN) prescription has no regular dose to reduce step by step: "
            "agree its maximum with the patient and review it at each step"
        )
    if dose.is_range:
        raise _Refusal("a dose range: agree one regular dose with the patient before planning")
    row = table.lookup(name, r.route or "")
    if row is None or not row.convertible or row.factor is None:
        why = row.reason if row is not None and row.reason else "no conversion factor"
        raise _Refusal(f"no OME factor in table {table.id} ({why}): the plan could not be checked")
    return pos, name


def _track(  # noqa: PLR0912, PLR0915 - one refusal rule per branch
    index: int,
    rx: Prescription,
    *,
    vocab: Vocabulary,
    catalogue: Catalogue,
    table: ConversionTable,
    knowledge: TaperKnowledge,
) -> _Track:
    r = resolve_prescription(rx, vocab, catalogue)
    pos, name = _refusal_for(r, knowledge, table)
    dose = r.dose
    form = r.form
    strength = r.strength
    if dose is None or form is None or strength is None:
        raise _Refusal("the product has no strength in the catalogue's terms: plan by hand")
    given: Product | None = None
    if rx.dmd_code is not None:
        given = catalogue.by_code(rx.dmd_code)
    elif rx.product_name is not None:
        given = catalogue.by_name(rx.product_name)
    row = table.lookup(name, r.route or "")
    if row is None or row.factor is None:  # pragma: no cover - checked by _refusal_for
        raise _Refusal("no OME factor")
    delivered = form.kind is FormKind.PATCH and row.patch_rate == "delivered"
    units = _units(r, pos, catalogue, given, knowledge, delivered=delivered)
    volume = strength.volume_ml or _ONE
    current_key = tuple(a / volume for a in strength.amounts)
    same = [u for u in units if (*u.others[:pos], u.label_amount, *u.others[pos:]) == current_key]
    if not same:
        raise _Refusal(
            "the prescribed strength is not among the catalogue's strengths for this "
            "ingredient, form and release type: plan by hand"
        )
    labelled = same[0].label_amount
    named = given is not None and _same_strength(strength, parse_strength(given.strength or "0 mg"))
    # the rate the prescription counts at in calculate_ome: the named product's (its delivered
    # rate, issue 18), else the label's
    counted = _counted_rate(given, labelled, delivered=delivered) if named and given else labelled
    start_unit = next((u for u in same if u.amount == counted), same[0])
    if named and given is not None:
        start_unit = _Unit(
            given, counted, start_unit.others, start_unit.family, start_unit.labelled
        )
    dim = Dimension.RATE if form.kind is FormKind.PATCH else Dimension.MASS
    multiplier, _exact = table.multiplier(row, dim)
    ratio = multiplier * Decimal(row.factor)
    res = knowledge.dispensing.liquid_ml_resolution
    # the current dose per administration, in units (count) or mL, and as an opioid amount
    if dose.unit_kind is DoseUnitKind.MASS:  # a dose in mg: the mass is the dose
        per_dose = dose.quantity * dose.unit_factor
        quantity = per_dose / start_unit.amount
    else:  # a count of units, or mL of a liquid (amount per mL)
        quantity = dose.quantity * dose.unit_factor
        per_dose = quantity * start_unit.amount
    interval: Decimal | None = None
    patch_frequency: Decimal | None = None
    n: Decimal | None = None
    if form.kind is FormKind.PATCH:
        if not _whole(quantity):
            raise _Refusal("a part of a patch: plan by hand")
        interval = dose.interval_hours
        patch_frequency = dose.doses_per_day
        if interval is None and patch_frequency is None:
            raise _Refusal("a patch without a change interval: plan by hand")
    else:
        if dose.doses_per_day is not None:
            n = dose.doses_per_day
        elif dose.interval_hours is not None:
            n = _HOURS_PER_DAY / dose.interval_hours
        else:
            raise _Refusal("no regular number of doses a day: plan by hand")
        if not _whole(n) or n < 1:
            raise _Refusal("the frequency is not a whole number of doses a day: plan by hand")
        n = n.to_integral_value()
        capped = (dose.max_doses_per_day is not None and dose.max_doses_per_day < n) or (
            dose.max_quantity_per_day is not None and dose.max_quantity_per_day < dose.quantity * n
        )
        if capped:
            raise _Refusal("a daily maximum below the regular dose: agree one regular dose first")
    base_max = (
        knowledge.dispensing.max_patches_per_application
        if form.kind is FormKind.PATCH
        else knowledge.dispensing.max_units_per_dose
    )
    limit: tuple[Decimal, ...] | None = None
    if start_unit.others:  # combination: never more of the non-opioid per dose
        limit = tuple(o * quantity for o in start_unit.others)
        units = [u for u in units if u.family == start_unit.family]
    if form.kind not in (FormKind.PATCH, FormKind.LIQUID):  # few strengths per product
        units = _chain(units, (start_unit,), knowledge.dispensing.lower_strength_ratio)
    if form.kind is FormKind.LIQUID:
        steps = int((quantity / res).to_integral_value(rounding="ROUND_FLOOR"))
        ladders: dict[str, dict[Decimal, _Composition]] = {
            "": {k * res * start_unit.amount: ((start_unit, k * res),) for k in range(1, steps + 1)}
        }
    else:
        ladders = _compositions(units, _max_count(base_max, quantity, limit), limit)
    composition: _Composition = ((start_unit, quantity),)
    own = ladders.get(start_unit.family, {})
    if form.kind is not FormKind.LIQUID and not _whole(quantity) and per_dose in own:
        composition = own[per_dose]  # a dose in mg made of whole units
    start = _Regimen(per_dose, n, composition)
    return _Track(
        index=index,
        indices=(index,),
        label=r.label,
        ingredient=name,
        names=tuple(i.name for i in r.ingredients),
        route=r.route or "",
        form=form.name,
        kind=form.kind,
        ratio=ratio,
        ladders=ladders,
        start=start,
        interval_hours=interval,
        patch_frequency=patch_frequency,
        family_hours={
            f.name: f.change_hours
            for f in knowledge.patch_families
            if f.ingredient == name and f.change_hours is not None
        },
        units=tuple(units),
        limit=limit,
        base_max=base_max,
    )


def _chain(units: Sequence[_Unit], prescribed: Sequence[_Unit], ratio: Decimal) -> list[_Unit]:
    """The strengths a plan may use: the prescribed ones and a chain of lower ones.

    From the largest prescribed strength, repeatedly the largest strength at most ``ratio``
    of the previous one (oxycodone MR 40 mg with 0.5: 20, 10, 5 mg; co-codamol 30/500:
    15/500, as 8/500 is above half of 15/500). Combination products keep the prescribed
    non-opioid amounts per unit (15/500 after 30/500, never 15/1000).
    """
    top = max(prescribed, key=lambda u: u.amount)
    keys = {(u.amount, u.others) for u in prescribed}
    below = top.amount
    while True:
        limit = below * ratio
        fits = [u for u in units if u.amount <= limit and u.others == top.others]
        if not fits:
            break
        below = max(u.amount for u in fits)
        keys.add((below, top.others))
    return [u for u in units if (u.amount, u.others) in keys]


def _others(comp: _Composition) -> tuple[Decimal, ...]:
    """Non-opioid ingredient amounts per dose of ``comp`` (combinations)."""
    width = len(comp[0][0].others) if comp else 0
    return tuple(sum((u.others[i] * q for u, q in comp), _ZERO) for i in range(width))


def _max_count(base_max: int, units_per_dose: Decimal, limit: tuple[Decimal, ...] | None) -> int:
    """Most units a dose may use.

    As many as now for combinations; otherwise the taper.toml maximum or as many as now,
    whichever is more.
    """
    now = int(units_per_dose.to_integral_value(rounding="ROUND_CEILING"))
    return now if limit is not None else max(base_max, now)


def _units_now(reg: _Regimen) -> Decimal:
    return sum((q for _, q in reg.composition), _ZERO)


def _merge_key(t: _Track) -> tuple[object, ...] | None:
    """Key under which prescriptions are one dose to taper (``None``: never merged).

    Prescriptions of one product kind taken together (oxycodone MR 30 mg bd and 5 mg bd) are
    one dose (35 mg bd); liquids are never merged (no mixing of measured volumes).
    """
    if t.kind is FormKind.LIQUID:
        return None
    family = t.start.composition[0][0].family
    return (t.names, t.form, t.route, t.start.doses_per_day, t.interval_hours,
            t.patch_frequency, family)  # fmt: skip


def _merge(tracks: list[_Track], ratio: Decimal) -> list[_Track]:
    groups: dict[tuple[object, ...], list[_Track]] = {}
    out: list[_Track | tuple[object, ...]] = []
    for t in tracks:
        key = _merge_key(t)
        if key is None:
            out.append(t)
        elif key in groups:
            groups[key].append(t)
        else:
            groups[key] = [t]
            out.append(key)
    merged: list[_Track] = []
    for entry in out:
        if isinstance(entry, _Track):
            merged.append(entry)
            continue
        group = groups[entry]
        if len(group) == 1:
            merged.append(group[0])
            continue
        first = group[0]
        counts: dict[_Unit, Decimal] = {}
        for t in group:
            for u, q in t.start.composition:
                counts[u] = counts.get(u, _ZERO) + q
        composition = tuple(sorted(counts.items(), key=lambda uq: (-uq[0].amount, uq[0].others)))
        per_dose = sum((t.start.per_dose for t in group), _ZERO)
        limit = None
        if first.limit is not None:
            limit = tuple(
                sum(lims, _ZERO) for lims in zip(*(t.limit or () for t in group), strict=True)
            )
        start = _Regimen(per_dose, first.start.doses_per_day, composition)
        units = list(first.units)
        if first.kind is not FormKind.PATCH:  # tablets and capsules: one chain for the dose
            pool = {(u.amount, u.others, u.product.dmd_code): u for t in group for u in t.units}
            ordered = sorted(pool.values(), key=lambda u: (u.amount, u.others, u.product.dmd_code))
            units = _chain(ordered, [u for u, _ in composition], ratio)
        ladders = _compositions(units, _max_count(first.base_max, _units_now(start), limit), limit)
        merged.append(
            replace(
                first,
                indices=tuple(i for t in group for i in t.indices),
                start=start,
                ladders=ladders,
                units=tuple(units),
                limit=limit,
            )
        )
    return merged


def _options_for(track: _Track, reg: _Regimen) -> tuple[list[_Regimen | None], bool]:
    """Allowed next regimens (highest first) and whether they are per-dose reductions."""
    ladder = track.ladder(reg)
    lower = [a for a in ladder if a < reg.per_dose]
    if lower:
        return [_Regimen(a, reg.doses_per_day, ladder[a]) for a in sorted(lower)[::-1]], True
    n = reg.doses_per_day
    if n is not None and n > 1:
        return [_Regimen(reg.per_dose, n - 1, reg.composition)], False
    return [None], False


def _next(
    track: _Track,
    reg: _Regimen,
    wanted_daily: Decimal,
    others_ome: Decimal,
    opts: _Options,
) -> tuple[_Regimen | None, str]:
    """The next regimen of ``track`` from ``reg`` towards ``wanted_daily``, and why.

    Nearest dispensable per-dose amount to the wanted one (ties to the higher), among those
    that take off at least ``min_step_fraction`` of the intended reduction; if rounding gives
    no reduction, the nearest strictly lower dispensable dose.
    """
    options, per_dose_step = _options_for(track, reg)
    notes: list[str] = []
    chosen = options[0]
    if per_dose_step:
        wanted = wanted_daily / (reg.doses_per_day or _ONE)
        ceiling = reg.per_dose - opts.min_step_fraction * (reg.per_dose - wanted)
        amounts = sorted(track.ladder(reg))
        allowed = [a for a in amounts if a < reg.per_dose and a <= ceiling]
        if allowed:
            pick = min(allowed, key=lambda a: (abs(a - wanted), -a))
            chosen = next(o for o in options if o is not None and o.per_dose == pick)
        if chosen is not None and abs(chosen.per_dose - wanted) > abs(reg.per_dose - wanted):
            # only where it applies: staying would have been nearer the planned dose
            unit = "microgram/hour" if track.kind is FormKind.PATCH else "mg"
            notes.append(
                "a bigger step than planned: no dispensable dose between "
                f"{format_decimal(reg.per_dose)} and {format_decimal(chosen.per_dose)} {unit}"
            )
    elif chosen is None:
        notes.append("already the smallest dispensable dose, once a day or one patch: stopped")
    else:
        notes.append("already the smallest dispensable dose: one dose a day fewer")
    if others_ome + track.ome(chosen) < opts.target:
        fits = [o for o in options if others_ome + track.ome(o) <= opts.target]
        if fits:
            chosen = fits[0]
            notes.append("the highest dispensable dose at or below the target")
    return chosen, "; ".join(notes)


_PERCENT_PLACES = Decimal("0.1")  # display only: percentages are never compared


def _percent(change: Decimal, before: Decimal) -> Decimal | None:
    if before == 0:
        return None
    return (change * 100 / before).quantize(_PERCENT_PLACES)


def _default_order(tracks: list[_Track]) -> list[int]:
    return [t.index for t in sorted(tracks, key=lambda t: (-t.ome(t.start), t.index))]


def _check_order(order: Sequence[int] | None, tracks: list[_Track], count: int) -> list[int]:
    default = _default_order(tracks)
    if order is None:
        return default
    given = list(order)
    if len(set(given)) != len(given) or any(not 0 <= i < count for i in given):
        raise InvalidInputError("order", "must list distinct prescription positions")
    owner = {i: t.index for t in tracks for i in t.indices}
    first: list[int] = []
    for i in given:
        if i in owner and owner[i] not in first:
            first.append(owner[i])
    return first + [i for i in default if i not in first]


@dataclass(frozen=True, slots=True)
class _Options:
    min_step_fraction: Decimal
    reduction: Decimal
    every: int
    target: Decimal
    reduce_from: ReduceFrom
    hold_points: tuple[HoldPoint, ...]
    pace: tuple[PaceChange, ...]


def _pace_at(step: int, opts: _Options) -> tuple[Decimal, int]:
    reduction, every = opts.reduction, opts.every
    for change in sorted(opts.pace, key=lambda c: c.from_step):
        if change.from_step <= step:
            reduction = change.reduction if change.reduction is not None else reduction
            every = change.every_days if change.every_days is not None else every
    return reduction, every


def _schedule(
    tracks: list[_Track], order: list[int], opts: _Options, start: dt.date, first_number: int
) -> list[TaperStep]:
    by_index = {t.index: t for t in tracks}
    state: dict[int, _Regimen | None] = {t.index: t.start for t in tracks}
    holds = {h.at_step: h.intervals for h in opts.hold_points}

    def total() -> Decimal:
        return sum((by_index[i].ome(reg) for i, reg in state.items()), _ZERO)

    def items(changed: int | None = None) -> tuple[StepItem, ...]:
        return tuple(
            _item(by_index[i], reg)
            for i, reg in sorted(state.items())
            if reg is not None or i == changed
        )

    current_total = total()
    steps = [
        TaperStep(
            number=first_number,
            date=None,
            until=start,
            items=items(),
            daily_ome_mg=current_total,
            change_mg=_ZERO,
            change_percent=None,
            changed_prescription=None,
            reduction=None,
            interval_days=None,
            note="current dose",
        )
    ]
    date = start
    number = first_number
    for index in order:
        track = by_index[index]
        while state[index] is not None and current_total > opts.target:
            number += 1
            if number - first_number > _MAX_STEPS:  # pragma: no cover - ladders are finite
                raise InvalidInputError("prescriptions", "the plan would be too long")
            reduction, every = _pace_at(number, opts)
            reg = state[index]
            if reg is None:  # pragma: no cover - loop condition
                break
            daily = track.daily(reg)
            drop = reduction * (
                track.daily(track.start) if opts.reduce_from is ReduceFrom.STARTING else daily
            )
            others = current_total - track.ome(reg)
            new, note = _next(track, reg, daily - drop, others, opts)
            state[index] = new
            new_total = total()
            change = new_total - current_total
            held = holds.get(number, 0)
            until = date + dt.timedelta(days=every * (1 + held))
            steps.append(
                TaperStep(
                    number=number,
                    date=date,
                    until=until,
                    items=items(changed=index),
                    daily_ome_mg=new_total,
                    change_mg=change,
                    change_percent=_percent(change, current_total),
                    changed_prescription=index,
                    reduction=reduction,
                    interval_days=every,
                    hold_intervals=held,
                    note=note or None,
                )
            )
            current_total = new_total
            date = until
    last = steps[-1]
    steps[-1] = last.model_copy(update={"until": None})
    return steps


def _resolve_inputs(
    table: ConversionTable | str | None,
    knowledge: TaperKnowledge | None,
    catalogue: Catalogue | None,
    vocabulary: Vocabulary | None,
) -> tuple[ConversionTable, TaperKnowledge, Catalogue, Vocabulary]:
    tbl = default_table(table) if isinstance(table, str) else table or default_table()
    return (
        tbl,
        knowledge if knowledge is not None else default_taper_knowledge(),
        catalogue if catalogue is not None else load_catalogue(),
        vocabulary if vocabulary is not None else default_vocabulary(),
    )


def taper_plan(
    prescriptions: Iterable[Prescription],
    *,
    start: dt.date,
    reduction: Decimal | None = None,
    every: dt.timedelta | None = None,
    target: Decimal = _ZERO,
    reduce_from: ReduceFrom | str = ReduceFrom.CURRENT,
    pace: Sequence[PaceChange] | None = None,
    hold_points: Sequence[HoldPoint] = (),
    order: Sequence[int] | None = None,
    knowledge: TaperKnowledge | None = None,
    table: ConversionTable | str | None = None,
    catalogue: Catalogue | None = None,
    vocabulary: Vocabulary | None = None,
) -> TaperPlan:
    """Plan a taper of ``prescriptions`` from ``start`` down to ``target`` mg OME/day.

    Args:
        prescriptions: the patient's current opioid prescriptions.
        start: the date of the first reduction.
        reduction: fraction of the daily dose taken off at each step (default from
            ``taper.toml``: 0.10, Faculty of Pain Medicine, as cited by the NHS England
            analysis of opioid-reduction programmes, 2023).
        every: time between steps, whole days (default from ``taper.toml``: 14 days).
        target: total daily OME (mg) to reach; 0 (default) stops every planned opioid.
        reduce_from: ``"current"`` (default: a fraction of the current daily dose) or
            ``"starting"`` (a fraction of the starting daily dose: equal steps).
        pace: patient-led changes of pace from a given step (interval, reduction).
        hold_points: pauses: stay on a step's dose for extra intervals.
        order: prescription positions in the order to reduce them (default: most OME first;
            positions not listed follow in the default order).
        knowledge: taper knowledge (default: the bundled ``taper.toml``).
        table: OME conversion table or bundled id (default ``uk-opioids-aware``).
        catalogue: dm+d product catalogue (default: the bundled one).
        vocabulary: ingredient/form vocabulary (default: the bundled one).

    Returns:
        A :class:`TaperPlan`. Prescriptions that cannot be planned are in ``not_planned``
        with their reasons; if none can be planned the status is ``not-planned``.

    Raises:
        InvalidInputError: an option is out of range, or a prescription is invalid.
        UnknownProductError: a dm+d code or product name is not in the catalogue.
    """
    tbl, know, cat, vocab = _resolve_inputs(table, knowledge, catalogue, vocabulary)
    opts = _make_options(
        know,
        reduction=reduction,
        every=every,
        target=target,
        reduce_from=reduce_from,
        pace=pace,
        hold_points=hold_points,
    )
    rxs = list(prescriptions)
    with localcontext(_CONTEXT):
        tracks, refused = _tracks(rxs, vocab=vocab, catalogue=cat, table=tbl, knowledge=know)
        ordering = _check_order(order, tracks, len(rxs))
        steps = _schedule(tracks, ordering, opts, start, 0) if tracks else []
    return _plan(
        steps, refused, ordering, opts, start=start, know=know, tbl=tbl, cat=cat, vocab=vocab
    )


def _make_options(
    know: TaperKnowledge,
    *,
    reduction: Decimal | None,
    every: dt.timedelta | None,
    target: Decimal,
    reduce_from: ReduceFrom | str,
    pace: Sequence[PaceChange] | None,
    hold_points: Sequence[HoldPoint],
) -> _Options:
    red = know.pace.reduction if reduction is None else Decimal(reduction)
    if not (_ZERO < red < _ONE) or not red.is_finite():
        raise InvalidInputError("reduction", "must be a fraction between 0 and 1")
    days = know.pace.interval_days
    if every is not None:
        if every.seconds or every.microseconds or every.days < 1:
            raise InvalidInputError("every", "must be a whole number of days, at least 1")
        days = every.days
    tgt = Decimal(target)
    if not tgt.is_finite() or tgt < 0:
        raise InvalidInputError("target", "must be a daily OME of 0 or more")
    try:
        rf = ReduceFrom(reduce_from)
    except ValueError:
        raise InvalidInputError("reduce_from", "must be 'current' or 'starting'") from None
    holds = tuple(hold_points)
    if len({h.at_step for h in holds}) != len(holds):
        raise InvalidInputError("hold_points", "one hold point per step")
    return _Options(know.pace.min_step_fraction, red, days, tgt, rf, holds, tuple(pace or ()))


def _tracks(
    rxs: list[Prescription],
    *,
    vocab: Vocabulary,
    catalogue: Catalogue,
    table: ConversionTable,
    knowledge: TaperKnowledge,
) -> tuple[list[_Track], list[NotPlanned]]:
    tracks: list[_Track] = []
    refused: list[NotPlanned] = []
    for i, rx in enumerate(rxs):
        if not isinstance(rx, Prescription):
            raise InvalidInputError(f"prescriptions[{i}]", "must be a Prescription")
    # Validate every prescription as the OME calculator does, including the plausibility
    # limit summed over prescriptions.
    result = calculate_ome(rxs, table=table, vocabulary=vocab, catalogue=catalogue)
    labels = {item.prescription_index: item.drug for item in reversed(result.items)}
    for i, rx in enumerate(rxs):
        try:
            track = _track(
                i, rx, vocab=vocab, catalogue=catalogue, table=table, knowledge=knowledge
            )
        except _Refusal as exc:
            label = labels.get(i, "prescription")
            refused.append(
                NotPlanned(prescription_index=i, label=label, reason=exc.reason, opioid=exc.opioid)
            )
            continue
        tracks.append(track)
    return _merge(tracks, knowledge.dispensing.lower_strength_ratio), refused


def _plan(
    steps: list[TaperStep],
    refused: list[NotPlanned],
    ordering: list[int],
    opts: _Options,
    *,
    start: dt.date,
    know: TaperKnowledge,
    tbl: ConversionTable,
    cat: Catalogue,
    vocab: Vocabulary,
    history: tuple[TaperStep, ...] = (),
) -> TaperPlan:
    if not steps:
        status, reason = (
            PlanStatus.NOT_PLANNED,
            "no prescription could be planned (each is listed with its reason)",
        )
    elif any(n.opioid for n in refused):
        status, reason = (
            PlanStatus.PARTIAL,
            "some prescriptions could not be planned (each is listed with its reason); the "
            "totals are of the planned ones",
        )
    else:
        status, reason = PlanStatus.PLANNED, None
    start_ome = steps[0].daily_ome_mg if steps else _ZERO
    final_ome = steps[-1].daily_ome_mg if steps else _ZERO
    return TaperPlan(
        status=status,
        reason=reason,
        steps=tuple(steps),
        not_planned=tuple(refused),
        history=history,
        start=start,
        start_ome_mg=start_ome,
        final_ome_mg=final_ome,
        target_ome_mg=opts.target,
        target_reached=bool(steps) and final_ome <= opts.target,
        reduction=opts.reduction,
        interval_days=opts.every,
        reduce_from=opts.reduce_from,
        order=tuple(ordering),
        hold_points=opts.hold_points,
        pace=opts.pace,
        liquid_ml_resolution=know.dispensing.liquid_ml_resolution,
        knowledge_id=know.id,
        knowledge_version=know.version,
        knowledge_effective_date=know.effective_date.isoformat(),
        knowledge_citation=know.citation_text(know.pace.citations[0]),
        table_id=tbl.id,
        table_version=tbl.version,
        catalogue_id=cat.id,
        catalogue_version=cat.version,
        library_version=__version__,
        provenance=knowledge_provenance(
            table=tbl,
            vocabulary=vocab,
            catalogues=(cat,),
            sources=(header_source("taper", know),),
        ),
    )


def replan(
    plan: TaperPlan,
    from_step: int,
    actual_prescriptions: Iterable[Prescription],
    *,
    start: dt.date | None = None,
    knowledge: TaperKnowledge | None = None,
    table: ConversionTable | str | None = None,
    catalogue: Catalogue | None = None,
    vocabulary: Vocabulary | None = None,
) -> TaperPlan:
    """Plan again from step ``from_step`` of ``plan``, with the dose actually taken.

    Steps before ``from_step`` become ``history``; the new plan's first step is numbered
    ``from_step`` and holds ``actual_prescriptions`` (which may be higher than planned: the
    patient's pace wins). The options of ``plan`` are kept (its pace changes and hold points
    apply by step number); ``order`` is by position in ``actual_prescriptions`` (default rule).
    With ``reduce_from="starting"`` the actual dose is the new starting dose. ``start``
    (default: the date of step ``from_step``, or the plan's start) is the next reduction date.

    Raises:
        InvalidInputError: ``from_step`` is not a step of the plan.
    """
    numbers = [s.number for s in plan.steps]
    if from_step not in numbers:
        raise InvalidInputError("from_step", "must be the number of a step of the plan")
    position = numbers.index(from_step)
    step = plan.steps[position]
    step_date = step.date
    next_date = (
        start or step.until or (step_date or plan.start) + dt.timedelta(days=plan.interval_days)
    )
    tbl, know, cat, vocab = _resolve_inputs(table, knowledge, catalogue, vocabulary)
    opts = _Options(
        know.pace.min_step_fraction,
        plan.reduction,
        plan.interval_days,
        plan.target_ome_mg,
        plan.reduce_from,
        plan.hold_points,
        plan.pace,
    )
    rxs = list(actual_prescriptions)
    with localcontext(_CONTEXT):
        tracks, refused = _tracks(rxs, vocab=vocab, catalogue=cat, table=tbl, knowledge=know)
        ordering = _check_order(None, tracks, len(rxs))
        steps = _schedule(tracks, ordering, opts, next_date, from_step) if tracks else []
    if steps:
        steps[0] = steps[0].model_copy(update={"date": step_date, "note": "dose actually taken"})
    history = plan.history + plan.steps[:position]
    return _plan(
        steps,
        refused,
        ordering,
        opts,
        start=next_date,
        know=know,
        tbl=tbl,
        cat=cat,
        vocab=vocab,
        history=history,
    )


def taper_plan_for_patient(
    patient: Patient,
    *,
    start: dt.date,
    reduction: Decimal | None = None,
    every: dt.timedelta | None = None,
    target: Decimal = _ZERO,
    reduce_from: ReduceFrom | str = ReduceFrom.CURRENT,
    pace: Sequence[PaceChange] | None = None,
    hold_points: Sequence[HoldPoint] = (),
    order: Sequence[int] | None = None,
    knowledge: TaperKnowledge | None = None,
    table: ConversionTable | str | None = None,
    catalogue: Catalogue | None = None,
    vocabulary: Vocabulary | None = None,
    scope_knowledge: Knowledge | None = None,
    profile: Profile | None = None,
) -> TaperPlan:
    """Plan a taper of a patient's current prescriptions, if the patient is in scope.

    The scope is decided by the ``scope`` ruleset (``rules/scope.toml``; ``docs/risk-and-tiers.md``,
    "Scope") through :func:`opioidcds.assess`: a patient with cancer pain, in palliative care, on
    opioid substitution therapy (or otherwise out of scope: under 18, no current opioid, not
    long-term use) gets no plan: status ``out-of-scope``, ``reason`` the ruleset's reason and
    ``scope_rule`` the rule that decided. If the scope is undetermined (unknown inputs), there is no
    plan either (status ``not-planned``, the reason says what is unknown). Otherwise the
    plan is :func:`taper_plan` of ``patient.prescriptions`` (positions in ``order`` and in the
    plan are positions in that list); non-opioid prescriptions are listed as not planned.

    Args:
        patient: the patient (:class:`opioidcds.Patient`).
        start: the date of the first reduction.
        reduction: see :func:`taper_plan` (as are ``every`` to ``vocabulary``).
        every: see :func:`taper_plan`.
        target: see :func:`taper_plan`.
        reduce_from: see :func:`taper_plan`.
        pace: see :func:`taper_plan`.
        hold_points: see :func:`taper_plan`.
        order: see :func:`taper_plan`.
        knowledge: see :func:`taper_plan`.
        table: see :func:`taper_plan`.
        catalogue: see :func:`taper_plan`.
        vocabulary: see :func:`taper_plan`.
        scope_knowledge: the assessment knowledge bundle holding the scope ruleset (default:
            :func:`opioidcds.default_knowledge`); with local rules
            (``load_knowledge(local_rules=DIR)``) the plan names them (``local_rules``).
        profile: a local profile for the rulesets.

    Raises:
        InvalidInputError: ``patient`` is not a Patient, an option or a prescription is invalid.
    """
    from opioidcds._decide.assessment import assess  # noqa: PLC0415 - the rules engine loads only if needed
    from opioidcds._inputs.patient import Patient  # noqa: PLC0415

    if not isinstance(patient, Patient):
        raise InvalidInputError("patient", "must be a Patient")
    from opioidcds._decide.knowledge import default_knowledge  # noqa: PLC0415
    from opioidcds._decide.profile_notes import in_force  # noqa: PLC0415

    assessment = assess(patient, knowledge=scope_knowledge, profile=profile)
    scope = assessment.scope
    kb = scope_knowledge if scope_knowledge is not None else default_knowledge()
    named = in_force(kb.rulesets, profile if profile is not None else kb.profile)
    plan_args = {
        "start": start,
        "reduction": reduction,
        "every": every,
        "target": target,
        "reduce_from": reduce_from,
        "pace": pace,
        "hold_points": hold_points,
        "order": order,
        "knowledge": knowledge,
        "table": table,
        "catalogue": catalogue,
        "vocabulary": vocabulary,
    }
    if scope.in_scope is True:
        plan = taper_plan(patient.prescriptions, **plan_args)  # type: ignore[arg-type]
        return plan.model_copy(
            update={
                "scope_rule": scope.rule_id,
                "provenance": combine(plan.provenance, assessment.provenance),
                "local_rules": named,
            }
        )
    empty = taper_plan((), **plan_args)  # type: ignore[arg-type]  # options checked, basis filled
    status = PlanStatus.OUT_OF_SCOPE if scope.in_scope is False else PlanStatus.NOT_PLANNED
    return empty.model_copy(
        update={
            "status": status,
            "reason": scope.reason,
            "scope_rule": scope.rule_id,
            "provenance": combine(empty.provenance, assessment.provenance),
            "local_rules": named,
        }
    )
