"""Hazard HAZ-013: patient data never reaches logs, exceptions or warnings.

Canary identifiers (an NHS-number-shaped string and an invented name) are written into every
text field, and a canary number into the numeric fields, of inputs to every public entry point.
Results may carry what was given (the result belongs to the patient record); nothing else may:
no exception in the chain as displayed (message, args, repr, notes of each exception that
a traceback or an error tracker shows: ``from None`` hides the context), no log
record at any level of any logger, no warning, no CLI stderr.
"""

from __future__ import annotations

import json
import logging
import traceback
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from opioidcds import OpioidCDSError, Prescription, calculate_ome, classify_medicine, load_catalogue
from opioidcds._knowledge.units import parse_amount, parse_decimal, parse_strength
from opioidcds._measure.ome import _measure_cached
from opioidcds.cli.app import app
from opioidcds.cli.ome_cmd import parse_prescriptions

CANARY_ID = "9434765919"  # NHS-number shaped (invented); also fed as a number
CANARY_NAME = "Qzxwcanary Smithcanary"
CANARIES = (CANARY_ID, CANARY_NAME, "Qzxwcanary")

VALID: dict[str, Any] = {
    "drug": "oxycodone",
    "form": "tablet",
    "strength": "10 mg",
    "dose_quantity": 1,
    "dose_unit": "tablet",
    "doses_per_day": 2,
}
TEXT_FIELDS = [
    "drug",
    "form",
    "route",
    "strength",
    "dose_unit",
    "product_name",
    "dmd_code",
    "dosage_text",
]
NUMBER_FIELDS = [
    "dose_quantity",
    "dose_quantity_max",
    "doses_per_day",
    "interval_hours",
    "max_doses_per_day",
    "max_quantity_per_day",
]


def variants() -> Iterator[dict[str, Any]]:
    """Prescription inputs carrying a canary in one field (text or number)."""
    for field in TEXT_FIELDS:
        for canary in (CANARY_NAME, CANARY_ID, f"10 mg {CANARY_NAME}"):
            yield {**VALID, field: canary}
    for field in NUMBER_FIELDS:
        yield {**VALID, field: CANARY_ID}
        yield {**VALID, field: int(CANARY_ID)}
        yield {**VALID, field: f"{CANARY_ID}.5"}


def _calculate(data: dict[str, Any]) -> object:
    return calculate_ome(parse_prescriptions([data]))


def _validate_json(data: dict[str, Any]) -> object:
    return Prescription.model_validate_json(json.dumps(data))


def calls() -> Iterator[tuple[str, Callable[[], object]]]:
    """Every public entry point that takes patient-derived input, fed canaries."""
    catalogue = load_catalogue()
    for i, data in enumerate(variants()):
        yield f"Prescription[{i}]", partial(Prescription, **data)
        yield f"model_validate[{i}]", partial(Prescription.model_validate, data)
        yield f"model_validate_json[{i}]", partial(_validate_json, data)
        yield f"parse_prescriptions[{i}]", partial(parse_prescriptions, [VALID, data])
        yield f"calculate_ome[{i}]", partial(_calculate, data)
    yield "parse_prescriptions(object)", partial(parse_prescriptions, {"x": [CANARY_NAME]})
    for text in (CANARY_NAME, CANARY_ID, f"{CANARY_ID} mg", f"10 {CANARY_NAME}"):
        yield f"parse_strength({text})", partial(parse_strength, text)
        yield f"parse_amount({text})", partial(parse_amount, text)
        yield f"parse_decimal({text})", partial(parse_decimal, text, "dose")
        yield f"by_code({text})", partial(catalogue.by_code, text)
        yield f"by_name({text})", partial(catalogue.by_name, text)
        yield f"classify_medicine({text})", partial(classify_medicine, text)
        yield f"prn_policy({text})", partial(calculate_ome, [], prn_policy=text)
    yield from dosage_calls()
    yield from fhir_calls()


def dosage_calls() -> Iterator[tuple[str, Callable[[], object]]]:
    try:
        from opioidcds import parse_dosage  # noqa: PLC0415 - merged in parallel
    except ImportError:  # pragma: no cover - before the dosage grammar is merged
        return
    for text in (
        CANARY_NAME,
        f"take one {CANARY_NAME} twice a day",
        f"{CANARY_ID} tablets daily",
        "x" * 1001 + CANARY_NAME,
    ):
        yield f"parse_dosage({text[:20]})", partial(parse_dosage, text)


FHIR_EXAMPLE = Path(__file__).resolve().parents[1] / "fhir" / "data"


