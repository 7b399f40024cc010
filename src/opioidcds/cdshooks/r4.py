r"""Lean, strict FHIR R4 validation of the MedicationRequest elements the service reads.

The FHIR adapter validates each MedicationRequest against the full R4B model of
``fhir.resources`` before reading it, which costs about 0.3 ms per resource and was most of a
CDS Hooks request's CPU time when the resources are new. The service instead validates only the
elements it (or the adapter) reads, with these frozen pydantic models, and then lets the adapter
read the JSON as before (:func:`opioidcds._resolve.fhir.prescriptions_from_medication_request` with
``validator=``):

- every element read is type-checked against its R4 datatype
  (https://hl7.org/fhir/R4/datatypes.html): ``string`` non-empty, ``code`` without leading,
  trailing or repeated whitespace, ``id`` of ``[A-Za-z0-9-.]`` (R4 allows 64 characters; up
  to 512 are tolerated, as real EHRs send longer ids and the id only identifies), ``uri`` without
  whitespace, ``integer``/``positiveInt`` JSON integers in range, ``decimal`` finite JSON numbers,
  ``boolean`` JSON booleans, ``dateTime``/``time`` by the R4 regular expressions; at most one
  of each choice element (``medication[x]``, ``asNeeded[x]``, ``dose[x]``, ``rate[x]``,
  ``bounds[x]``);
  the R4 required elements ``status``, ``intent``, ``subject`` and ``medication[x]`` present;
- **stricter than fhir.resources** on JSON types (FHIR JSON, https://hl7.org/fhir/R4/json.html:
  numbers and booleans are JSON numbers and booleans): ``"true"``, ``1`` or ``"2"`` are refused
  where a boolean or number belongs (fhir.resources coerces them: a ``doNotPerform`` of
  ``"true"`` passes its model but is not ``true`` to the adapter, so the order would be counted);
  also on a JSON null for a required element, and whitespace in a ``uri``, which fhir.resources
  lets through;
- **more permissive** on elements the service does not read: they are not validated, and
  unknown elements are ignored (FHIR JSON lets a reader ignore unknown properties for forward
  compatibility); fhir.resources refuses both.

``tests/cdshooks/test_r4_differential.py`` holds this path to the fhir.resources path on the
fixtures and on generated resources. Errors are :class:`~opioidcds.InvalidInputError`
whose ``field`` is the FHIR path; messages never hold a value from the resource.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Final, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic.functional_validators import AfterValidator

from opioidcds._errors import InvalidInputError

__all__ = ["validate_medication_request"]

_DATETIME: Final = (
    r"^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|0[0-9]{3}|[1-9][0-9]{3})"
    r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$"
)  # FHIR R4 dateTime regex (datatypes.html#dateTime)
_INT32: Final = 2_147_483_647  # the range of FHIR R4 integer (datatypes.html#integer)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


String = Annotated[StrictStr, Field(min_length=1)]
Code = Annotated[StrictStr, Field(pattern=r"^[^\s]+(\s[^\s]+)*$")]
# R4 limits an id to 64 characters; Epic sends MedicationRequest ids of 180+ characters. The
# service only uses an id to match context.selections (never for a decision), so it tolerates
# longer ids of the same alphabet, up to a bound that keeps them harmless.
Id = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9\-\.]{1,512}$")]
Uri = Annotated[StrictStr, Field(pattern=r"^\S*$")]
Integer = Annotated[StrictInt, Field(ge=-_INT32 - 1, le=_INT32)]
UnsignedInt = Annotated[StrictInt, Field(ge=0, le=_INT32)]
PositiveInt = Annotated[StrictInt, Field(ge=1, le=_INT32)]
Decimal = Annotated[StrictFloat, AfterValidator(_finite)]  # strict float admits JSON integers
DateTime = Annotated[StrictStr, Field(pattern=_DATETIME)]
Time = Annotated[
    StrictStr, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?$")
]


class _Element(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)


def _one_of(model: BaseModel, *names: str) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) > 1:
        raise ValueError(f"only one of {', '.join(names)} may be given")


class Coding(_Element):
    """R4 Coding."""

    system: Uri | None = None
    version: String | None = None
    code: Code | None = None
    display: String | None = None
    userSelected: StrictBool | None = None  # noqa: N815 - FHIR element name


class CodeableConcept(_Element):
    """R4 CodeableConcept."""

    coding: list[Coding] | None = None
    text: String | None = None


class Reference(_Element):
    """R4 Reference (identifier not read)."""

    reference: String | None = None
    type: Uri | None = None
    display: String | None = None


class Quantity(_Element):
    """R4 Quantity (also SimpleQuantity and Duration)."""

    value: Decimal | None = None
    comparator: Code | None = None
    unit: String | None = None
    system: Uri | None = None
    code: Code | None = None


class Range(_Element):
    """R4 Range."""

    low: Quantity | None = None
    high: Quantity | None = None


class Ratio(_Element):
    """R4 Ratio."""

    numerator: Quantity | None = None
    denominator: Quantity | None = None


class Period(_Element):
    """R4 Period."""

    start: DateTime | None = None
    end: DateTime | None = None


class TimingRepeat(_Element):
    """R4 Timing.repeat."""

    boundsDuration: Quantity | None = None  # noqa: N815 - FHIR element name
    boundsRange: Range | None = None  # noqa: N815 - FHIR element name
    boundsPeriod: Period | None = None  # noqa: N815 - FHIR element name
    count: PositiveInt | None = None
    countMax: PositiveInt | None = None  # noqa: N815 - FHIR element name
    duration: Decimal | None = None
    durationMax: Decimal | None = None  # noqa: N815 - FHIR element name
    durationUnit: Code | None = None  # noqa: N815 - FHIR element name
    frequency: PositiveInt | None = None
    frequencyMax: PositiveInt | None = None  # noqa: N815 - FHIR element name
    period: Decimal | None = None
    periodMax: Decimal | None = None  # noqa: N815 - FHIR element name
    periodUnit: Code | None = None  # noqa: N815 - FHIR element name
    dayOfWeek: list[Code] | None = None  # noqa: N815 - FHIR element name
    timeOfDay: list[Time] | None = None  # noqa: N815 - FHIR element name
    when: list[Code] | None = None
    offset: UnsignedInt | None = None

    @model_validator(mode="after")
    def _choice(self) -> Self:
        _one_of(self, "boundsDuration", "boundsRange", "boundsPeriod")
        return self


class Timing(_Element):
    """R4 Timing."""

    event: list[DateTime] | None = None
    repeat: TimingRepeat | None = None
    code: CodeableConcept | None = None


class DoseAndRate(_Element):
    """R4 Dosage.doseAndRate."""

    type: CodeableConcept | None = None
    doseRange: Range | None = None  # noqa: N815 - FHIR element name
    doseQuantity: Quantity | None = None  # noqa: N815 - FHIR element name
    rateRatio: Ratio | None = None  # noqa: N815 - FHIR element name
    rateRange: Range | None = None  # noqa: N815 - FHIR element name
    rateQuantity: Quantity | None = None  # noqa: N815 - FHIR element name

    @model_validator(mode="after")
    def _choice(self) -> Self:
        _one_of(self, "doseRange", "doseQuantity")
        _one_of(self, "rateRatio", "rateRange", "rateQuantity")
        return self


class Dosage(_Element):
    """R4 Dosage."""

    sequence: Integer | None = None
    text: String | None = None
    additionalInstruction: list[CodeableConcept] | None = None  # noqa: N815 - FHIR name
    patientInstruction: String | None = None  # noqa: N815 - FHIR element name
    timing: Timing | None = None
    asNeededBoolean: StrictBool | None = None  # noqa: N815 - FHIR element name
    asNeededCodeableConcept: CodeableConcept | None = None  # noqa: N815 - FHIR element name
    site: CodeableConcept | None = None
    route: CodeableConcept | None = None
    method: CodeableConcept | None = None
    doseAndRate: list[DoseAndRate] | None = None  # noqa: N815 - FHIR element name
    maxDosePerPeriod: Ratio | None = None  # noqa: N815 - FHIR element name
    maxDosePerAdministration: Quantity | None = None  # noqa: N815 - FHIR element name
    maxDosePerLifetime: Quantity | None = None  # noqa: N815 - FHIR element name

    @model_validator(mode="after")
    def _choice(self) -> Self:
        _one_of(self, "asNeededBoolean", "asNeededCodeableConcept")
        return self


class DispenseRequest(_Element):
    """R4 MedicationRequest.dispenseRequest (the parts the acute checks read)."""

    validityPeriod: Period | None = None  # noqa: N815 - FHIR element name
    numberOfRepeatsAllowed: UnsignedInt | None = None  # noqa: N815 - FHIR element name
    quantity: Quantity | None = None
    expectedSupplyDuration: Quantity | None = None  # noqa: N815 - FHIR element name


class MedicationRequest(_Element):
    """R4 MedicationRequest: the elements the service reads, and the required ones."""

    resourceType: Literal["MedicationRequest"]  # noqa: N815 - FHIR JSON name
    id: Id | None = None
    status: Code
    intent: Code
    category: list[CodeableConcept] | None = None
    doNotPerform: StrictBool | None = None  # noqa: N815 - FHIR element name
    medicationCodeableConcept: CodeableConcept | None = None  # noqa: N815 - FHIR element name
    medicationReference: Reference | None = None  # noqa: N815 - FHIR element name
    subject: Reference
    encounter: Reference | None = None
    authoredOn: DateTime | None = None  # noqa: N815 - FHIR element name
    dosageInstruction: list[Dosage] | None = None  # noqa: N815 - FHIR element name
    dispenseRequest: DispenseRequest | None = None  # noqa: N815 - FHIR element name
    priorPrescription: Reference | None = None  # noqa: N815 - FHIR element name

    @model_validator(mode="after")
    def _choice(self) -> Self:
        if self.medicationCodeableConcept is None and self.medicationReference is None:
            raise ValueError("medication[x] is required")
        _one_of(self, "medicationCodeableConcept", "medicationReference")
        return self


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in MedicationRequest.model_fields or _is_element(part):
            out += f".{part}" if out else part
        # else: a pydantic union/constraint tag, not a FHIR element
    return out


def _is_element(name: str) -> bool:
    return any(name in m.model_fields for m in _MODELS)


_MODELS: Final = (
    Coding,
    CodeableConcept,
    Reference,
    Quantity,
    Range,
    Ratio,
    Period,
    TimingRepeat,
    Timing,
    DoseAndRate,
    Dosage,
    DispenseRequest,
    MedicationRequest,
)


def validate_medication_request(resource: Mapping[str, object]) -> None:
    """Validate the elements of an R4 MedicationRequest that the service reads.

    Raises:
        InvalidInputError: ``field`` is the FHIR path of the first problem
            (``dosageInstruction[0].timing.repeat.frequency``); the rule names the datatype,
            never the value.
    """
    try:
        MedicationRequest.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False, include_context=False)[0]
        kind = str(first.get("type", ""))
        path = _path(tuple(first.get("loc", ())))
        if kind == "missing":
            raise InvalidInputError(path or "(resource)", "is required (FHIR R4)") from None
        if kind == "value_error":  # a choice or required medication[x]
            msg = str(first.get("msg", "")).removeprefix("Value error, ")
            raise InvalidInputError(path or "(resource)", f"is not valid FHIR R4 ({msg})") from None
        msg = str(first.get("msg", kind))[:120]
        raise InvalidInputError(path or "(resource)", f"is not valid FHIR R4 ({msg})") from None
