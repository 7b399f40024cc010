"""A patient built from an age, a sex and prescriptions as given is the one pydantic builds.

Issue 20: ``Patient(...)`` skips pydantic's validation when it is given only an age, a sex and
a tuple of built prescriptions that the validation would keep as they are (what a prescribing
check sends). These tests compare that path with pydantic's own validation of the same data
(as ``BaseModel.__init__`` runs it): the same fields, the same fields recorded as given, the
same derived values, the same error for the same bad input.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import opioidcds._inputs.patient as patient_module
from opioidcds import (
    InvalidInputError,
    MedicineClass,
    Patient,
    Prescription,
    Sex,
    classify_medicine,
    load_catalogue,
)
from opioidcds._base import input_error_from
from opioidcds._inputs.patient import _classes, _classes_of_name, medicine_classes

MORPHINE = Prescription(
    drug="morphine",
    form="modified-release tablet",
    strength="30 mg",
    dose_quantity=1,
    dose_unit="tablet",
    doses_per_day=2,
)
DIAZEPAM = Prescription(
    drug="diazepam",
    form="tablet",
    strength="5 mg",
    dose_quantity=1,
    dose_unit="tablet",
    doses_per_day=3,
)
BY_CODE = Prescription(dmd_code="36120011000001101", dosage_text="one tablet twice a day")
CHANGED = Prescription(
    dmd_code="36120011000001101", dosage_text="one tablet at night", id="b", replaces="a"
)
FIRST = Prescription(dmd_code="36120011000001101", dosage_text="one tablet twice a day", id="a")
CHANGED_AGAIN = Prescription(dmd_code="36120011000001101", dosage_text="1 bd", id="c", replaces="b")
DIAZEPAM_ID = DIAZEPAM.model_copy(update={"id": "d"})  # an identifier, not an opioid
UNKNOWN_CODE = Prescription(dmd_code="999999999", dosage_text="one tablet twice a day")
BY_CODE_NAMED = Prescription(  # the same code with a name beside it: not a code alone
    dmd_code="36120011000001101", product_name="Diazepam 5mg tablets", dosage_text="1 bd"
)
AT_LEAST = Prescription(  # a dose given as a minimum ("at least one patch")
    dmd_code="36120011000001101", dosage_text="one tablet twice a day", dose_is_minimum=True
)
BY_PRODUCT = Prescription(  # replaces by the product's code, not by an id
    dmd_code="36120011000001101", dosage_text="one tablet at night", replaces="36120011000001101"
)

ages = st.one_of(
    st.none(), st.integers(-2, 130), st.sampled_from([True, False, 1.0, "60", 0, 125, 126])
)
sexes = st.one_of(
    st.sampled_from(list(Sex)),
    st.sampled_from(["male", "female", "unknown", "Female", " male", "other", "", 1, None]),
)
prescriptions = st.one_of(
    st.lists(
        st.sampled_from([MORPHINE, DIAZEPAM, BY_CODE, FIRST, CHANGED, CHANGED_AGAIN]), max_size=4
    ).map(tuple),
    st.lists(st.sampled_from([MORPHINE, BY_CODE]), max_size=2),  # a list: through pydantic
    st.sampled_from([(MORPHINE.model_dump(),), ("x",), None, (MORPHINE,) * 101]),
)


def _outcome(build: Any, data: dict[str, Any]) -> tuple[str, Any]:
    try:
        patient = build(data)
    except InvalidInputError as exc:
        return "error", (exc.field, exc.rule, str(exc))
    return "built", (
        patient.model_dump(),
        patient.model_fields_set,
        patient.__pydantic_private__,
        patient.__pydantic_extra__,
        list(patient.__dict__),
        [type(v) for v in patient.__dict__.values()],
    )


def _validated(data: dict[str, Any]) -> Patient:
    """The patient pydantic's validation builds (what ``BaseModel.__init__`` does)."""
    patient = Patient.__new__(Patient)
    try:
        Patient.__pydantic_validator__.validate_python(data, self_instance=patient)
    except ValidationError as exc:
        raise input_error_from(exc) from None
    return patient


def _same(data: dict[str, Any]) -> None:
    fast = _outcome(lambda d: Patient(**d), data)
    assert fast == _outcome(_validated, data)
    assert _outcome(Patient.model_validate, data) == fast  # the same from a mapping


@settings(max_examples=400)
@given(
    st.fixed_dictionaries({}, optional={"age": ages, "sex": sexes, "prescriptions": prescriptions})
)
def test_age_sex_prescriptions_build_as_validated(data: dict[str, Any]) -> None:
    _same(data)


