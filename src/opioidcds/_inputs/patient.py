"""The patient: what the record says about a person, for risk stratification and alerts.

A :class:`Patient` holds the inputs of the risk factors (NHS England analysis of
opioid-reduction programmes, 2023; ``docs/risk-and-tiers.md``, "Risk factors"), the scope flags
(``rules/scope.toml``), the current prescriptions (opioids and other medicines) and, optionally, the
prescription history (issue dates) used for long-term use and early re-ordering.

Tri-state fields are ``bool | None``: ``None`` means *unknown* (not recorded), which is never
read as absent. Benzodiazepine, z-drug and gabapentinoid co-prescription are derived from the
prescriptions by the product catalogue's medicine classes
(:func:`opioidcds.classify_medicine`) or stated directly:

* stated ``True`` wins;
* a derived ``True`` wins over a stated unknown;
* stated ``False`` with a prescription recognised as that class is a contradiction:
  :class:`~opioidcds.InvalidInputError` (naming the field, never the value);
* with ``medication_list_complete`` true (the caller passed the whole medication list), a
  class no prescription belongs to is absent (``False``); otherwise it stays unknown. The CDS
  Hooks service sets it when it read the whole active medication list.

A prescription whose ``replaces`` names another prescription of the list (a dose change) makes
that other one "replaced": it is not counted for OME or co-prescription, so a dose change
entered as a new item is never counted twice.

Opioid substitution therapy (OST) is derived the same way (BNF 4.10.3 presentations, see
``docs/products.md``), except that a stated ``False`` wins: dm+d does not record why a product
is prescribed, and a clinician may state that methadone oral solution is prescribed for pain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum
from functools import cache, lru_cache, partial
from operator import itemgetter
from pathlib import Path
from typing import Any, Final, NamedTuple, Self

from pydantic import Field, PrivateAttr, StrictBool, model_validator

from opioidcds._base import InputModel, fill
from opioidcds._errors import InvalidInputError
from opioidcds._inputs.prescription import CODE_AND_TEXT, Prescription
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.products import MedicineClass, classify_medicine, load_catalogue

__all__ = [
    "IssueRecord",
    "Patient",
    "ReadinessToChange",
    "Sex",
    "medicine_classes",
    "replaced_positions",
]

_MAX_PRESCRIPTIONS = 100  # input cap against runaway lists; not clinical
_MAX_HISTORY = 2_000  # input cap; not clinical
_MAX_AGE = 125  # plausibility cap on age in years (oldest verified human lifespan < 123)
_EARLIEST = dt.date(1900, 1, 1)  # input sanity bound on record dates; not clinical


class Sex(StrEnum):
    """Sex as recorded; ``unknown`` when not recorded."""

    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


class ReadinessToChange(StrEnum):
    """What the person has said about changing their opioid use.

    The South Gloucestershire service evaluation (Kesten et al., Br J Gen Pract 2020;70:e120-e129):
    GPs proposed targeting people who have expressed concern about their opioid use.
    """

    NOT_CONSIDERING = "not-considering"
    CONSIDERING = "considering"
    READY = "ready"


@lru_cache(maxsize=4096)
def _classes_of_name(name: str) -> frozenset[MedicineClass]:
    catalogue_dir, conversion_tables = _class_folders()
    return classify_medicine(name, catalogue_dir=catalogue_dir, conversion_tables=conversion_tables)


@cache
def _class_folders() -> tuple[Path, Path]:
    """The bundled folders :func:`classify_medicine` reads, found once per process.

    What it finds itself when not given them (``catalogue`` and ``conversion_tables``);
    finding them looks at the file system, about two thirds of classifying a name the
    process has not seen (issue 20). A missing folder raises each time (not kept).
    """
    return knowledge_dir("catalogue"), knowledge_dir("conversion_tables")


def medicine_classes(rx: Prescription | IssueRecord) -> frozenset[MedicineClass]:
    """Classes of the medicine in ``rx`` (by dm+d code, product name or drug name).

    A dm+d code found in the opioid catalogue is an opioid (and its name is classified too, for
    opioid substitution presentations). An empty set means "not recognised": callers treat
    such items as possible opioids (fail closed), never as known non-opioids. Worked out once
    per medicine (memoised on the fields that name it; issue 20), and for a prescription of a
    dm+d code and a dosage text alone kept by its code (:data:`_CLASSES_BY_CODE`). Always by
    the bundled catalogue and classes, whatever knowledge a caller uses.
    """
    if isinstance(rx, Prescription):
        d = rx.__dict__
        if rx.__pydantic_fields_set__ is CODE_AND_TEXT:  # a code and a text alone
            found = _CLASSES_BY_CODE.get(d["dmd_code"])
            return found if found is not None else _code_classes(d["dmd_code"])
        return _classes(*_names_of(d))
    return _classes(rx.dmd_code, rx.product_name, rx.drug, None, None)


_CLASSES_BY_CODE: Final[dict[str, frozenset[MedicineClass]]] = {}
"""The classes of a prescription of a dm+d code and a dosage text alone, by its code (issue
20, check round 9: one look-up, not a memo keyed by five fields); bounded by
:data:`_BY_CODE_MAX`, emptied when full."""

_BY_CODE_MAX: Final = 4096


def _code_classes(code: str) -> frozenset[MedicineClass]:
    """:func:`_classes` of a prescription named by its dm+d code alone, kept by its code.

    Such a prescription (:data:`~opioidcds._inputs.prescription.CODE_AND_TEXT`: every field
    but the code and the text holds its default) has no product name, drug, form or strength.
    """
    found = _classes(code, None, None, None, None)
    if len(_CLASSES_BY_CODE) >= _BY_CODE_MAX:
        _CLASSES_BY_CODE.clear()
    _CLASSES_BY_CODE[code] = found
    return found


@lru_cache(maxsize=4096)
def _classes(
    dmd_code: str | None,
    product_name: str | None,
    drug: str | None,
    form: str | None,
    strength: str | None,
) -> frozenset[MedicineClass]:
    found: set[MedicineClass] = set()
    names = [n for n in (product_name, drug) if n]
    if dmd_code is not None:
        catalogue = load_catalogue()
        if dmd_code in catalogue:
            product = catalogue.by_code(dmd_code)
            found.add(MedicineClass.OPIOID)
            names.append(product.product_name)
    if form and drug and not product_name:
        names.append(f"{drug} {strength or ''} {form}")
    for name in names:
        found.update(_classes_of_name(name))
    return frozenset(found)


class IssueRecord(InputModel):
    """One past issue of a prescription: when, what, and for how many days.

    ``days_supply`` is the intended duration of the supply at the prescribed dose (e.g. 28),
    needed to tell whether the next issue of the same medicine was early.
    """

    issue_date: dt.date
    drug: str | None = Field(default=None, min_length=1, max_length=500)
    product_name: str | None = Field(default=None, min_length=1, max_length=500)
    dmd_code: str | None = Field(default=None, pattern=r"^[0-9]{6,20}$")
    days_supply: int | None = Field(default=None, ge=1, le=366)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.drug is None and self.product_name is None and self.dmd_code is None:
            raise InvalidInputError("drug", "drug, product_name or dmd_code is required")
        return self

    @property
    def medicine_key(self) -> str:
        """What identifies "the same medicine" across issues: code, else product, else drug."""
        return (self.dmd_code or self.product_name or self.drug or "").strip().lower()


def replaced_positions(prescriptions: tuple[Prescription, ...]) -> frozenset[int]:
    """Positions of the prescriptions that another prescription of the list ``replaces``."""
    replacing = [rx for rx in prescriptions if rx.replaces is not None]
    if not replacing:
        return frozenset()
    return frozenset(
        i
        for i, rx in enumerate(prescriptions)
        if any(new is not rx and new.replaces_item(rx) for new in replacing)
    )


_OPIOID: Final = MedicineClass.OPIOID
_BENZODIAZEPINE: Final = MedicineClass.BENZODIAZEPINE
_Z_DRUG: Final = MedicineClass.Z_DRUG
_GABAPENTINOID: Final = MedicineClass.GABAPENTINOID
_OST: Final = MedicineClass.OPIOID_DEPENDENCE_TREATMENT
"""The classes a patient's derivation reads, looked up once (an enum member costs a look-up)."""