def fhir_calls() -> Iterator[tuple[str, Callable[[], object]]]:
    """MedicationRequests carrying canaries where EHR data carries identifiers and free text."""
    try:
        from opioidcds._resolve.fhir import prescriptions_from_medication_request  # noqa: PLC0415 - merged in parallel
    except ImportError:  # pragma: no cover - before the FHIR adapter is merged
        return
    base = json.loads(
        (FHIR_EXAMPLE / "uk-core-style-medicationrequest-r4.json").read_text(encoding="utf-8")
    )
    base["medicationCodeableConcept"]["coding"][0]["code"] = "36126511000001106"  # in catalogue
    changes: list[tuple[tuple[Any, ...], Any]] = [
        (("subject", "reference"), f"Patient/{CANARY_ID}"),
        (("id",), CANARY_ID),
        (("medicationCodeableConcept", "coding", 0, "code"), CANARY_ID),
        (("medicationCodeableConcept", "coding", 0, "display"), CANARY_NAME),
        (("dosageInstruction", 0, "text"), f"take one {CANARY_NAME}"),
        (("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity", "unit"), CANARY_NAME),
        (("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity", "value"), CANARY_NAME),
        (("dosageInstruction", 0, "timing", "repeat", "frequency"), int(CANARY_ID)),
        (("status",), CANARY_NAME),
        (("note",), [{"text": CANARY_NAME}]),
    ]
    for i, (path, value) in enumerate(changes):
        resource = json.loads(json.dumps(base))
        target = resource
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        yield f"fhir[{i}]", partial(prescriptions_from_medication_request, resource)
        yield (
            f"fhir-display[{i}]",
            partial(prescriptions_from_medication_request, resource, match_display_name=True),
        )


def exception_texts(exc: BaseException) -> Iterator[str]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield from (repr(a) for a in current.args)
        yield from getattr(current, "__notes__", ())
        # follow the chain as Python's traceback printing and error trackers do: an explicit
        # cause, or the implicit context unless suppressed by ``raise ... from None``
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    yield "".join(traceback.format_exception(exc))


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            self.texts.extend(exception_texts(record.exc_info[1]))


def test_canary_never_in_errors_logs_or_warnings() -> None:
    root = logging.getLogger()
    handler = _Capture()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    leaks: list[str] = []
    errors = 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for name, call in calls():
                try:
                    call()
                except OpioidCDSError as exc:
                    errors += 1
                    texts = list(exception_texts(exc))
                    if any(c in t for c in CANARIES for t in texts):
                        leaks.append(f"{name}: exception")
        leaks.extend(
            f"warning: {w.category.__name__}"
            for w in caught
            if any(c in str(w.message) for c in CANARIES)
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    leaks.extend("log record" for t in handler.texts if any(c in t for c in CANARIES))
    assert leaks == []
    assert errors > 50  # the canaries did reach the validation paths


def test_canary_never_on_cli_stderr(tmp_path: Path) -> None:
    runner = CliRunner()
    for i, data in enumerate(variants()):
        path = tmp_path / f"in{i}.json"
        path.write_text(json.dumps([data]), encoding="utf-8")
        result = runner.invoke(app, ["ome", str(path)])
        assert not any(c in result.stderr for c in CANARIES), f"variant {i}"
    bad = tmp_path / "bad.json"
    bad.write_text('[{"drug": "' + CANARY_NAME + '", ', encoding="utf-8")  # malformed JSON
    result = runner.invoke(app, ["ome", str(bad)])
    assert result.exit_code == 2
    assert not any(c in result.stderr for c in CANARIES)


@pytest.mark.parametrize("model", [Prescription])
def test_input_models_have_no_identifier_fields(model: type[Prescription]) -> None:
    """Nothing that identifies a patient is an input of the calculator (so cannot be cached)."""
    identifying = {"nhs", "name", "patient", "dob", "birth", "address", "postcode", "id"}
    # ``id`` and ``replaces`` (issue 15: a dose change replaces a current prescription) are the
    # caller's prescription identifiers: used only to decide which item is replaced, and taken
    # off before the calculator and its caches (Prescription.without_identity), checked below.
    for field in model.model_fields:
        words = set(field.split("_"))
        assert not words & identifying or field in {"product_name", "id"}, field
    rx = Prescription(**{**VALID, "id": CANARY_NAME, "replaces": CANARY_NAME + "-old"})
    assert rx.without_identity().id is None
    assert rx.without_identity().replaces is None
    calculate_ome([rx])
    calculate_ome([rx])  # the memo keeps what it sees a second time (a stream of new patients
    # does not churn it)
    hits = _measure_cached.cache_info().hits
    calculate_ome([rx.model_copy(update={"id": "another"})])
    # the same prescription under another id is a cache hit: the id is not part of the key
    assert _measure_cached.cache_info().hits == hits + 1


def test_unknown_key_names_are_echoed_residual() -> None:
    """Documented residual of HAZ-013: an unknown *key* is named in the error (it is structure,
    and naming it is how a caller finds a misspelt field). Values never are. Integrators must
    not put identifiers in keys. If this changes, update docs/safety/hazards.toml."""
    with pytest.raises(OpioidCDSError) as info:
        Prescription(**{**VALID, CANARY_NAME: 1})
    assert CANARY_NAME in str(info.value)
    assert "1" not in str(info.value).replace(CANARY_NAME, "")