@pytest.mark.parametrize(
    "data",
    [
        {"age": 60, "sex": "female", "prescriptions": (MORPHINE, BY_CODE)},
        {"age": 60, "sex": Sex.MALE, "prescriptions": (MORPHINE, DIAZEPAM)},
        {"prescriptions": (FIRST, CHANGED)},  # a dose change: the replaced one is not current
        {"prescriptions": (FIRST, CHANGED, CHANGED_AGAIN)},  # refused: a replacer replaced
        {"age": 60, "depression": True, "prescriptions": (MORPHINE,)},  # through pydantic
        {"age": 126, "sex": "female"},
        {},
    ],
)
def test_checks_build_as_validated(data: dict[str, Any]) -> None:
    _same(data)


def test_the_fast_path_derives_what_pydantic_derives() -> None:
    fast = Patient(age=60, sex="female", prescriptions=(MORPHINE, DIAZEPAM))
    slow = _validated({"age": 60, "sex": "female", "prescriptions": (MORPHINE, DIAZEPAM)})
    assert fast.opioid_candidates == slow.opioid_candidates == (MORPHINE,)
    assert fast.prescription_classes == slow.prescription_classes
    assert fast.benzodiazepine is slow.benzodiazepine is True
    assert fast == slow


@settings(max_examples=200)
@given(
    st.lists(
        st.sampled_from(
            [
                MORPHINE,
                DIAZEPAM,
                BY_CODE,
                FIRST,
                CHANGED,
                CHANGED_AGAIN,
                DIAZEPAM_ID,
                BY_PRODUCT,
                UNKNOWN_CODE,
                BY_CODE_NAMED,
                AT_LEAST,
            ]
        ),
        max_size=5,
    ).map(tuple)
)
def test_derived_values_follow_their_definition(rxs: tuple[Prescription, ...]) -> None:
    """Issue 20, rounds 5 and 7: the derivation (one pass; no dose change, or one) as defined.

    Lists with and without identifiers, a replacer that names nothing in the list, one that
    replaces by the product's code (round 7 reads classes, identifiers and replacers in one
    pass, and looks positions up only when something replaces another).

    Current opioid candidates: the prescriptions no other of the list replaces, recognised as
    an opioid or not recognised, without their identifiers; co-prescription from the classes
    of those not replaced (stated unknown, list not complete: true when found, else unknown).
    """
    try:
        patient = Patient(prescriptions=rxs)
    except InvalidInputError:
        assert any(rx.replaces is not None for rx in rxs)  # only a replacer replaced refuses
        return
    replaced = {
        i for i, rx in enumerate(rxs) if any(new is not rx and new.replaces_item(rx) for new in rxs)
    }
    # the reference: the classes of the fields that name the medicine (not the memo by code)
    classes = [_classes(rx.dmd_code, rx.product_name, rx.drug, rx.form, rx.strength) for rx in rxs]
    assert [medicine_classes(rx) for rx in rxs] == classes
    assert patient.replaced == replaced
    assert patient.prescription_classes == tuple(classes)
    assert patient.opioid_candidates == tuple(
        rx.without_identity()
        for i, (rx, c) in enumerate(zip(rxs, classes, strict=True))
        if i not in replaced and (not c or MedicineClass.OPIOID in c)
    )
    current = [c for i, c in enumerate(classes) if i not in replaced]
    benzo = any(MedicineClass.BENZODIAZEPINE in c for c in current)
    assert patient.benzodiazepine is (True if benzo else None)
    assert all(rx.id is None and rx.replaces is None for rx in patient.opioid_candidates)
    # whether any prescription of the list (replaced or not) gives its dose as a minimum: the
    # check reads the flag from the prescriptions it counts only when this says one may
    assert patient._got.minimum is any(rx.dose_is_minimum for rx in rxs)


def test_classes_by_name_are_those_classify_medicine_gives() -> None:
    """The folders found once per process classify every catalogue name as found each time."""
    for product in load_catalogue().products[::7]:
        name = product.product_name
        assert _classes_of_name(name) == classify_medicine(name)
    # diazepam 5 mg tablets: a benzodiazepine (catalogue/medicine_classes.toml)
    assert _classes_of_name("Diazepam 5mg tablets") == {MedicineClass.BENZODIAZEPINE}