class _Derived(NamedTuple):
    """What a :class:`Patient` derives from its prescriptions when it is built."""

    classes: tuple[frozenset[MedicineClass], ...]
    candidates: tuple[Prescription, ...]
    benzo: bool | None
    zdrug: bool | None
    replaced: frozenset[int]
    gaba: bool | None
    ost: bool | None
    minimum: bool  # a prescription of the list gives its dose as a minimum (dose_is_minimum)


_NONE_REPLACED: Final[frozenset[int]] = frozenset()
"""The replaced positions of a list in which no prescription replaces another."""

_derived_of: Final = partial(tuple.__new__, _Derived)
"""``_Derived`` of a tuple of its fields, in order (without the named tuple's own ``__new__``)."""


def _derive(
    stated: bool | None,
    derived: bool,
    field: str,
    *,
    stated_false_wins: bool = False,
    complete: bool = False,
) -> bool | None:
    if stated is None and derived is False and complete:
        return False  # the whole medication list was given: an absent class is absent
    if stated is True or derived is False:
        return stated
    if stated is False:
        if stated_false_wins:
            return False
        raise InvalidInputError(
            field, "stated false, but a current prescription is recognised as this class"
        )
    return True


@lru_cache(maxsize=1024)
def _co_prescribed(  # noqa: PLR0917 - positional: the memo's key
    live: tuple[frozenset[MedicineClass], ...],
    benzodiazepine: bool | None,
    z_drug: bool | None,
    gabapentinoid: bool | None,
    substitution: bool | None,
    complete: bool,
) -> tuple[bool | None, bool | None, bool | None, bool | None]:
    """The co-prescriptions stated (``None``: not stated) combined with the classes ``live``.

    ``live``: the classes of each current prescription (those not replaced), in order; a class
    is present when one of them has it.

    Benzodiazepine, z-drug, gabapentinoid and opioid substitution therapy, in that order, each
    by :func:`_derive` (a stated "not on OST" wins over a derived one; a stated "no" for the
    others contradicting a current prescription is an error). ``complete``: the medication
    list is the whole list. Memoised: a pure function of a few values (a few hundred lists of
    class sets, each set one object per medicine: the key hashes their kept hashes; issue 20,
    check round 9: the union is no longer made per patient).

    Raises:
        InvalidInputError: a stated "no" contradicts a current prescription's class.
    """
    present = frozenset().union(*live)  # every class of a current prescription
    return (
        _derive(
            benzodiazepine,
            _BENZODIAZEPINE in present,
            "benzodiazepine_coprescribed",
            complete=complete,
        ),
        _derive(z_drug, _Z_DRUG in present, "z_drug_coprescribed", complete=complete),
        _derive(
            gabapentinoid,
            _GABAPENTINOID in present,
            "gabapentinoid_coprescribed",
            complete=complete,
        ),
        _derive(
            substitution,
            _OST in present,
            "opioid_substitution_therapy",
            stated_false_wins=True,
        ),
    )


