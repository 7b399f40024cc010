"""Per-script prescribing alerts, decided by the ``prescribing-alerts`` ruleset.

:func:`check_prescription` answers "what should the prescriber see before issuing this
prescription": the alerts of ruleset ``prescribing-alerts``, with the patient's OME before and
after, each alert's citations, actions and trace. All clinical numbers and wording are in the
ruleset; this module derives its inputs and presents its decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from enum import StrEnum
from functools import lru_cache, partial
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from opioidcds._base import DeferredResultModel, set_dict, set_extra, set_fields_set, set_private
from opioidcds._decide.assessment import (
    _HUNDRED,
    _is_opioid_item,
    _names_product,
    opioid_use_days,
)
from opioidcds._decide.knowledge import (
    Backend,
    Knowledge,
    _parameter_note,
    _reference_truths,
    _text,
    _texts,
    _truths,
    default_knowledge,
    for_knowledge,
)
from opioidcds._decide.rules import BoundRuleset, Citation, Decisions, Profile, Stage
from opioidcds._decide.rules.conditions import Scalar, Truth
from opioidcds._display import citation_title, format_decimal, most_serious_first, words
from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds._inputs.patient import _NONE_REPLACED, Patient, medicine_classes
from opioidcds._inputs.prescription import Prescription
from opioidcds._knowledge.products import MedicineClass, load_catalogue
from opioidcds._knowledge.provenance import Provenance
from opioidcds._knowledge.units import StrengthKind
from opioidcds._knowledge.vocabulary import FormKind
from opioidcds._measure.ome import ome_figures
from opioidcds._measure.results import ItemAmounts, ItemStatus
from opioidcds._resolve.prescription import product_fields, product_part, resolve_prescription

__all__ = ["ALERT_RULESET", "Alert", "AlertSeverity", "check_prescription"]

ALERT_RULESET: Final = "prescribing-alerts"
"""Id of the ruleset the prescribing check runs."""


class AlertSeverity(StrEnum):
    """How urgently a prescriber should read an alert."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Alert(DeferredResultModel):
    """One alert for the prescriber: what, how urgent, why, what to do, and its basis.

    ``summary`` is under 140 characters; ``detail`` adds the patient's figures; ``trace``
    shows how the rule's condition was evaluated; ``provenance`` names the knowledge used.
    ``detail`` and ``trace`` are written when first read (or serialised).
    The alert ``alerts-not-evaluated`` (info) is not a rule: it says which alert rules could
    not be checked because inputs were unknown; its detail names them by title and the inputs
    by label, and ``not_checked`` (rule ids, most serious first) and ``unknown_inputs`` (input
    names) hold the same for software and auditors (empty for every other alert).
    """

    id: str
    severity: AlertSeverity
    title: str
    summary: str
    detail: str
    citations: tuple[Citation, ...]
    actions: tuple[str, ...]
    stage: Stage | None
    trace: tuple[str, ...]
    ruleset_id: str
    ruleset_version: str
    profile_id: str | None
    profile_version: str | None
    provenance: Provenance
    not_checked: tuple[str, ...] = ()
    unknown_inputs: tuple[str, ...] = ()

    def explain(self) -> str:
        """The alert in plain text: severity and summary, the figures, what to do, the basis.

        The basis in words, as the cards write it: the rule's title, its ruleset and version,
        the local profile that decided it (its thresholds and switches; "no local profile"),
        and its sources' titles (the ids are in the JSON form).
        """
        lines = [f"{self.severity.value.upper()} {self.summary}", f"  {self.detail}"]
        lines.extend(f"  - {action}" for action in self.actions)
        sources = "; ".join(dict.fromkeys(citation_title(c.text) for c in self.citations))
        profile = (
            f"local profile {words(self.profile_id)} {self.profile_version}"
            if self.profile_id
            else "no local profile"
        )
        lines.append(
            f'  Basis: "{self.title}", {words(self.ruleset_id)} rules {self.ruleset_version}, '
            f"{profile}; sources: {sources}"
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        """Short and readable: severity, rule and summary."""
        return f"<Alert {self.severity.value} {self.id}: {self.summary}>"


def _new_class(classes: frozenset[MedicineClass], items: Sequence[ItemAmounts]) -> str:
    if _OPIOID in classes:
        return "opioid"
    if _BENZODIAZEPINE in classes:
        return "benzodiazepine"
    if _Z_DRUG in classes:
        return "z_drug"
    if _GABAPENTINOID in classes:
        return "gabapentinoid"
    if not classes and any(_is_opioid_item(i) for i in items):
        return "opioid"  # not recognised by class: treated as a possible opioid (fail closed)
    return "other"


def _substitution_therapy(
    on_ost: bool | None, new_classes: frozenset[MedicineClass]
) -> bool | None:
    """Opioid substitution therapy after this prescription is issued (``on_ost``: before).

    A new prescription that is an opioid-dependence treatment presentation
    (``catalogue/medicine_classes.toml``, BNF 4.10.3: buprenorphine with naloxone, buprenorphine
    sublingual 2 mg and above, methadone oral solution) puts the patient on OST as a current one
    would, even where the record states "not on OST" (the statement predates this prescription).
    The CDS Hooks service treats a draft order the same way (``cdshooks.patients``).
    """
    if _OST in new_classes:
        return True
    return on_ost


def _dose_threshold_scope(
    patient: Patient, new_classes: frozenset[MedicineClass], on_ost: bool | None
) -> tuple[bool, str]:
    """Whether the dose thresholds apply, and if not, the recorded reason (the first of three).

    ``(dose_thresholds_apply, dose_threshold_exclusion)``; ``on_ost``: the patient's
    :attr:`~Patient.on_opioid_substitution_therapy`. The scope of
    ``rules/prescribing-alerts.toml`` (citation ``clinical-1``) leaves palliative care,
    cancer pain and opioid substitution therapy out of the dose thresholds; the
    ``dose-alerts-not-applied-*`` rules name the reason when a dose alert would otherwise fire.
    An unknown (``None``) flag is not a reason: the thresholds then apply.
    """
    ost = _substitution_therapy(on_ost, new_classes)
    if not (patient.palliative_care or patient.cancer_pain or ost):
        return _THRESHOLDS_APPLY  # the common case: no reason recorded
    reasons = (
        ("palliative_care", patient.palliative_care),
        ("cancer_pain", patient.cancer_pain),
        ("substitution_therapy", ost),
    )
    reason = next((name for name, recorded in reasons if recorded), "none")
    return reason == "none", reason


_THRESHOLDS_APPLY: Final = (True, "none")
"""The dose-threshold scope inputs when no reason to leave the thresholds out is recorded."""


_ARITHMETIC: Final = Context(
    prec=28,
    rounding=ROUND_HALF_EVEN,
    Emin=-999999,
    Emax=999999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
"""Python's default decimal context, fixed: the check's totals, increases and percentages are
computed by its methods, never by the caller's current context (a host that lowered the
precision to 3 digits turned 60 + 30.03 into 90.0 and missed the dose-escalation alert;
review, issue 20 fifth round). Its flags are never read."""


def _total(items: Sequence[ItemAmounts]) -> tuple[Decimal, bool]:
    """The sum of ``items``' OME in item order, and whether every item was converted.

    Summed by :data:`_ARITHMETIC`, whatever the caller's decimal context.
    """
    add = _ARITHMETIC.add
    total = Decimal(0)
    complete = True
    for item in items:
        if item.ome_mg_per_day is not None:
            total = add(total, item.ome_mg_per_day)
        if item.status is ItemStatus.NOT_CONVERTIBLE:
            complete = False
    return total, complete


_RATE = "microgram/hour"  # the daily amount of a patch is its release rate


def _patch_rate(items: Sequence[ItemAmounts], ingredient: str) -> Decimal | None:
    """Total release rate of the new item's ``ingredient`` patches, in microgram/hour.

    0 when it has none (a known absence), ``None`` when an item could not be read.
    """
    if any(i.status is ItemStatus.NOT_CONVERTIBLE and i.ingredient is None for i in items):
        return None
    return sum(
        (
            i.daily_amount
            for i in items
            if i.ingredient == ingredient and i.daily_amount_unit == _RATE and i.daily_amount
        ),
        Decimal(0),
    )


def _new_item_patches(
    new_items: Sequence[ItemAmounts], rx: Prescription, kb: Knowledge
) -> tuple[bool, Decimal | None, bool]:
    """The patch inputs of the new prescription ``rx`` (most are not patches: one look).

    ``(new_item_fentanyl_patch, new_item_buprenorphine_patch_microgram_per_hour,
    new_item_transdermal)``:
    ``new_item_fentanyl_patch``: a fentanyl item dosed in microgram/hour;
    ``new_item_buprenorphine_patch_microgram_per_hour``: :func:`_patch_rate` of buprenorphine;
    ``new_item_transdermal``: an item dosed in microgram/hour. An item without a daily amount
    (its dosage text gives no schedule: "apply one patch") says nothing of the product, so
    the product does (:func:`_patch_ingredients`): a fentanyl patch is a fentanyl patch
    whether or not its dose was read (the critical alert for a patient who is not opioid
    tolerant), and a buprenorphine patch's rate is then unknown, not 0. Nor is the rate known
    when the dose is given as a minimum (``dose_is_minimum``: "at least one patch" may be two;
    the rate read is a lower bound, as ``calculate_ome`` says of its total).
    """
    for i in new_items:  # a loop, not any() over a generator (issue 20, check round 9)
        if i.daily_amount_unit == _RATE or i.ingredient is None or i.daily_amount is None:
            break
    else:
        return _NO_PATCH  # no patch, every item read: the rates are a known 0
    fentanyl = any(i.ingredient == "fentanyl" and i.daily_amount_unit == _RATE for i in new_items)
    rate = _patch_rate(new_items, "buprenorphine")
    if rate and rx.dose_is_minimum:  # a lower bound, not the rate worn (fail closed)
        rate = None
    transdermal = any(i.daily_amount_unit == _RATE for i in new_items)
    if any(i.daily_amount is None for i in new_items):  # not read: the product says
        names = _patch_ingredients(rx, kb)
        if names:
            transdermal = True
            fentanyl = fentanyl or "fentanyl" in names
            rate = None if "buprenorphine" in names else rate
    return fentanyl, rate, transdermal


def _patch_ingredients(rx: Prescription, kb: Knowledge) -> frozenset[str]:
    """The ingredient names of ``rx``'s product when it is a patch, else empty.

    A patch by its form (the forms vocabulary), its strength (a release rate) or the dm+d
    catalogue. Empty also when the product cannot be placed (the calculator lists why).
    """
    try:
        part = product_part(product_fields(rx.__dict__), kb.vocabulary, kb.catalogue)
    except OpioidCDSError:
        return frozenset()
    patch = (
        (part.form is not None and part.form.kind is FormKind.PATCH)
        or (part.strength is not None and part.strength.kind is StrengthKind.RATE)
        or (part.product is not None and part.product.patch)
    )
    if not patch:
        return frozenset()
    return frozenset(part.names) | {ing.name for ing in part.ingredients}


_NO_PATCH: Final[tuple[bool, Decimal | None, bool]] = (False, Decimal(0), False)
"""The patch inputs of a new prescription none of whose items is a patch or unread."""


def _modified_release(rx: Prescription, kb: Knowledge) -> bool | None:
    """Modified-release from the dm+d catalogue, else the forms vocabulary (never guessed).

    A named product is looked up by its code and name alone (memoised on them, whatever the
    dose); other prescriptions are resolved (memoised on the prescription).
    """
    if rx.dmd_code is not None or rx.product_name is not None:
        return _product_modified_release(rx.dmd_code, rx.product_name, kb)
    return _form_modified_release(rx, kb)


@lru_cache(maxsize=4096)
def _product_modified_release(
    dmd_code: str | None, product_name: str | None, kb: Knowledge
) -> bool | None:
    """Modified-release of the dm+d product of ``dmd_code`` (else ``product_name``)."""
    catalogue = kb.catalogue if kb.catalogue is not None else load_catalogue()
    product = catalogue.by_code(dmd_code) if dmd_code is not None else None
    if product is None and product_name is not None:
        product = catalogue.by_name(product_name)
    return product.modified_release if product is not None else None


@lru_cache(maxsize=4096)
def _form_modified_release(rx: Prescription, kb: Knowledge) -> bool | None:
    """Modified-release of the form ``rx`` resolves to (``None``: it does not resolve).

    Memoised: a pure function of a frozen prescription (without identifiers) and a bundle.
    """
    try:
        resolved = resolve_prescription(rx, kb.vocabulary, kb.catalogue)
    except OpioidCDSError:
        return None
    return resolved.form.modified_release if resolved.form is not None else None


def _increase(
    before: Decimal, before_complete: bool, after: Decimal, after_complete: bool
) -> tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]:
    """The dose-escalation inputs: the increase in mg OME/day and in % of the current total.

    ``(ome_increase_mg_per_day, ome_increase_at_least_mg_per_day, ome_increase_percent,
    ome_increase_at_least_percent)``. Exact when both totals are complete; "at least" from
    the new total's lower bound when only the current total is complete; unknown when the
    current total is incomplete. The percentage is unknown when the current total is 0 (the
    starting checks cover that).
    """
    if not before_complete:
        return _NO_INCREASE
    ctx = _ARITHMETIC  # not the caller's context
    rise = ctx.subtract(after, before)
    percent = ctx.divide(ctx.multiply(rise, _HUNDRED), before) if before > 0 else None
    if after_complete:
        return rise, rise, percent, percent
    return None, rise, None, percent


_NO_INCREASE: Final = (None, None, None, None)
"""The dose-escalation inputs when the current total is incomplete: unknown."""


def _current_opioids(patient: Patient, new: Prescription) -> tuple[list[Prescription], set[int]]:
    """The current prescriptions counted for OME, and the positions of those ``new`` replaces.

    As :attr:`Patient.opioid_candidates`, except that a prescription replaced by ``new`` itself
    (listed with the patient's prescriptions or not) stays in the list: it is the dose
    "before" the change.
    """
    current: list[Prescription] = []
    replaced: set[int] = set()
    for i, (rx, classes) in enumerate(
        zip(patient.prescriptions, patient.prescription_classes, strict=True)
    ):
        if classes and MedicineClass.OPIOID not in classes:
            continue
        replaced_by_new = rx is not new and new.replaces_item(rx)
        if i in patient.replaced and not replaced_by_new:
            continue
        if replaced_by_new:
            replaced.add(len(current))
        current.append(rx)
    return current, replaced


def _position(counted: Sequence[Prescription], rx: Prescription) -> int:
    """Where ``rx`` is among ``counted`` (the first equal one), else ``len(counted)``.

    Equal (``==``) is checked only for the same object or the same product and text.
    """
    d = rx.__dict__
    code, text, drug = d["dmd_code"], d["dosage_text"], d["drug"]
    for i, other in enumerate(counted):
        if other is rx:
            return i
        o = other.__dict__
        if o["dmd_code"] == code and o["dosage_text"] == text and o["drug"] == drug and other == rx:
            return i
    return len(counted)


def _figure(total: Decimal, complete: bool) -> str:
    shown = format_decimal(total)
    return f"{shown} mg OME/day" if complete else f"at least {shown} mg OME/day (incomplete)"


def check_prescription(
    patient: Patient,
    new_prescription: Prescription,
    *,
    reauthorisation: bool = False,
    knowledge: Knowledge | None = None,
    profile: Profile | None = None,
    backend: Backend | str = Backend.REFERENCE,
) -> list[Alert]:
    """Alerts to show before issuing ``new_prescription`` (or re-authorising it).

    The totals "before" and "after" are the OME of the patient's current opioid prescriptions
    without and with ``new_prescription`` (if it is already listed, it is not counted twice;
    for a re-authorisation before and after are the same). When ``new_prescription.replaces``
    names a current prescription (by id or product), that one counts before and not after, so
    a dose change is compared with the dose it replaces and never counted twice; if it names
    none, nothing is taken off and the alerts' figures say so. Alerts come from ruleset
    ``prescribing-alerts``, most serious first (critical, warning, info) and in file order
    within a severity, each with its figures, citations, actions and trace.
    If some alert rule could not be evaluated because inputs were unknown, a last ``info``
    alert ``alerts-not-evaluated`` names them (fail closed: never a silent "no alert").

    Raises:
        InvalidInputError: an argument is not a Patient/Prescription, or a prescription is
            invalid.
        UnknownProductError: a dm+d code or product name is not in the catalogue.
        BackendError: the durable backend was asked for but is not available.
    """
    if not isinstance(patient, Patient):
        raise InvalidInputError("patient", "must be a Patient")
    if not isinstance(new_prescription, Prescription):
        raise InvalidInputError("new_prescription", "must be a Prescription")
    if not isinstance(reauthorisation, bool):
        raise InvalidInputError("reauthorisation", "must be true or false")
    kb = knowledge if knowledge is not None else default_knowledge()
    truths = _truths(backend, kb)
    new_classes = medicine_classes(new_prescription)
    # identifiers (id, replaces) never reach the calculator or its caches
    # the common case: nothing replaced (the patient's own empty set: none made per check)
    replaced: AbstractSet[int] = _NONE_REPLACED
    derived = patient._got  # what the patient derived from its prescriptions, read once
    if new_prescription.replaces is None:
        counted = list(derived.candidates)
    else:
        current, replaced = _current_opioids(patient, new_prescription)
        counted = [rx.without_identity() for rx in current]
    plain = new_prescription.without_identity()
    new_counted = not (new_classes and _OPIOID not in new_classes)
    new_pos: int | None = None
    if new_counted:
        new_pos = _position(counted, plain)
        if new_pos == len(counted):
            counted.append(plain)
    if replaced:
        replaced = replaced - {new_pos}
    # the items' figures alone: the result, its items and their text are not built (issue 20)
    items = (
        ome_figures(counted, table=kb.table, vocabulary=kb.vocabulary, catalogue=kb.catalogue)
        if counted
        else ()
    )
    whole_before = reauthorisation and not replaced
    (
        new_items,
        after_total,
        after_complete,
        before_total,
        before_complete,
        opioid_before,
        opioid_after,
    ) = (
        _split_last(items, new_pos)  # the commonest case, as _split itself hands it on
        if not replaced and not whole_before and (new_pos is None or new_pos == len(items) - 1)
        else _split(items, new_pos, replaced, whole_before=whole_before)
    )
    # a dose given as a minimum makes every total that counts it a lower bound, as
    # calculate_ome says (its lower-bound reasons); the items' figures do not carry it
    # (only a prescription of the patient's, or the new one, can be: the patient says which)
    minimum = (
        [i for i, rx in enumerate(counted) if rx.dose_is_minimum]
        if derived.minimum or plain.dose_is_minimum
        else None
    )
    if minimum:
        after_complete = after_complete and all(i in replaced for i in minimum)
        before_complete = before_complete and all(
            i == new_pos and not whole_before for i in minimum
        )
    new_class = _new_class(new_classes, new_items)
    bound = kb.bound(ALERT_RULESET, profile)
    as_of = patient.assessment_date
    review = patient.last_opioid_review
    # the inputs straight into one generated call of the checks and the rules (issue 20,
    # round 8), in the order of _ALERT_INPUTS
    fentanyl_patch, buprenorphine_rate, transdermal = _new_item_patches(new_items, plain, kb)
    values, conditions = bound.evaluation(_ALERT_INPUTS)(
        new_class,
        reauthorisation,
        after_total,
        after_total if after_complete else None,
        before_total,
        before_total if before_complete else None,
        *_increase(before_total, before_complete, after_total, after_complete),
        after_complete,
        opioid_before,
        opioid_after,
        True if new_class == "benzodiazepine" else derived.benzo,
        True if new_class == "z_drug" else derived.zdrug,
        True if new_class == "gabapentinoid" else derived.gaba,
        *_dose_threshold_scope(patient, new_classes, derived.ost),
        fentanyl_patch,
        buprenorphine_rate,
        transdermal,
        _modified_release(plain, kb) if new_class == "opioid" else None,
        str(new_prescription.indication) if new_prescription.indication else None,
        new_prescription.days_supply,
        opioid_use_days(patient),
        review is not None,
        (as_of - review).days if as_of is not None and review is not None else None,
    )
    if truths is not _reference_truths:  # another engine decides the rules
        conditions = truths(bound, values)
    figures = _figures_of(
        (
            after_total,
            after_complete,
            before_total,
            before_complete,
            new_prescription.replaces is not None
            and not any(new_prescription.replaces_item(rx) for rx in patient.prescriptions),
        )
    )
    named = (  # a record names a dm+d product: the new prescription first (most do)
        new_prescription.dmd_code is not None
        or new_prescription.product_name is not None
        or _names_product(patient)
    )
    provenance = for_knowledge(kb, profile, named)
    return _present_alerts(bound, values, conditions, figures, provenance)


_ALERT_INPUTS: Final = (
    "new_item_class",
    "reauthorisation",
    "total_ome_lower_bound_mg_per_day",
    "total_ome_mg_per_day",
    "previous_ome_lower_bound_mg_per_day",
    "previous_ome_mg_per_day",
    "ome_increase_mg_per_day",
    "ome_increase_at_least_mg_per_day",
    "ome_increase_percent",
    "ome_increase_at_least_percent",
    "ome_complete",
    "opioid_before",
    "opioid_after",
    "benzodiazepine_coprescribed",
    "z_drug_coprescribed",
    "gabapentinoid_coprescribed",
    "dose_thresholds_apply",
    "dose_threshold_exclusion",
    "new_item_fentanyl_patch",
    "new_item_buprenorphine_patch_microgram_per_hour",
    "new_item_transdermal",
    "new_item_modified_release",
    "new_item_indication",
    "new_item_days_supply",
    "opioid_use_days",
    "opioid_review_recorded",
    "days_since_opioid_review",
)
"""The inputs of ``prescribing-alerts`` the check derives, in the order it passes them to
:meth:`BoundRuleset.evaluation` (checked there as the ruleset declares them; an input the
ruleset does not declare is refused, one it declares and the check does not derive is
unknown)."""


class _Split(NamedTuple):
    """The items of the check split by prescription: the new one's, and the totals around it."""

    new_items: Sequence[ItemAmounts]
    after_total: Decimal
    after_complete: bool
    before_total: Decimal
    before_complete: bool
    opioid_before: bool
    opioid_after: bool


def _split(
    figures: Sequence[tuple[ItemAmounts, ...]],
    new_pos: int | None,
    replaced: AbstractSet[int],
    *,
    whole_before: bool,
) -> _Split:
    """Split the items' ``figures`` (by prescription) in one pass: the new one's, after, before.

    "After" counts every item but those of the ``replaced`` prescriptions; "before" every item
    but the new prescription's (``whole_before``: every item, for a re-authorisation that
    replaces nothing). Each total is the sum of its items' OME in item order
    (:data:`_ARITHMETIC`, whatever the caller's decimal context), complete
    unless an item is not convertible (:func:`_total`). ``opioid_before``/``opioid_after``:
    an item of an opioid (or of a medicine not recognised) among the items other than the new
    one's / among the items after.
    """
    last = len(figures) - 1
    if not replaced and not whole_before and (new_pos is None or new_pos == last):
        return _split_last(figures, new_pos)
    new_items: Sequence[ItemAmounts] = ()
    after = before = _ZERO
    after_complete = before_complete = True
    opioid_before = opioid_after = False
    add = _ADD
    for index, items in enumerate(figures):
        is_new = index == new_pos
        if is_new:
            new_items = items
        is_after = index not in replaced
        for item in items:
            status = item.status
            ome = item.ome_mg_per_day
            complete = status is not _NOT_CONVERTIBLE
            opioid = status is not _NOT_OPIOID
            if not is_new:
                if ome is not None:
                    before = add(before, ome)
                before_complete = before_complete and complete
                opioid_before = opioid_before or opioid
            if is_after:
                if ome is not None:
                    after = add(after, ome)
                after_complete = after_complete and complete
                opioid_after = opioid_after or opioid
    if whole_before:
        before, before_complete = _total([item for items in figures for item in items])
    return _split_of(
        (new_items, after, after_complete, before, before_complete, opioid_before, opioid_after)
    )


def _split_last(figures: Sequence[tuple[ItemAmounts, ...]], new_pos: int | None) -> _Split:
    """:func:`_split` when nothing is replaced and the new prescription is last or not counted.

    The commonest case: "after" is "before" summed on with the new items (``new_pos``, the
    last position, or ``None``: not counted), the same additions in the same order as summing
    every item from the start, as :func:`_split`'s loop sums them (in place: no call and no
    slice per check; issue 20, check round 9).
    """
    add = _ADD
    before, before_complete, opioid_before = _ZERO, True, False
    for index, items in enumerate(figures):
        if index == new_pos:  # the last: "before" is summed
            break
        for item in items:
            status = item.status
            ome = item.ome_mg_per_day
            if ome is not None:
                before = add(before, ome)
            before_complete = before_complete and status is not _NOT_CONVERTIBLE
            opioid_before = opioid_before or status is not _NOT_OPIOID
    if new_pos is None:
        return _split_of(
            ((), before, before_complete, before, before_complete, opioid_before, opioid_before)
        )
    new_items = figures[new_pos]
    after, after_complete, opioid_after = before, before_complete, opioid_before
    for item in new_items:
        status = item.status
        ome = item.ome_mg_per_day
        if ome is not None:
            after = add(after, ome)
        after_complete = after_complete and status is not _NOT_CONVERTIBLE
        opioid_after = opioid_after or status is not _NOT_OPIOID
    return _split_of(
        (new_items, after, after_complete, before, before_complete, opioid_before, opioid_after)
    )


_split_of: Final = partial(tuple.__new__, _Split)
"""``_Split`` of a tuple of its fields, in order (without the named tuple's own ``__new__``)."""

_ZERO: Final = Decimal(0)


_NOT_CONVERTIBLE: Final = ItemStatus.NOT_CONVERTIBLE
_NOT_OPIOID: Final = ItemStatus.NOT_OPIOID
_OPIOID: Final = MedicineClass.OPIOID
_BENZODIAZEPINE: Final = MedicineClass.BENZODIAZEPINE
_Z_DRUG: Final = MedicineClass.Z_DRUG
_GABAPENTINOID: Final = MedicineClass.GABAPENTINOID
_OST: Final = MedicineClass.OPIOID_DEPENDENCE_TREATMENT
_ADD: Final = _ARITHMETIC.add
"""Looked up once: an enum member or a bound method costs a look-up per call (issue 20)."""


class _Figures(NamedTuple):
    """The totals an alert's detail states: after and before, complete or lower bounds.

    Each total is the exact decimal summed (a decimal keeps how it is written: 60.0 stays
    60.0), written out only when the text is read (check round 9; it was kept as a string).
    """

    after: Decimal
    after_complete: bool
    before: Decimal
    before_complete: bool
    unmatched: bool  # the prescription it replaces is not among the current ones

    def text(self) -> str:
        """The totals for people: "Total 130 mg OME/day with this prescription; 90 ... before."."""
        unmatched = (
            " The prescription it replaces is not among the current prescriptions: nothing was "
            "taken off the total."
            if self.unmatched
            else ""
        )
        return (
            f"Total {_figure(self.after, self.after_complete)} with this "
            f"prescription; {_figure(self.before, self.before_complete)} before."
            f"{unmatched}"
        )


_figures_of: Final = partial(tuple.__new__, _Figures)
"""``_Figures`` of a tuple of its fields, in order (without the named tuple's own ``__new__``)."""


@lru_cache(maxsize=256)
def _rule_alerts(bound: BoundRuleset) -> tuple[tuple[dict[str, Any], str, str], ...]:
    """Per rule: what its alert says whatever the patient, its detail text, its thresholds.

    The alert's fields up to ``summary`` and from ``citations`` on (but ``provenance``), from
    the ruleset's wording; memoised per bound ruleset (its profile applied).
    """
    rs = bound.ruleset
    out = []
    for i, rule in enumerate(rs.rules):
        outcome = dict(rule.outcome)
        note = _parameter_note(bound, rule.id)
        fields: dict[str, Any] = {
            "id": rule.id,
            "severity": AlertSeverity(_text(outcome["severity"])),
            "title": rule.display,
            "summary": _text(outcome.get("summary")),
            "citations": bound.citations_of(i),
            "actions": _texts(outcome.get("actions")),
            "stage": rule.stage,
            "ruleset_id": rs.id,
            "ruleset_version": rs.version,
            "profile_id": bound.profile_id,
            "profile_version": bound.profile_version,
        }
        out.append((fields, _text(outcome.get("detail")), f"Thresholds: {note}." if note else ""))
    return tuple(out)


_ALERT_FIELDS: Final = frozenset(Alert.model_fields)


def _fired_text(
    index: int, text: str, thresholds: str, evaluation: _Evaluation, figures: _Figures
) -> Mapping[str, Any]:
    """A fired rule's alert ``{"detail": ..., "trace": ...}``, written when first read.

    Bound to its rule's wording by its plan (:attr:`_Planned.render`) and to its evaluation
    with :func:`functools.partial` (built in C: the per-call path builds one per alert; issue
    20, round 7); the evaluation's :class:`Decisions` is made here, when the text is read
    (check round 9).
    """
    parts = (text, figures.text(), thresholds)
    return {
        "detail": " ".join(x for x in parts if x),
        "trace": _decisions(evaluation).trace_of(index),
    }


_Evaluation = tuple[BoundRuleset, tuple[Scalar | None, ...], tuple[Truth | str, ...]]
"""An evaluation as the check made it: the bound ruleset, the checked input values and the
rules' condition values (its :class:`Decisions` made when an alert's text is read)."""


def _decisions(evaluation: _Evaluation) -> Decisions:
    """The :class:`Decisions` of ``evaluation`` (the hit policy applied to its truths)."""
    bound, values, truths = evaluation
    return bound.decide(values, truths)


def _pending_text(
    pending: tuple[int, ...], shown: tuple[int, ...], evaluation: _Evaluation, figures: _Figures
) -> Mapping[str, Any]:
    """``alerts-not-evaluated``'s ``{"detail": ..., "trace": ..., "unknown_inputs": ...}``.

    The detail names the rules by title, most serious first (``shown``: the ``pending`` rules
    in that order), and the unknown inputs by label (the ruleset's ``label`` of each input,
    in the order of the rules that lack them), says what to record, and gives the figures:
    "Could not check: Opioid with a benzodiazepine. To check it, record whether a
    benzodiazepine is co-prescribed. Total ...". The input names, sorted, are
    ``unknown_inputs`` (the rule ids are the plan's ``not_checked``): machine fields, for
    software and auditors, as the trace is. Written when first read (bound as
    :func:`_fired_text` is).
    """
    decisions = _decisions(evaluation)
    rs = decisions.ruleset
    rules = rs.rules
    titles = [rules[i].title or words(rules[i].id) for i in shown]
    names = dict.fromkeys(n for i in shown for n in decisions.unknowns_of(i))
    labels = list(dict.fromkeys(rs.input_label(n) for n in names))
    them = "it" if len(titles) == 1 else "them"
    record = "; ".join(labels) if labels else "the missing information"
    return {
        "detail": (
            f"Could not check: {'; '.join(titles)}. "
            f"To check {them}, record {record}. {figures.text()}"
        ),
        "trace": tuple(line for i in pending for line in decisions.trace_of(i)),
        "unknown_inputs": tuple(sorted(names)),
    }


_NOT_EVALUATED_CITATIONS: Final = (
    Citation(
        id="clinical-3",
        text=(
            "opioidcds clinical knowledge base: unknown is not absent (a "
            "missing input is reported, never read as absent)."
        ),
    ),
)


class _Planned(NamedTuple):
    """One alert of an alert plan: what it says whatever the patient, and what writes the rest.

    ``fields`` are the alert's fields but ``detail`` and ``trace`` (``provenance`` included),
    read-only (a plan is shared by every call that fires the same rules). ``render`` writes
    the alert's deferred text given the evaluation and the figures: :func:`_fired_text` bound
    to the fired rule's position, detail text and threshold note, or :func:`_pending_text`
    bound to the rules not checked, in file order and most serious first (as its text names
    them), for ``alerts-not-evaluated``.
    """

    fields: MappingProxyType[str, Any]
    render: Callable[[_Evaluation, _Figures], Mapping[str, Any]]


@lru_cache(maxsize=1024)
def _alert_plan(
    bound: BoundRuleset, truths: tuple[Truth | str, ...], provenance: Provenance
) -> tuple[_Planned, ...]:
    """The alerts of an evaluation whose rules' condition values are ``truths``, in order.

    The fired rules' alerts, then ``alerts-not-evaluated`` if some rule could not be
    evaluated, most serious first (file order within a severity). Which rules fired and which
    could not be evaluated follows from the condition values alone (the hit policy reads
    nothing else), so the plan is worked out once per ruleset, set of condition values and
    provenance (a few hundred at most: one per set of fired rules, not per patient; issue 20)
    and each call only fills in its own figures and trace.

    Raises:
        RulesetDefectError: the hit policy finds a defect at these condition values.
    """
    d = bound.decide((), truths)  # statuses only: the values are not read
    rules = _rule_alerts(bound)
    plans: list[_Planned] = []
    for i in d.fired_indices:
        fields, text, thresholds = rules[i]
        planned = MappingProxyType(
            {**fields, "provenance": provenance, "not_checked": (), "unknown_inputs": ()}
        )
        render = partial(_fired_text, i, text, thresholds)
        plans.append(_Planned(planned, render))
    pending = d.cannot_evaluate_indices
    if pending:
        fields, shown = _not_evaluated(bound, pending)
        ids = tuple(bound.ruleset.rules[i].id for i in shown)
        planned = MappingProxyType({**fields, "provenance": provenance, "not_checked": ids})
        render = partial(_pending_text, pending, shown)
        plans.append(_Planned(planned, render))
    if len(plans) < 2:  # one alert or none: nothing to order
        return tuple(plans)
    return tuple(most_serious_first(plans, _planned_severity))


def _present_alerts(
    bound: BoundRuleset,
    values: tuple[Scalar | None, ...],
    truths: tuple[Truth | str, ...],
    figures: _Figures,
    provenance: Provenance,
) -> list[Alert]:
    """Alerts for one evaluation, most serious first.

    The fired rules' alerts, then ``alerts-not-evaluated`` if needed, as planned by
    :func:`_alert_plan` from the condition values. Each alert's detail and trace are written
    when first read (issue 20), from this evaluation's own :class:`Decisions` (its input
    values as they are written: ``60.0`` stays ``60.0``; made then, not per call: check
    round 9) and figures: a caller that shows the summary never pays for them.
    """
    alerts = []
    evaluation = (bound, values, truths)
    new, fields_set = Alert.__new__, _ALERT_FIELDS
    for plan in _alert_plan(bound, truths, provenance):
        # as Alert.deferred builds it (fill, written out): each alert its own fields (a plan
        # is shared: read-only, copied at C speed) and its own set of the fields given
        alert = new(Alert)
        set_dict(alert, plan.fields.copy())
        set_fields_set(alert, set(fields_set))
        set_extra(alert, None)
        set_private(alert, {"_render": partial(plan.render, evaluation, figures)})
        alerts.append(alert)
    return alerts


@lru_cache(maxsize=256)
def _not_evaluated(
    bound: BoundRuleset, pending: tuple[int, ...]
) -> tuple[dict[str, Any], tuple[int, ...]]:
    """What ``alerts-not-evaluated`` says for these rules not checked (but ``provenance``).

    And those rules' positions, most serious first (file order within a severity), the order
    of the alert list, in which its text names them. Memoised per bound ruleset and set of
    rules (a few).
    """
    rs = bound.ruleset
    fields = {
        "id": "alerts-not-evaluated",
        "severity": AlertSeverity.INFO,
        "title": "Some alerts could not be checked",
        "summary": f"{len(pending)} alert(s) could not be checked: inputs unknown.",
        "citations": _NOT_EVALUATED_CITATIONS,
        "actions": ("Record the unknown information to complete the checks.",),
        "stage": None,
        "ruleset_id": rs.id,
        "ruleset_version": rs.version,
        "profile_id": bound.profile_id,
        "profile_version": bound.profile_version,
    }
    rules = _rule_alerts(bound)
    shown = most_serious_first(list(pending), lambda i: str(rules[i][0]["severity"]))
    return fields, tuple(shown)


def _planned_severity(plan: _Planned) -> str:
    """A planned alert's severity (an :class:`AlertSeverity`, whose text is its value)."""
    return str(plan.fields["severity"])