_STATED = (None, True, False)
_CO_PRESCRIBED = (  # the stated field, the property, the class, whether a stated "no" wins
    ("benzodiazepine_coprescribed", "benzodiazepine", MedicineClass.BENZODIAZEPINE, False),
    ("z_drug_coprescribed", "z_drug", MedicineClass.Z_DRUG, False),
    ("gabapentinoid_coprescribed", "gabapentinoid", MedicineClass.GABAPENTINOID, False),
    (
        "opioid_substitution_therapy",
        "on_opioid_substitution_therapy",
        MedicineClass.OPIOID_DEPENDENCE_TREATMENT,
        True,
    ),
)


def _expected(stated: bool | None, found: bool, *, complete: bool, false_wins: bool) -> object:
    """The combination as ``Patient`` documents it (``"error"``: a contradiction refused).

    Stated yes: yes. Not found: what is stated, except that with the whole medication list
    given (not for OST) an unstated class is absent. Found: yes, unless stated no: OST's
    stated "no" wins; for the others it contradicts the prescription.
    """
    if stated is True:
        return True
    if not found:
        return False if stated is None and complete and not false_wins else stated
    if stated is False:
        return False if false_wins else "error"
    return True


@pytest.mark.parametrize("complete", [False, True])
@pytest.mark.parametrize("current", [(MORPHINE,), (MORPHINE, DIAZEPAM)])
def test_co_prescription_combines_stated_and_derived_as_documented(
    current: tuple[Prescription, ...], complete: bool
) -> None:
    """Issue 20, round 6: the four derivations worked out at once (memoised), as defined.

    Every stated value of each field, with the class present or not, with the list complete
    or not; the other fields unstated.
    """
    present = frozenset().union(*(medicine_classes(rx) for rx in current))
    checked = refused = 0
    for field, prop, cls, false_wins in _CO_PRESCRIBED:
        found = cls in present
        for stated in _STATED:
            expected = _expected(stated, found, complete=complete, false_wins=false_wins)
            data = {field: stated, "medication_list_complete": complete}
            try:
                patient = Patient(prescriptions=current, **data)
            except InvalidInputError as exc:
                assert expected == "error"
                assert exc.field == field
                refused += 1
                continue
            assert getattr(patient, prop) is expected, (field, stated, complete)
            checked += 1
    assert checked >= 10
    assert refused == (1 if DIAZEPAM in current else 0)  # benzodiazepine stated "no"


def test_classes_of_a_code_alone_kept_by_the_code_are_those_of_its_fields() -> None:
    """Issue 20, check round 9: a code and a text alone are classified by the code (kept).

    Every seventh catalogue product, a code the catalogue does not hold, read with the memo
    by code empty, kept, and filled to its bound (emptied, then kept again): the classes of
    the fields that name the medicine, as a copy (its own record of the names given: not the
    shared one) and the patient's derivation give them. A name beside the code is read: the
    code's kept classes are not taken for it.
    """
    codes = [p.dmd_code for p in load_catalogue().products[::7]] + ["999999999"]
    rxs = [Prescription(dmd_code=code, dosage_text="one tablet twice a day") for code in codes]
    expected = [_classes(code, None, None, None, None) for code in codes]
    assert any(MedicineClass.OPIOID in c for c in expected)
    assert frozenset() in expected  # the code not in the catalogue: not recognised
    memo = patient_module._CLASSES_BY_CODE
    memo.clear()
    for _ in range(2):  # not kept, then kept
        assert [medicine_classes(rx) for rx in rxs] == expected
        assert [medicine_classes(rx.model_copy()) for rx in rxs] == expected
        for start in range(0, len(rxs), 50):  # at most 100 prescriptions a patient
            patient = Patient(prescriptions=tuple(rxs[start : start + 50]))
            assert patient.prescription_classes == tuple(expected[start : start + 50])
    assert set(memo) >= set(codes)
    memo.clear()
    try:
        for i in range(patient_module._BY_CODE_MAX):  # filled to its bound: emptied when full
            memo[f"1{i:08d}"] = frozenset()  # (not real classes: never left behind)
        assert [medicine_classes(rx) for rx in rxs] == expected
        assert len(memo) == len(set(codes))  # emptied, then each kept again
    finally:
        memo.clear()
    named = medicine_classes(BY_CODE_NAMED)
    assert MedicineClass.BENZODIAZEPINE in named  # its name read beside its code
    assert MedicineClass.BENZODIAZEPINE not in medicine_classes(BY_CODE)
    patient = Patient(prescriptions=(BY_CODE, BY_CODE_NAMED))
    assert patient.benzodiazepine is True
    assert Patient(prescriptions=(BY_CODE,)).benzodiazepine is None
