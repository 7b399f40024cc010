"""The columnar fast path: each patient's decision inputs derived in Polars, decided per class.

:func:`derive` turns a slice of usable issue rows (sorted by patient, date, row) into one row
per patient holding exactly the inputs :func:`opioidcds.assess` would derive from the
patient :func:`~opioidcds.population.build.build_patient` builds: the current opioids with the
method of each daily dose (each distinct dosage text read once per form, each distinct
quantity/interval computed once in :class:`~decimal.Decimal` by :func:`~.build.per_day`), the
OME of each current medicine (measured once per distinct product and dose from the
calculator's unit items, :mod:`~.prescription_ome`) summed per patient in exact
``Decimal(38, 18)`` columns, the co-prescriptions, the patient-table values and the history
figures.

:func:`decide` then evaluates the rulesets once per *class* of inputs, never per patient: the
rule language compares an input only with constants and parameters, so inputs on the same side
of every such cut point (declared bounds included) get the same truth for every rule
(:func:`opioidcds.population.memo.cut_points`). Each rule of ``risk-factors`` is evaluated
once per class of the inputs *it* reads; ``scope`` once per class of its inputs; the hit
policy once per distinct vector of rule truths; level and tier (``assess._stratify``'s
derivation) once per distinct vector of factor statuses; the worklist band once per (tier,
early re-ordering, readiness). The rulesets and the profile are data: nothing here knows a
threshold.

Patients outside what this path handles (excluded patient-table rows, the issue cap, a current
opioid whose dose cannot be estimated, a value outside a ruleset's declared bounds, an
A&E date after the as-of date, unusual medicine classes, an OME the calculator would refuse or
that is not measured in columns, see :mod:`~.prescription_ome`) are returned in ``fallback``
and screened one by one by the reference path. The differential tests
(tests/population) check every row equals the row built from ``assess``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any, Final, Protocol

import polars as pl

from opioidcds._decide.assessment import FactorStatus
from opioidcds._decide.rules import BoundRuleset, Decisions
from opioidcds._decide.rules.conditions import condition_fields
from opioidcds._errors import OpioidCDSError
from opioidcds._inputs.patient import _MAX_PRESCRIPTIONS
from opioidcds._knowledge.products import MedicineClass
from opioidcds._knowledge.vocabulary import Vocabulary
from opioidcds._measure.ome import _MG_PER_DAY, _RATE
from opioidcds.population.build import (
    MAX_OPIOID_ISSUES,
    PATCH_NOTE,
    TEXT_NOTE,
    Resolved,
    dosage_usable,
    interval_note,
    per_day,
    supply_note,
)
from opioidcds.population.memo import class_of, cut_points
from opioidcds.population.method import ScreeningMethod
from opioidcds.population.prescription_ome import UnitMeasures, record_classes
from opioidcds.population.schema import PATIENT_BOOLEAN_COLUMNS

__all__ = ["DECIDED_COLUMNS", "Derived", "OmeSummary", "decide", "derive", "plain"]

DECIDED_COLUMNS: Final = (
    "patient_id",
    "scope",
    "status",
    "strat",
    "band",
    "ome_id",
    "evidence",
    "ome_method",
    "assumed",
    "readiness_to_change",
)
"""The columns of :class:`Decided` frames, in the order the engine reads them."""

_NO_OPIOID_EVIDENCE: Final = "no opioid issues in the history given"
_SEDATIVE_COLUMNS: Final = {  # the kind of a sedative issue -> its co-prescription column
    "benzodiazepine": "benzodiazepine_coprescribed",
    "z-drug": "z_drug_coprescribed",
    "gabapentinoid": "gabapentinoid_coprescribed",
}
_DEC: Final = pl.Decimal(38, 10)  # the schema admits at most 10 + 10 digits per quantity
_OME_SCALE: Final = 18  # decimal places of the OME columns (prescription_ome keeps within)
_MARGIN: Final = 1 - 1e-9  # float sums this close to a plausibility limit go to the library


@dataclass(frozen=True, slots=True)
class Derived:
    """Per-patient decision inputs of one slice (``frame``) and who needs the reference path.

    ``omes[ome_id]`` is the OME of a patient's current prescriptions (``None``: no current
    opioid, ``ome_id`` 0).
    """

    frame: pl.DataFrame
    fallback: frozenset[str]
    omes: Sequence[OmeSummary | None]


def _resolved_frame(resolved: Sequence[Resolved]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "rid": list(range(len(resolved))),
            "kind": [r.kind for r in resolved],
            "key": [(r.dmd_code or r.product_name or "").strip().lower() for r in resolved],
            "patch": [r.patch for r in resolved],
            "has_unit": [r.unit is not None for r in resolved],
        },
        schema={
            "rid": pl.Int64,
            "kind": pl.String,
            "key": pl.String,
            "patch": pl.Boolean,
            "has_unit": pl.Boolean,
        },
    )


def _classes_frame(resolved: Sequence[Resolved]) -> pl.DataFrame:
    """Per product (``rid``): an unusual class for a current opioid, opioid-dependence treatment.

    As ``medicine_classes`` classes the prescription: a class other than opioid only, or a
    benzodiazepine or gabapentinoid class too, sends the patient to the reference path.
    """
    other = frozenset({MedicineClass.BENZODIAZEPINE, MedicineClass.GABAPENTINOID})
    odd, ost = [], []
    for r in resolved:
        c = record_classes(r.dmd_code, r.product_name) if r.kind == "opioid" else frozenset()
        odd.append(bool(c and MedicineClass.OPIOID not in c) or bool(c & other))
        ost.append(MedicineClass.OPIOID_DEPENDENCE_TREATMENT in c)
    return pl.DataFrame(
        {"rid": list(range(len(resolved))), "odd_class": odd, "ost_class": ost},
        schema={"rid": pl.Int64, "odd_class": pl.Boolean, "ost_class": pl.Boolean},
    )


def _text_doses(
    pairs: pl.DataFrame, resolved: Sequence[Resolved], measures: UnitMeasures, which: int
) -> pl.Series:
    """Column ``dose``: the dose number of each (``rid``, ``text``) row of ``pairs``.

    Each distinct text is read once per pharmaceutical form (``which``: the setting, see
    :class:`~.prescription_ome.UnitMeasures`); null when the text gives no dose.
    """
    forms = pl.DataFrame(
        {
            "rid": list(range(len(resolved))),
            "_form": [measures.form_key(which, r) for r in resolved],
        },
        schema={"rid": pl.Int64, "_form": pl.String},
    )
    keyed = pairs.select("rid", "text").join(forms, on="rid", how="left", maintain_order="left")
    distinct = keyed.drop_nulls().select("_form", "text").unique()
    doses = [measures.form_dose(which, f, t) for f, t in distinct.iter_rows()]
    distinct = distinct.with_columns(pl.Series("dose", doses, dtype=pl.Int64))
    joined = keyed.join(distinct, on=["_form", "text"], how="left", maintain_order="left")
    return joined.get_column("dose")


def _usable_texts(
    meds: pl.DataFrame, resolved: Sequence[Resolved], measures: UnitMeasures
) -> pl.DataFrame:
    """Why each distinct (product, dosage text) cannot be used (null: usable), read once.

    Decided per distinct (product, dose) where the unit items and the schedule say so
    (``UnitMeasures.usable_fast``); the other pairs are asked of ``dosage_usable``.
    """
    pairs = meds.filter(pl.col("text").is_not_null()).select("rid", "text").unique()
    pairs = pairs.with_columns(_text_doses(pairs, resolved, measures, which=1))
    known = pairs.drop_nulls("dose").select("rid", "dose").unique()
    fast = [measures.usable_fast(resolved[rid], dose) for rid, dose in known.iter_rows()]
    known = known.with_columns(pl.Series("_ok", fast, dtype=pl.Boolean))
    pairs = pairs.join(known, on=["rid", "dose"], how="left")
    ask = pairs.filter(~pl.col("_ok").fill_null(value=False)).select("rid", "text")
    why = [
        dosage_usable(resolved[rid].dmd_code, resolved[rid].product_name, text)
        for rid, text in ask.iter_rows()
    ]
    asked = ask.with_columns(pl.Series("why", why, dtype=pl.String))
    return pairs.select("rid", "text").join(asked, on=["rid", "text"], how="left")


def _medicines(
    df: pl.DataFrame,
    resolved: Sequence[Resolved],
    as_of: dt.date,
    meth: ScreeningMethod,
    measures: UnitMeasures,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per current opioid medicine (method, note, prescription id ``rx``).

    With the OME columns of each distinct prescription (:func:`_prescriptions`).
    """
    window, lookback = meth.current_window_days, meth.lookback_days
    q = pl.col("quantity").cast(_DEC)
    recent = pl.col("age_days") <= lookback
    meds = (
        df.filter(pl.col("kind") == "opioid")
        .group_by(["pid", "key"])
        .agg(  # rows keep their order (date, row) within each group
            pl.col("pos").min().alias("first_pos"),
            pl.col("age_days").last().alias("last_age"),
            pl.col("rid").last().alias("rid"),
            pl.col("dosage_text").last().alias("text"),
            pl.col("days_supply").last().alias("supply"),
            pl.col("patch").last().alias("patch"),
            pl.col("has_unit").last().alias("has_unit"),
            q.last().alias("last_q"),
            recent.sum().alias("n_recent"),
            pl.col("age_days").filter(recent).max().alias("first_recent_age"),
            q.filter(recent).sum().alias("recent_q"),
        )
        .filter(pl.col("last_age") <= window)
    )
    meds = meds.join(_usable_texts(meds, resolved, measures), on=["rid", "text"], how="left")
    usable = pl.col("text").is_not_null() & pl.col("why").is_null()
    days = pl.col("first_recent_age") - pl.col("last_age")
    meds = meds.with_columns(
        pl.when(usable)
        .then(pl.lit("dosage-text"))
        .when(pl.col("patch"))
        .then(pl.lit("patch-assumed-one"))
        .when(~pl.col("has_unit") | (pl.col("last_age") > lookback))
        .then(pl.lit("not-computable"))  # screened by the reference path
        .otherwise(pl.lit("quantity-interval"))
        .alias("method"),
        days.alias("days"),
        pl.when(days > 0)
        .then(pl.col("recent_q") - pl.col("last_q"))
        .otherwise(pl.col("last_q"))
        .alias("num"),
        pl.when(days > 0)
        .then(days)
        .otherwise(pl.col("supply").fill_null(meth.default_supply_days))
        .alias("den"),
    )
    meds = _daily(meds)
    meds = _notes(meds, meth)
    return _prescriptions(meds, resolved, measures)


