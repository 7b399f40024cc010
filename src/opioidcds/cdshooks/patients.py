"""The :class:`~opioidcds.Patient` a CDS Hooks request describes (shared by every service)."""

from __future__ import annotations

from collections.abc import Sequence

from opioidcds._inputs.patient import Patient, medicine_classes
from opioidcds._inputs.prescription import Prescription
from opioidcds._knowledge.products import MedicineClass
from opioidcds.cdshooks.record import Record

__all__ = ["coprescription_known", "patient_of", "substitution_therapy"]


def coprescription_known(record: Record) -> dict[MedicineClass, bool | None]:
    """False for a class no current or draft medicine belongs to, when every medicine was read.

    The active medication list sent (or fetched) is the record of current prescriptions: when
    it, the medication statements and every draft order were read whole, a class absent from
    all of them is absent (the record says so). Otherwise unknown; present classes are derived
    by the Patient model.
    """
    classes = [MedicineClass.BENZODIAZEPINE, MedicineClass.Z_DRUG, MedicineClass.GABAPENTINOID]
    complete = not record.draft_problems and not any(
        p.path.startswith(("prefetch.medications", "prefetch.statements"))
        for p in record.record_problems
    )
    found: set[MedicineClass] = set()
    for rx in (*record.current, *(d.prescription for d in record.drafts)):
        found |= medicine_classes(rx)
    return {c: (False if complete and c not in found else None) for c in classes}


def substitution_therapy(record: Record) -> bool | None:
    """Opioid substitution therapy: from the record's codes, or True if a draft order is OST.

    The scope excludes opioid substitution therapy from dose thresholds
    (``rules/prescribing-alerts.toml``, input ``dose_thresholds_apply``). The Patient model
    derives it from the current prescriptions; draft orders are signed with them, so a draft
    that is an OST presentation (``catalogue/medicine_classes.toml``: buprenorphine with
    naloxone, buprenorphine sublingual 2 mg and above, methadone oral solution) puts the
    patient on OST for every draft of the request, as a current one would.
    """
    stated = record.risk.get("opioid_substitution_therapy")
    if stated is True:
        return True
    if any(
        MedicineClass.OPIOID_DEPENDENCE_TREATMENT in medicine_classes(d.prescription)
        for d in record.drafts
    ):
        return True
    return stated


def patient_of(
    record: Record,
    prescriptions: Sequence[Prescription],
    coprescribed: dict[MedicineClass, bool | None],
) -> Patient:
    """The Patient of ``record`` taking ``prescriptions``.

    Raises:
        InvalidInputError: a value read from the record is not valid for the Patient model.
    """
    risk = dict(record.risk)
    return Patient(
        age=record.age,
        sex=record.sex,
        depression=risk.get("depression"),
        other_psychological_disease=risk.get("other_psychological_disease"),
        history_substance_or_alcohol_misuse=risk.get("history_substance_or_alcohol_misuse"),
        family_history_dependence=risk.get("family_history_dependence"),
        unemployed=risk.get("unemployed"),
        preadolescent_sexual_abuse_history=risk.get("preadolescent_sexual_abuse_history"),
        cancer_pain=risk.get("cancer_pain") is True,
        palliative_care=risk.get("palliative_care") is True,
        opioid_substitution_therapy=substitution_therapy(record),
        benzodiazepine_coprescribed=coprescribed[MedicineClass.BENZODIAZEPINE],
        z_drug_coprescribed=coprescribed[MedicineClass.Z_DRUG],
        gabapentinoid_coprescribed=coprescribed[MedicineClass.GABAPENTINOID],
        last_ae_attendance=record.last_ae_attendance,
        as_of=record.as_of,
        prescriptions=tuple(prescriptions),
    )
