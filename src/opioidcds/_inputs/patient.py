"""The patient: what the record says about a person, for risk stratification and alerts.

A :class:`Patient` holds the inputs of CLINICAL.md section 3 (risk factors), the scope flags of
section 1, the current prescriptions (opioids and other medicines) and, optionally, the
prescription history (issue dates) used for long-term use and early re-ordering.

Tri-state fields are ``bool | None``: ``None`` means *unknown* (not recorded), which is never
read as absent. Benzodiazepine and gabapentinoid co-prescription are derived from the
prescriptions by the product catalogue's medicine classes
(:func:`opioidcds.classify_medicine`) or stated directly:

* stated ``True`` wins;
* a derived ``True`` wins over a stated unknown;
* stated ``False`` with a prescription recognised as that class is a contradiction:
  :class:`~opioidcds.InvalidInputError` (naming the field, never the value).

Opioid substitution therapy (OST) is derived the same way (BNF 4.10.3 presentations, see
``docs/products.md``), except that a stated ``False`` wins: dm+d does not record why a product
is prescribed, and a clinician may state that methadone oral solution is prescribed for pain.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from functools import lru_cache
from typing import Self

from pydantic import Field, PrivateAttr, StrictBool, model_validator

from opioidcds._base import InputModel
from opioidcds._errors import InvalidInputError
from opioidcds._inputs.prescription import Prescription
from opioidcds._knowledge.products import MedicineClass, classify_medicine, load_catalogue

__all__ = [
    "IssueRecord",
    "Patient",
    "ReadinessToChange",
    "Sex",
    "medicine_classes",
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

    Seed 001: GPs proposed targeting people who have expressed concern about their opioid use.
    """

    NOT_CONSIDERING = "not-considering"
    CONSIDERING = "considering"
    READY = "ready"


@lru_cache(maxsize=4096)
def _classes_of_name(name: str) -> frozenset[MedicineClass]:
    return classify_medicine(name)


def medicine_classes(rx: Prescription | IssueRecord) -> frozenset[MedicineClass]:
    """Classes of the medicine in ``rx`` (by dm+d code, product name or drug name).

    A dm+d code found in the opioid catalogue is an opioid (and its name is classified too, for
    opioid substitution presentations). An empty set means "not recognised": callers treat
    such items as possible opioids (fail closed), never as known non-opioids.
    """
    found: set[MedicineClass] = set()
    names = [n for n in (rx.product_name, rx.drug) if n]
    if rx.dmd_code is not None:
        catalogue = load_catalogue()
        if rx.dmd_code in catalogue:
            product = catalogue.by_code(rx.dmd_code)
            found.add(MedicineClass.OPIOID)
            names.append(product.product_name)
    if isinstance(rx, Prescription) and rx.form and rx.drug and not rx.product_name:
        names.append(f"{rx.drug} {rx.strength or ''} {rx.form}")
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


def _derive(
    stated: bool | None, derived: bool, field: str, *, stated_false_wins: bool = False
) -> bool | None:
    if stated is True or derived is False:
        return stated
    if stated is False:
        if stated_false_wins:
            return False
        raise InvalidInputError(
            field, "stated false, but a current prescription is recognised as this class"
        )
    return True