def _daily(meds: pl.DataFrame) -> pl.DataFrame:
    """Daily quantity id (``qi``) per distinct (quantity, days) of the interval estimates."""
    qi = pl.col("method") == "quantity-interval"
    pairs = meds.filter(qi).select("num", "den").unique(maintain_order=True)
    dailies = [per_day(num, int(den)) for num, den in pairs.iter_rows()]
    pairs = pairs.with_columns(
        pl.Series("qi", range(len(dailies)), dtype=pl.Int64),
        pl.Series("daily_ok", [d is not None for d in dailies], dtype=pl.Boolean),
    )
    meds = meds.join(pairs, on=["num", "den"], how="left")
    return meds.with_columns(
        pl.when(qi & ~pl.col("daily_ok"))
        .then(pl.lit("not-computable"))
        .otherwise(pl.col("method"))
        .alias("method"),
        pl.when(qi).then(pl.col("qi")).otherwise(None).alias("qi"),
    )


def _notes(meds: pl.DataFrame, meth: ScreeningMethod) -> pl.DataFrame:
    """Each medicine's method note (``method: note``), formatted once per distinct kind."""
    keys = ["method", "why", "n_recent", "days", "supply_given"]
    meds = meds.with_columns(pl.col("supply").is_not_null().alias("supply_given"))
    kinds = meds.select(keys).unique(maintain_order=True)
    texts = []
    for method, why, n_recent, days, given in kinds.iter_rows():
        prefix = f"{why}; " if why else ""
        if method == "dosage-text":
            note = TEXT_NOTE
        elif method == "patch-assumed-one":
            note = prefix + PATCH_NOTE
        elif days > 0:
            note = prefix + interval_note(int(n_recent) - 1, int(days), meth.lookback_days)
        else:
            note = prefix + supply_note(
                days_supply_given=bool(given), default_supply=meth.default_supply_days
            )
        texts.append(f"{method}: {note}")
    kinds = kinds.with_columns(pl.Series("method_text", texts, dtype=pl.String))
    return meds.join(kinds, on=keys, how="left", nulls_equal=True)


