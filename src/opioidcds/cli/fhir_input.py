"""FHIR input for the command line (``opioidcds ome --fhir``): JSON in, prescriptions out."""

from __future__ import annotations

from opioidcds._errors import InvalidInputError
from opioidcds._inputs.prescription import Prescription
from opioidcds._resolve.record import BundleRead

__all__ = ["prescriptions_from_fhir_json", "read_fhir_json"]

_NEEDS_EXTRA = "needs the optional 'fhir' extra: pip install 'opioidcds[fhir]'"


def read_fhir_json(data: object) -> BundleRead:
    """What parsed FHIR R4 JSON gives: a Bundle, a list, or one MedicationRequest.

    Follows :func:`opioidcds.read_bundle` with its defaults: MedicationRequests with status
    ``active`` or ``draft`` and MedicationStatements with status ``active`` count (one
    prescription per dosage); every other entry, and every request or statement that cannot be
    read or names an unknown medication, is listed in ``skipped`` with its reason, and the rest
    is read. Numbers may be JSON numbers or numeral strings (``read_json`` reads decimals as
    strings, so none is rounded through a float).

    Raises:
        InvalidInputError: the JSON is not a Bundle, a list or a MedicationRequest, or the
            optional ``fhir`` extra is not installed.
    """
    try:
        from opioidcds._resolve import fhir  # noqa: PLC0415 - the adapter is optional

        return fhir.read_bundle(data)
    except ImportError:
        raise InvalidInputError("--fhir", _NEEDS_EXTRA) from None


def prescriptions_from_fhir_json(data: object) -> list[Prescription]:
    """The prescriptions in parsed FHIR R4 JSON, strictly (:func:`opioidcds.from_bundle`).

    An entry that cannot be read or names an unknown medication refuses the whole input; use
    :func:`read_fhir_json` to keep the rest and list what was left out.

    Raises:
        InvalidInputError: the JSON is not such a resource, a resource is invalid (``field`` is
            its FHIR path), or the optional ``fhir`` extra is not installed.
        UnknownProductError: a medication code is not in the product catalogue.
    """
    try:
        from opioidcds._resolve import fhir  # noqa: PLC0415 - the adapter is optional

        return fhir.from_bundle(data)
    except ImportError:
        raise InvalidInputError("--fhir", _NEEDS_EXTRA) from None
