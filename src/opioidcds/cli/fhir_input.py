"""FHIR input for the command line (``opioidcds ome --fhir``): JSON in, prescriptions out."""

from __future__ import annotations

from opioidcds._errors import InvalidInputError
from opioidcds._inputs.prescription import Prescription

__all__ = ["prescriptions_from_fhir_json"]


def prescriptions_from_fhir_json(data: object) -> list[Prescription]:
    """The prescriptions in parsed FHIR R4 JSON: a Bundle, a list, or one MedicationRequest.

    Follows :func:`opioidcds.read_bundle` with its defaults: MedicationRequests with status
    ``active`` or ``draft`` count (one prescription per dosage instruction); other resources and
    statuses are skipped; a medication the catalogue does not know is an error. Numbers may be
    JSON numbers or numeral strings (``read_json`` reads decimals as strings, so none is
    rounded through a float).

    Raises:
        InvalidInputError: the JSON is not such a resource, a resource is invalid (``field`` is
            its FHIR path), or the optional ``fhir`` extra is not installed.
        UnknownProductError: a medication code is not in the product catalogue.
    """
    try:
        from opioidcds._resolve import fhir  # noqa: PLC0415 - the adapter is optional

        return fhir.from_bundle(data)
    except ImportError:
        raise InvalidInputError(
            "--fhir", "needs the optional 'fhir' extra: pip install 'opioidcds[fhir]'"
        ) from None