def _prescriptions(
    meds: pl.DataFrame, resolved: Sequence[Resolved], measures: UnitMeasures
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The OME columns of each current medicine, measured once per distinct (product, dose).

    Adds to ``meds`` the dose number ``dose`` (the text's for ``dosage-text``, one patch worn
    for ``patch-assumed-one``, the daily quantity once a day for ``quantity-interval``, as the
    builder's prescriptions state them), ``rx_ome`` (the sum of its converted items, exact),
    ``unconverted``, ``opioid_item`` and ``slow`` (not measured here: the patient goes to the
    reference path). Also returns each item's ingredient, unit and daily amount by (``rid``,
    ``dose``), for the plausibility limits.
    """
    text = pl.col("method") == "dosage-text"
    meds = meds.with_columns(
        pl.when(text).then(_text_doses(meds, resolved, measures, which=0)).alias("dose")
    )
    structured = (
        meds.filter(pl.col("method").is_in(["patch-assumed-one", "quantity-interval"]))
        .select("method", "rid", "num", "den")
        .unique()
    )
    doses: list[int | None] = []
    for method, rid, num, den in structured.iter_rows():
        r = resolved[rid]
        if method == "patch-assumed-one":
            doses.append(measures.structured_dose(r, Decimal(1), "patch", None))
            continue
        daily = per_day(num, int(den))
        if daily is None or r.unit is None:  # pragma: no cover - filtered above
            raise AssertionError("not a computable quantity/interval estimate")
        doses.append(measures.structured_dose(r, daily, r.unit, Decimal(1)))
    structured = structured.with_columns(pl.Series("_sdose", doses, dtype=pl.Int64))
    meds = meds.join(
        structured, on=["method", "rid", "num", "den"], how="left", nulls_equal=True
    ).with_columns(pl.coalesce("dose", "_sdose").alias("dose"))
    distinct = meds.drop_nulls("dose").select("rid", "dose").unique()
    omes: list[Decimal | None] = []
    unconverted: list[bool] = []
    opioid: list[bool] = []
    amounts: dict[str, list[Any]] = {"rid": [], "dose": [], "ingredient": [], "unit": []}
    amounts["amount"] = []
    for rid, dose in distinct.iter_rows():
        measured = measures.measure(resolved[rid], dose)
        omes.append(None if measured is None else measured.ome)
        unconverted.append(measured is not None and measured.unconverted)
        opioid.append(measured is not None and measured.opioid_item)
        for ingredient, unit, amount in () if measured is None else measured.amounts:
            for name, value in zip(
                ("rid", "dose", "ingredient", "unit", "amount"),
                (rid, dose, ingredient, unit, float(amount)),
                strict=True,
            ):
                amounts[name].append(value)
    distinct = distinct.with_columns(
        pl.Series("rx_ome", omes, dtype=pl.Decimal(38, _OME_SCALE)),
        pl.Series("unconverted", unconverted, dtype=pl.Boolean),
        pl.Series("opioid_item", opioid, dtype=pl.Boolean),
    )
    meds = meds.join(distinct, on=["rid", "dose"], how="left").with_columns(
        # a current medicine not measured here (no dose, or left to the library)
        (pl.col("rx_ome").is_null() & (pl.col("method") != "not-computable")).alias("slow")
    )
    return meds, pl.DataFrame(
        amounts,
        schema={
            "rid": pl.Int64,
            "dose": pl.Int64,
            "ingredient": pl.String,
            "unit": pl.String,
            "amount": pl.Float64,
        },
    )


@dataclass(frozen=True, slots=True)
class OmeSummary:
    """A patient's OME as the decisions and the worklist read it (``assess``'s OMEResult).

    ``total``: the exact total, mg/day (a lower bound when not ``complete``);
    ``current_opioid``: an item of an opioid (``assess``: a current opioid).
    """

    total: Decimal
    complete: bool
    current_opioid: bool


def plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros, in plain notation (``60.000`` is ``60``); exact."""
    t = value.as_tuple()
    if not value.is_finite() or not isinstance(t.exponent, int):
        return value
    exact = Context(prec=len(t.digits) + max(t.exponent, 0) + 1)  # enough: nothing rounded
    if value == value.to_integral_value():
        return value.quantize(Decimal(1), context=exact)
    return value.normalize(exact)