class Patient(InputModel):
    """A patient's record as far as opioid risk stratification needs it.

    Tri-state fields (``bool | None``): ``None`` is unknown. ``sex`` is ``unknown`` unless
    recorded. ``age`` is whole years (0-125) or ``None``.

    Scope flags (CLINICAL.md section 1): ``cancer_pain`` and ``palliative_care`` default to
    ``False`` (not recorded); ``opioid_substitution_therapy`` is tri-state and, when unknown,
    derived from the prescriptions.

    ``prescriptions`` are the current prescriptions, opioids and other medicines.
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
    gabapentinoid_coprescribed: StrictBool | None = None
    cancer_pain: StrictBool = False
    palliative_care: StrictBool = False
    opioid_substitution_therapy: StrictBool | None = None
    readiness_to_change: ReadinessToChange | None = None
    prescriptions: tuple[Prescription, ...] = Field(default=(), max_length=_MAX_PRESCRIPTIONS)
    prescription_history: tuple[IssueRecord, ...] | None = Field(
        default=None, max_length=_MAX_HISTORY
    )
    as_of: dt.date | None = None

    _classes: tuple[frozenset[MedicineClass], ...] = PrivateAttr(default=())
    _candidates: tuple[Prescription, ...] = PrivateAttr(default=())
    _benzo: bool | None = PrivateAttr(default=None)
    _gaba: bool | None = PrivateAttr(default=None)
    _ost: bool | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _derive_classes(self) -> Self:
        classes = tuple(medicine_classes(rx) for rx in self.prescriptions)
        self._classes = classes
        self._candidates = tuple(
            rx
            for rx, c in zip(self.prescriptions, classes, strict=True)
            if not c or MedicineClass.OPIOID in c
        )
        self._benzo = _derive(
            self.benzodiazepine_coprescribed,
            any(MedicineClass.BENZODIAZEPINE in c for c in classes),
            "benzodiazepine_coprescribed",
        )
        self._gaba = _derive(
            self.gabapentinoid_coprescribed,
            any(MedicineClass.GABAPENTINOID in c for c in classes),
            "gabapentinoid_coprescribed",
        )
        ost = _derive(
            self.opioid_substitution_therapy,
            any(MedicineClass.OPIOID_DEPENDENCE_TREATMENT in c for c in classes),
            "opioid_substitution_therapy",
            stated_false_wins=True,
        )
        self._ost = ost
        if (
            self.as_of is not None
            and self.prescription_history
            and any(r.issue_date > self.as_of for r in self.prescription_history)
        ):
            raise InvalidInputError("as_of", "is before an issue date of the history")
        dates = [self.as_of, self.last_ae_attendance]
        dates += [r.issue_date for r in self.prescription_history or ()]
        if any(d is not None and d < _EARLIEST for d in dates):
            raise InvalidInputError("date", "is before 1900-01-01 (not a plausible record date)")
        when = self.assessment_date
        if (
            when is not None
            and self.last_ae_attendance is not None
            and self.last_ae_attendance > when
        ):
            raise InvalidInputError("last_ae_attendance", "is after the assessment date")
        return self

    # Private attributes are read through __pydantic_private__ (see models.Prescription).
    @property
    def prescription_classes(self) -> tuple[frozenset[MedicineClass], ...]:
        """Medicine classes of each current prescription, in order (empty: not recognised)."""
        return self.__pydantic_private__["_classes"]  # type: ignore[index,no-any-return]

    @property
    def opioid_candidates(self) -> tuple[Prescription, ...]:
        """Current prescriptions counted for OME: opioids, and any not recognised by class.

        Only prescriptions recognised as another class (benzodiazepine, gabapentinoid, z-drug)
        and not as an opioid are left out, so an unrecognised opioid is never dropped.
        """
        return self.__pydantic_private__["_candidates"]  # type: ignore[index,no-any-return]

    @property
    def benzodiazepine(self) -> bool | None:
        """Benzodiazepine co-prescription after combining stated and derived values."""
        return self.__pydantic_private__["_benzo"]  # type: ignore[index,no-any-return]

    @property
    def gabapentinoid(self) -> bool | None:
        """Gabapentinoid co-prescription after combining stated and derived values."""
        return self.__pydantic_private__["_gaba"]  # type: ignore[index,no-any-return]

    @property
    def on_opioid_substitution_therapy(self) -> bool | None:
        """OST after combining stated and derived values (stated false wins)."""
        return self.__pydantic_private__["_ost"]  # type: ignore[index,no-any-return]

    @property
    def assessment_date(self) -> dt.date | None:
        """``as_of``, else the latest issue date in the history, else ``None``."""
        if self.as_of is not None:
            return self.as_of
        if self.prescription_history:
            return max(r.issue_date for r in self.prescription_history)
        return None