_names_of: Final = itemgetter("dmd_code", "product_name", "drug", "form", "strength")
"""A prescription's fields that name its medicine, from its ``__dict__``, in the order
:func:`_classes` takes them (:func:`medicine_classes`)."""


class Patient(InputModel):
    """A patient's record as far as opioid risk stratification needs it.

    Tri-state fields (``bool | None``): ``None`` is unknown. ``sex`` is ``unknown`` unless
    recorded. ``age`` is whole years (0-125) or ``None``.

    Scope flags (``rules/scope.toml``; ``docs/risk-and-tiers.md``, "Scope"): ``cancer_pain`` and
    ``palliative_care`` default to ``False`` (not recorded); ``opioid_substitution_therapy`` is
    tri-state and, when unknown, derived from the prescriptions.

    ``prescriptions`` are the current prescriptions, opioids and other medicines;
    ``medication_list_complete`` says they are the whole list (absent classes are then
    absent, not unknown). ``last_opioid_review`` is the date of the last recorded review of
    the opioid treatment (``None``: none recorded).
    ``prescription_history`` (optional) lists past issues; ``as_of`` is the assessment date for
    the history (default: the latest issue date in it).

    Raises:
        InvalidInputError: a value is malformed or out of range, the stated and derived
            co-prescription contradict, or ``as_of`` is before an issue date.
    """

    age: int | None = Field(default=None, ge=0, le=_MAX_AGE, strict=True)
    sex: Sex = Sex.UNKNOWN
    unemployed: StrictBool | None = None
    ae_attendance_recent: StrictBool | None = None
    last_ae_attendance: dt.date | None = None
    family_history_dependence: StrictBool | None = None
    history_substance_or_alcohol_misuse: StrictBool | None = None
    preadolescent_sexual_abuse_history: StrictBool | None = None
    depression: StrictBool | None = None
    other_psychological_disease: StrictBool | None = None
    benzodiazepine_coprescribed: StrictBool | None = None
    z_drug_coprescribed: StrictBool | None = None
    gabapentinoid_coprescribed: StrictBool | None = None
    medication_list_complete: StrictBool = False
    last_opioid_review: dt.date | None = None
    cancer_pain: StrictBool = False
    palliative_care: StrictBool = False
    opioid_substitution_therapy: StrictBool | None = None
    readiness_to_change: ReadinessToChange | None = None
    prescriptions: tuple[Prescription, ...] = Field(default=(), max_length=_MAX_PRESCRIPTIONS)
    prescription_history: tuple[IssueRecord, ...] | None = Field(
        default=None, max_length=_MAX_HISTORY
    )
    as_of: dt.date | None = None

    _derived: _Derived | None = PrivateAttr(default=None)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; with ``update``, a patient validated anew from this one's fields and it.

        pydantic's own ``model_copy(update=...)`` skips validation: a patient copied with other
        prescriptions kept the values derived from the old ones (their medicine classes, the
        co-prescriptions, the medicines counted), so the prescribing check counted the old
        prescriptions and their totals (fail closed: a copy is never read by what it no longer
        holds). With ``update`` the names given and the update are validated together, as
        ``Patient(...)`` validates them (an unknown name or a bad value raises
        :class:`~opioidcds.InvalidInputError`); without it, the copy holds the same fields and
        derived values, as pydantic copies them.
        """
        if not update:
            return super().model_copy(deep=deep)
        data = {name: self.__dict__[name] for name in self.model_fields_set}
        data.update(update)
        return type(self)(**data)

    def __init__(self, /, **data: Any) -> None:  # noqa: ANN401 - pydantic's own signature
        """Validate ``data``; raises :class:`InvalidInputError` naming each bad field.

        A patient given only an age, a sex and a tuple of prescriptions that pydantic would
        accept as they are (a whole number of years in range, a recorded sex, built
        :class:`Prescription` objects: what a prescribing check sends) is built without
        pydantic's validation, which would return the same values (issue 20: about half the
        cost of building a patient); the model's own checks (classes derived from the
        prescriptions, dates) run as always. Anything else goes through pydantic, so every
        error reads as before.
        """
        if not _as_given(data):
            super().__init__(**data)
            return
        values = _DEFAULTS.copy()
        values.update(data)
        if "sex" in data:
            values["sex"] = _SEX_OF[data["sex"]]  # _as_given checked it is one
        fill(self, values, set(data), {"_derived": None})
        self._set_derived()

    @model_validator(mode="after")
    def _derive_classes(self) -> Self:
        return self._set_derived()

    def _set_derived(self) -> Self:
        """Derive the classes of the prescriptions and what follows; check the dates."""
        prescriptions = self.prescriptions
        opioid = _OPIOID
        # one pass over the prescriptions (issue 20, round 7): each one's classes, whether it
        # names an identifier, and whether it replaces another; a list where none replaces
        # another (the common case) needs nothing more
        found: list[frozenset[MedicineClass]] = []
        kept: list[Prescription] = []
        replacing = identified = minimum = False
        code_and_text, by_code = CODE_AND_TEXT, _CLASSES_BY_CODE
        for rx in prescriptions:
            rd = rx.__dict__
            if rx.__pydantic_fields_set__ is code_and_text:  # no identifier, no minimum
                c = by_code.get(rd["dmd_code"])
                if c is None:
                    c = _code_classes(rd["dmd_code"])
            else:
                c = _classes(*_names_of(rd))
                if rd["replaces"] is not None:
                    replacing = identified = True
                elif rd["id"] is not None:
                    identified = True
                if rd["dose_is_minimum"]:
                    minimum = True
            found.append(c)
            if not c or opioid in c:
                kept.append(rx)
        classes = tuple(found)
        replaced = replaced_positions(prescriptions) if replacing else _NONE_REPLACED
        if replaced:
            if any(prescriptions[i].replaces is not None for i in replaced):
                raise InvalidInputError(
                    "prescriptions", "a prescription that replaces another is itself replaced"
                )
            candidates = tuple(
                [
                    rx.without_identity()
                    for i, (rx, c) in enumerate(zip(prescriptions, classes, strict=True))
                    if (not c or opioid in c) and i not in replaced
                ]
            )
            live = tuple([c for i, c in enumerate(classes) if i not in replaced])
        elif identified:  # none replaced: each candidate without its identifiers
            candidates = tuple([rx.without_identity() for rx in kept])
            live = classes
        else:  # none replaced, no identifier (the common case): the candidates as they are
            candidates = tuple(kept)
            live = classes
        d = self.__dict__
        benzo, zdrug, gaba, ost = _co_prescribed(
            live,
            d["benzodiazepine_coprescribed"],
            d["z_drug_coprescribed"],
            d["gabapentinoid_coprescribed"],
            d["opioid_substitution_therapy"],
            d["medication_list_complete"],
        )
        self._check_dates()
        # one private value, set once (reading and setting private attributes one by one
        # through pydantic costs microseconds each on the per-call path)
        self.__pydantic_private__["_derived"] = _derived_of(  # type: ignore[index]
            (classes, candidates, benzo, zdrug, replaced, gaba, ost, minimum)
        )
        return self

    def _check_dates(self) -> None:
        d = self.__dict__  # read once: this runs for every patient built (issue 20)
        history = d["prescription_history"]
        if (
            not history
            and d["as_of"] is None
            and d["last_ae_attendance"] is None
            and d["last_opioid_review"] is None
        ):
            return  # no date to check
        if self.as_of is not None and history and any(r.issue_date > self.as_of for r in history):
            raise InvalidInputError("as_of", "is before an issue date of the history")
        dates = [self.as_of, self.last_ae_attendance, self.last_opioid_review]
        dates += [r.issue_date for r in history or ()]
        if any(d is not None and d < _EARLIEST for d in dates):
            raise InvalidInputError("date", "is before 1900-01-01 (not a plausible record date)")
        when = self.assessment_date
        if (
            when is not None
            and self.last_ae_attendance is not None
            and self.last_ae_attendance > when
        ):
            raise InvalidInputError("last_ae_attendance", "is after the assessment date")
        if (
            when is not None
            and self.last_opioid_review is not None
            and self.last_opioid_review > when
        ):
            raise InvalidInputError("last_opioid_review", "is after the assessment date")

    @property
    def _got(self) -> _Derived:
        return self.__pydantic_private__["_derived"]  # type: ignore[index,no-any-return]

    @property
    def prescription_classes(self) -> tuple[frozenset[MedicineClass], ...]:
        """Medicine classes of each current prescription, in order (empty: not recognised)."""
        return self._got.classes

    @property
    def opioid_candidates(self) -> tuple[Prescription, ...]:
        """Current prescriptions counted for OME: opioids, and any not recognised by class.

        Only prescriptions recognised as another class (benzodiazepine, gabapentinoid, z-drug)
        and not as an opioid, and those replaced by another prescription of the list, are left
        out, so an unrecognised opioid is never dropped. Each is given without its ``id`` and
        ``replaces`` (identifiers are never inputs of the OME calculation or its caches).
        """
        return self._got.candidates

    @property
    def benzodiazepine(self) -> bool | None:
        """Benzodiazepine co-prescription after combining stated and derived values."""
        return self._got.benzo

    @property
    def z_drug(self) -> bool | None:
        """Z-drug (zopiclone, zolpidem, zaleplon) co-prescription, stated and derived combined."""
        return self._got.zdrug

    @property
    def benzodiazepine_or_z_drug(self) -> bool | None:
        """A benzodiazepine or a z-drug is co-prescribed (Kleene "or" of the two).

        Unknown when neither is present and either is unknown. MHRA 2020 treats them as one
        class ("benzodiazepines and benzodiazepine-like drugs").
        """
        benzo, z = self.benzodiazepine, self.z_drug
        if benzo is True or z is True:
            return True
        if benzo is None or z is None:
            return None
        return False

    @property
    def replaced(self) -> frozenset[int]:
        """Positions in ``prescriptions`` of those replaced by another prescription of the list."""
        return self._got.replaced

    @property
    def gabapentinoid(self) -> bool | None:
        """Gabapentinoid co-prescription after combining stated and derived values."""
        return self._got.gaba

    @property
    def on_opioid_substitution_therapy(self) -> bool | None:
        """OST after combining stated and derived values (stated false wins)."""
        return self._got.ost

    @property
    def assessment_date(self) -> dt.date | None:
        """``as_of``, else the latest issue date in the history, else ``None``."""
        if self.as_of is not None:
            return self.as_of
        if self.prescription_history:
            return max(r.issue_date for r in self.prescription_history)
        return None


_DEFAULTS: Final = {name: f.default for name, f in Patient.model_fields.items()}
"""Every field's default, in field order."""

_SEXES: Final = frozenset(s.value for s in Sex)
_SEX_OF: Final[dict[Sex | str, Sex]] = {**{s.value: s for s in Sex}, **{s: s for s in Sex}}
"""Each :class:`Sex`, by itself and by its value."""


def _as_given(data: dict[str, Any]) -> bool:
    """Whether ``data`` is only an age, a sex and prescriptions pydantic would keep as they are.

    ``age``: ``None`` or an ``int`` (not a ``bool``) within the field's bounds; ``sex``: a
    :class:`Sex` or one of its values exactly; ``prescriptions``: a tuple, within the field's
    length, of :class:`Prescription` objects. Anything else: ``False`` (pydantic decides).
    """
    for name, value in data.items():
        if name == "age":
            if value is not None and (type(value) is not int or not 0 <= value <= _MAX_AGE):
                return False
        elif name == "sex":
            if type(value) is not Sex and (type(value) is not str or value not in _SEXES):
                return False
        elif name == "prescriptions":
            if type(value) is not tuple or len(value) > _MAX_PRESCRIPTIONS:
                return False
            for rx in value:
                if type(rx) is not Prescription:
                    return False
        else:
            return False
    return True