def _implausible(meds: pl.DataFrame, amounts: pl.DataFrame, vocabulary: Vocabulary) -> pl.DataFrame:
    """Patients (``pid``) whose daily amount of one opioid may be over the plausibility limits.

    The calculator refuses such a list (HAZ-002); these patients go to the reference path,
    which refuses them as ``assess`` does. The sums are in floating point with a margin, so a
    patient near a limit is sent there too (never decided here on a rounded sum).
    """
    limits = pl.DataFrame(
        {
            "unit": [_MG_PER_DAY, _RATE],
            "limit": [
                float(vocabulary.limits.max_daily_mg),
                float(vocabulary.limits.max_patch_rate_microgram_per_hour),
            ],
        }
    )
    sums = (
        meds.select("pid", "rid", "dose")
        .join(amounts, on=["rid", "dose"], how="inner")
        .group_by("pid", "ingredient", "unit")
        .agg(pl.col("amount").sum())
        .join(limits, on="unit", how="left")
    )
    near = pl.col("limit").is_null() | (pl.col("amount") > pl.col("limit") * _MARGIN)
    return (
        sums.filter(near).select("pid").unique().with_columns(pl.lit(value=True).alias("odd_dose"))
    )


def _attributes(patients: pl.DataFrame | None) -> pl.DataFrame:
    cols = ["age", "sex", "last_ae_attendance", "readiness_to_change", *PATIENT_BOOLEAN_COLUMNS]
    if patients is None:
        schema = {
            "patient_id": pl.String,
            "age": pl.Int64,
            "sex": pl.String,
            "last_ae_attendance": pl.Date,
            "readiness_to_change": pl.String,
            **dict.fromkeys(PATIENT_BOOLEAN_COLUMNS, pl.Boolean),
        }
        return pl.DataFrame(schema=schema)
    return patients.select("patient_id", *cols)


def derive(
    piece: pl.DataFrame,
    resolved: Sequence[Resolved],
    patients: pl.DataFrame | None,
    history: pl.DataFrame,
    *,
    as_of: dt.date,
    method: ScreeningMethod,
    excluded: frozenset[str],
    measures: UnitMeasures,
) -> Derived:
    """The decision inputs of every patient of ``piece`` (see the module docstring).

    ``piece`` has a column ``pid``: a dense integer per patient (the frame is sorted by
    patient), used as the grouping key; ``history`` has it too.
    """
    df = (
        piece.with_row_index("pos")
        .join(_resolved_frame(resolved), on="rid", how="left")
        .with_columns((pl.lit(as_of) - pl.col("issue_date")).dt.total_days().alias("age_days"))
    )
    window = method.current_window_days
    now = pl.col("age_days") <= window
    people = df.group_by("pid", maintain_order=True).agg(
        pl.col("patient_id").first(),
        (pl.col("kind") == "opioid").sum().alias("n_opioid"),
        ((pl.col("kind") == "benzodiazepine") & now).any().alias("benzo_now"),
        ((pl.col("kind") == "gabapentinoid") & now).any().alias("gaba_now"),
        ((pl.col("kind") == "z-drug") & now).any().alias("zdrug_now"),
        *(
            pl.col("key").filter((pl.col("kind") == kind) & now).n_unique().alias(f"n_{column}")
            for kind, column in _SEDATIVE_COLUMNS.items()
        ),
    )
    meds, amounts = _medicines(df, resolved, as_of, method, measures)
    classes = _classes_frame(resolved)
    per = (
        meds.join(classes, on="rid", how="left")
        .sort(["pid", "first_pos"])
        .group_by("pid", maintain_order=True)
        .agg(
            pl.col("method_text").str.join(" | ").alias("ome_method"),
            (pl.col("method") == "patch-assumed-one").any().alias("assumed"),
            (pl.col("method") == "not-computable").any().alias("odd_med"),
            pl.col("rx_ome").sum().alias("ome_total"),
            pl.col("unconverted").any(),
            pl.col("opioid_item").any(),
            (
                pl.col("slow").any() | pl.col("odd_class").any() | (pl.len() > _MAX_PRESCRIPTIONS)
            ).alias("odd_ome"),
            pl.col("ost_class").any().alias("ost_rx"),
        )
        .join(_implausible(meds, amounts, measures.settings[0].vocabulary), on="pid", how="left")
        .with_columns(
            (pl.col("odd_ome") | pl.col("odd_dose").fill_null(value=False)).alias("odd_ome"),
            (~pl.col("unconverted") & ~pl.col("assumed")).alias("complete"),
        )
    )
    summaries = (
        per.filter(~pl.col("odd_med") & ~pl.col("odd_ome"))
        .select("ome_total", "complete", "opioid_item")
        .unique(maintain_order=True)
    )
    omes: list[OmeSummary | None] = [None]
    omes.extend(
        OmeSummary(plain(total), complete, current)
        for total, complete, current in summaries.iter_rows()
    )
    summaries = summaries.with_columns(pl.Series("ome_id", range(1, len(omes)), dtype=pl.Int64))
    per = per.join(
        summaries, on=["ome_total", "complete", "opioid_item"], how="left", nulls_equal=True
    )
    frame = (
        people.join(per, on="pid", how="left")
        .join(history.drop("patient_id"), on="pid", how="left")
        .join(_attributes(patients), on="patient_id", how="left")
    )
    frame = frame.with_columns(
        pl.col("ome_id").fill_null(0),
        pl.col("ome_method").fill_null(pl.lit("no current opioid")),
        pl.col("assumed").fill_null(value=False),
        pl.col("use_days").fill_null(0),
        pl.col("issues").fill_null(0),
        pl.col("early").fill_null(0),
        pl.col("all_classed").fill_null(value=True),
        pl.col("evidence").fill_null(pl.lit(_NO_OPIOID_EVIDENCE)),
    )
    fallback = (
        pl.col("patient_id").is_in(list(excluded))
        | (pl.col("n_opioid") > MAX_OPIOID_ISSUES)
        | pl.col("odd_med").fill_null(value=False)
        | pl.col("odd_ome").fill_null(value=False)
        | (pl.col("last_ae_attendance") > as_of).fill_null(value=False)
    )
    frame = frame.with_columns(fallback.alias("fallback"))
    back = frozenset(frame.filter(pl.col("fallback")).get_column("patient_id").to_list())
    frame = frame.filter(~pl.col("fallback")).with_columns(
        # Patient: a current benzodiazepine/z-drug/gabapentinoid issue sets the input true; OST
        # stated wins, else derived from the prescriptions' classes; cancer/palliative false
        pl.when(pl.col("benzo_now"))
        .then(pl.lit(value=True))
        .otherwise(pl.col("benzodiazepine_coprescribed"))
        .alias("benzodiazepine_coprescribed"),
        pl.when(pl.col("gaba_now"))
        .then(pl.lit(value=True))
        .otherwise(pl.col("gabapentinoid_coprescribed"))
        .alias("gabapentinoid_coprescribed"),
        pl.when(pl.col("zdrug_now"))
        .then(pl.lit(value=True))
        .otherwise(pl.col("z_drug_coprescribed"))
        .alias("z_drug_coprescribed"),
        pl.coalesce(
            pl.col("opioid_substitution_therapy"),
            pl.when(pl.col("ost_rx").fill_null(value=False)).then(pl.lit(value=True)),
        ).alias("ost"),
        pl.col("cancer_pain").fill_null(value=False),
        pl.col("palliative_care").fill_null(value=False),
        pl.when(pl.col("sex").is_in(["male", "female"])).then(pl.col("sex")).alias("sex_known"),
        (pl.lit(as_of) - pl.col("last_ae_attendance")).dt.total_days().alias("days_ae"),
    )
    return Derived(frame=frame, fallback=back, omes=omes)


# --- deciding per class ----------------------------------------------------------------------


class Decider(Protocol):
    """What :func:`decide` needs from the engine's decider (its derivations, memoised)."""

    scope_rs: BoundRuleset
    factor_rs: BoundRuleset

    def scope_of(self, inputs: Mapping[str, object]) -> tuple[bool | None, str | None, str]:
        """(in scope, rule id, reason) of ruleset scope on these inputs."""

    def factors_of(self, decided: Decisions) -> tuple[tuple[str, FactorStatus], ...]:
        """Each factor's status from the decisions of ruleset risk-factors."""

    def stratify_of(
        self, factors: tuple[tuple[str, FactorStatus], ...], *, in_scope: bool
    ) -> tuple[str | None, str | None, str, str, tuple[str, ...]]:
        """(level, level if unknown, tier, tier if unknown, unknowns that could change)."""

    def band_of(self, tier: str, *, early: bool, readiness: str | None) -> tuple[str, str]:
        """(band, reason) of ruleset worklist-priority."""


@dataclass(frozen=True, slots=True)
class _Input:
    """How a ruleset input is read from the frame: a column, or a value of the OME."""

    column: str
    ome: Callable[[OmeSummary | None], Decimal | None] | None = None


def _lower(ome: OmeSummary | None) -> Decimal | None:
    return Decimal(0) if ome is None else ome.total


def _total(ome: OmeSummary | None) -> Decimal | None:
    if ome is None:
        return Decimal(0)
    return ome.total if ome.complete else None


# assess._scope's and assess._factor_inputs's inputs, by frame column (the differential tests
# compare these with _factor_inputs on built patients)
SCOPE_INPUTS: Final = {
    "cancer_pain": _Input("cancer_pain"),
    "palliative_care": _Input("palliative_care"),
    "opioid_substitution_therapy": _Input("ost_scope"),
    "age": _Input("age"),
    "current_opioid": _Input("current_opioid"),
    "opioid_use_days": _Input("use_days"),
    "opioid_issues": _Input("issues"),
}
FACTOR_INPUTS: Final = {
    "sex": _Input("sex_known"),
    "age": _Input("age"),
    "benzodiazepine_coprescribed": _Input("benzodiazepine_coprescribed"),
    "z_drug_coprescribed": _Input("z_drug_coprescribed"),
    "unemployed": _Input("unemployed"),
    "ae_attendance_recent": _Input("ae_attendance_recent"),
    "days_since_ae_attendance": _Input("days_ae"),
    "family_history_dependence": _Input("family_history_dependence"),
    "history_substance_or_alcohol_misuse": _Input("history_substance_or_alcohol_misuse"),
    "preadolescent_sexual_abuse_history": _Input("preadolescent_sexual_abuse_history"),
    "depression": _Input("depression"),
    "other_psychological_disease": _Input("other_psychological_disease"),
    "ome_lower_bound_mg_per_day": _Input("ome_id", _lower),
    "ome_mg_per_day": _Input("ome_id", _total),
    "gabapentinoid_coprescribed": _Input("gabapentinoid_coprescribed"),
    "sedative_medicines_at_least": _Input("sedatives_known"),
    "sedative_medicines": _Input("sedatives_exact"),
    "early_reorders_at_least": _Input("early"),
    "early_reorders": _Input("early_classed"),
}


@dataclass(frozen=True, slots=True)
class Decided:
    """Result ids per patient (``frame``) and the results they point to.

    ``frame`` columns: ``patient_id``, ``scope``, ``status``, ``strat``, ``band`` (indices
    into the lists), ``ome_id``, ``evidence``, ``ome_method``, ``assumed``,
    ``readiness_to_change``. ``fallback``: patients with an input a ruleset refuses.
    """

    frame: pl.DataFrame
    scopes: Sequence[tuple[bool | None, str | None, str]]
    statuses: Sequence[tuple[tuple[str, FactorStatus], ...]]
    strats: Sequence[tuple[str | None, str | None, str, str, tuple[str, ...]]]
    bands: Sequence[tuple[str, str]]
    fallback: frozenset[str]


class _Classes:
    """Per-class evaluation over the rows of one frame (representative: the first row)."""

    def __init__(self, frame: pl.DataFrame, omes: Sequence[OmeSummary | None]) -> None:
        self.frame = frame
        self.omes = omes
        self.codes: dict[tuple[str, str], str] = {}
        self.invalid: list[pl.Expr] = []

    def inputs(self, i: int, spec: Mapping[str, _Input]) -> dict[str, object]:
        """The ruleset inputs of row ``i``."""
        row = self.frame.row(i, named=True)
        return {name: self.value(how, row[how.column]) for name, how in spec.items()}

    def value(self, how: _Input, raw: object) -> object:
        """The input value of a raw column value (the OME's for OME inputs)."""
        if how.ome is None:
            return raw
        if not isinstance(raw, int):  # pragma: no cover - ome_id is an integer column
            raise TypeError("ome_id")
        return how.ome(self.omes[raw])

    def code(self, bound: BoundRuleset, name: str, how: _Input) -> str:
        """Column of the class codes of one input (added once); notes values it refuses."""
        rs = bound.ruleset.id
        found = self.codes.get((rs, name))
        if found is not None:
            return found
        cuts = cut_points(bound)[name]
        column = f"_c:{rs}:{name}"
        mapping: dict[object, int] = {}
        seen: dict[object, int] = {}
        refused = []
        for raw in self.frame.get_column(how.column).unique().to_list():
            x = self.value(how, raw)
            try:
                bound.normalise({name: x})
            except OpioidCDSError as exc:
                if getattr(exc, "field", None) == name:
                    refused.append(raw)
            if raw is not None:
                mapping[raw] = seen.setdefault(class_of(cuts, x), len(seen))
        if refused:
            self.invalid.append(pl.col(how.column).is_in(refused, nulls_equal=True))
        if cuts is None and how.ome is None:
            self.frame = self.frame.with_columns(pl.col(how.column).alias(column))
        else:
            self.frame = self.frame.with_columns(
                pl.col(how.column)
                .replace_strict(mapping, default=None, return_dtype=pl.Int64)
                .alias(column)
            )
        self.codes[(rs, name)] = column
        return column

    def each(self, keys: Sequence[str], fn: Callable[[int, tuple[Any, ...]], int]) -> pl.Series:
        """``fn(representative row, key)`` once per distinct ``keys``; each row's result id."""
        keyed = self.frame.select(keys).with_row_index("_i")
        reps = keyed.unique(subset=list(keys), keep="first", maintain_order=True)
        ids = [fn(int(row[0]), row[1:]) for row in reps.iter_rows()]
        reps = reps.drop("_i").with_columns(pl.Series("_r", ids, dtype=pl.Int64))
        joined = keyed.join(
            reps, on=list(keys), how="left", nulls_equal=True, maintain_order="left"
        )
        return joined.get_column("_r")


_TRUTHS: Final[tuple[object, ...]] = (False, True, None)


def _truth_code(t: object) -> int:
    for i, x in enumerate(_TRUTHS):
        if t is x:
            return i
    return len(_TRUTHS)  # DISABLED


def decide(d: Derived, decider: Decider) -> Decided:
    """Decide every patient of ``d`` once per class of inputs (see the module docstring)."""
    omes = d.omes
    current = [o is not None and o.current_opioid for o in omes]
    frame = d.frame.with_columns(
        pl.col("ome_id")
        .replace_strict(dict(enumerate(current)), return_dtype=pl.Boolean)
        .alias("current_opioid"),
        pl.col("ost").fill_null(value=False).alias("ost_scope"),
        pl.when(pl.col("all_classed")).then(pl.col("early")).alias("early_classed"),
    )
    # assess.sedative_medicines: the opioid once, each sedative medicine (a stated class with
    # none issued counts one); exact only when every sedative class is known
    known = pl.sum_horizontal(
        pl.col("current_opioid").cast(pl.Int64),
        *(
            pl.max_horizontal(
                pl.col(f"n_{c}").fill_null(0).cast(pl.Int64),
                pl.col(c).fill_null(value=False).cast(pl.Int64),
            )
            for c in _SEDATIVE_COLUMNS.values()
        ),
    )
    every_class = pl.all_horizontal(*(pl.col(c).is_not_null() for c in _SEDATIVE_COLUMNS.values()))
    frame = frame.with_columns(
        known.alias("sedatives_known"),
        pl.when(every_class).then(known).alias("sedatives_exact"),
    )
    cls = _Classes(frame, omes)
    for bound, spec in ((decider.scope_rs, SCOPE_INPUTS), (decider.factor_rs, FACTOR_INPUTS)):
        for name, how in spec.items():
            cls.code(bound, name, how)
    fallback: set[str] = set()
    if cls.invalid:  # a value a ruleset refuses: assess fails for that patient
        invalid = pl.any_horizontal(cls.invalid)
        fallback.update(cls.frame.filter(invalid).get_column("patient_id").to_list())
        cls.frame = cls.frame.filter(~invalid)
    scopes: list[tuple[bool | None, str | None, str]] = []
    statuses: list[tuple[tuple[str, FactorStatus], ...]] = []
    strats: list[tuple[str | None, str | None, str, str, tuple[str, ...]]] = []
    bands: list[tuple[str, str]] = []
    out = cls.frame
    if cls.frame.height:
        _scope(cls, decider, scopes)
        _statuses(cls, decider, statuses)
        _strats(cls, decider, scopes, statuses, strats)
        _bands(cls, decider, statuses, strats, bands)
        failed = pl.any_horizontal(pl.col("scope", "status", "strat", "band") < 0)
        fallback.update(cls.frame.filter(failed).get_column("patient_id").to_list())
        out = cls.frame.filter(~failed).select(DECIDED_COLUMNS)
    return Decided(out, scopes, statuses, strats, bands, frozenset(fallback))


def _append(results: list[Any], compute: Callable[[], Any]) -> int:
    """Index of ``compute()`` appended to ``results``; -1 when the rules refuse (fallback)."""
    try:
        results.append(compute())
    except OpioidCDSError:
        return -1
    return len(results) - 1


def _scope(cls: _Classes, decider: Decider, scopes: list[Any]) -> None:
    cols = [cls.code(decider.scope_rs, n, h) for n, h in SCOPE_INPUTS.items()]

    def scope(i: int, _key: tuple[Any, ...]) -> int:
        return _append(scopes, lambda: decider.scope_of(cls.inputs(i, SCOPE_INPUTS)))

    cls.frame = cls.frame.with_columns(cls.each(cols, scope).alias("scope"))


def _statuses(cls: _Classes, decider: Decider, statuses: list[Any]) -> None:
    """Each rule's truth once per class of the inputs it reads; then the hit policy.

    The hit policy is applied once per distinct vector of truths.
    """
    rs = decider.factor_rs
    truth_cols = []
    for k, rule in enumerate(rs.ruleset.rules):
        cols = [cls.code(rs, n, FACTOR_INPUTS[n]) for n in condition_fields(rule.condition)]

        def truth(i: int, _key: tuple[Any, ...], k: int = k) -> int:
            return _truth_code(rs.truths(rs.normalise(cls.inputs(i, FACTOR_INPUTS)))[k])

        column = f"_t{k}"
        if cols:
            cls.frame = cls.frame.with_columns(cls.each(cols, truth).alias(column))
        else:  # a condition that reads no input
            cls.frame = cls.frame.with_columns(pl.lit(truth(0, ()), dtype=pl.Int64).alias(column))
        truth_cols.append(column)
    first = rs.normalise(cls.inputs(0, FACTOR_INPUTS))  # the hit policy reads only the truths
    disabled = rs.truths(tuple(None for _ in first))

    def status(_i: int, key: tuple[Any, ...]) -> int:
        truths = tuple(_TRUTHS[c] if c < len(_TRUTHS) else disabled[k] for k, c in enumerate(key))
        return _append(statuses, lambda: decider.factors_of(rs.decide(first, truths)))

    cls.frame = cls.frame.with_columns(cls.each(truth_cols, status).alias("status"))


def _strats(
    cls: _Classes, decider: Decider, scopes: list[Any], statuses: list[Any], strats: list[Any]
) -> None:
    in_scope = [bool(s[0]) for s in scopes]
    cls.frame = cls.frame.with_columns(
        pl.col("scope")
        .replace_strict(dict(enumerate(in_scope)), default=None, return_dtype=pl.Boolean)
        .alias("_in_scope")
    )
    found: dict[tuple[Any, ...], int] = {}

    def strat(_i: int, key: tuple[Any, ...]) -> int:
        scope_ok, status = key
        if scope_ok is None or status < 0:
            return -1
        decided = decider.stratify_of(statuses[status], in_scope=scope_ok)
        index = found.get(decided)
        if index is None:
            index = found.setdefault(decided, _append(strats, lambda: decided))
        return index

    cls.frame = cls.frame.with_columns(cls.each(["_in_scope", "status"], strat).alias("strat"))


def _bands(
    cls: _Classes, decider: Decider, statuses: list[Any], strats: list[Any], bands: list[Any]
) -> None:
    early = [dict(s).get("early-reordering") is FactorStatus.PRESENT for s in statuses]
    tiers = [s[2] for s in strats]
    cls.frame = cls.frame.with_columns(
        pl.col("status")
        .replace_strict(dict(enumerate(early)), default=None, return_dtype=pl.Boolean)
        .alias("_early"),
        pl.col("strat")
        .replace_strict(dict(enumerate(tiers)), default=None, return_dtype=pl.String)
        .alias("_tier"),
    )

    def band(_i: int, key: tuple[Any, ...]) -> int:
        tier, is_early, readiness = key
        if tier is None or is_early is None:
            return -1
        return _append(bands, lambda: decider.band_of(tier, early=is_early, readiness=readiness))

    keys = ["_tier", "_early", "readiness_to_change"]
    cls.frame = cls.frame.with_columns(cls.each(keys, band).alias("band"))
