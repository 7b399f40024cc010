"""The CDS Hooks services without a web framework: discovery, and request -> cards.

:class:`CDSHooksService` holds immutable knowledge (rulesets, table, profile, codelists, card
content) and is safe to share across threads. :meth:`CDSHooksService.call` reads the request
(:mod:`opioidcds.cdshooks.record`), runs :func:`opioidcds.check_prescription` for each
draft prescription in order (each one is checked with the current prescriptions and the draft
orders before it, as they will be signed together) and turns alerts and unreadable inputs into
cards (:mod:`opioidcds.cdshooks.cards`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Final

from opioidcds._decide.alerts import check_prescription
from opioidcds._decide.hospital import CareSetting, check_discharge, check_inpatient
from opioidcds._decide.knowledge import Knowledge, default_knowledge
from opioidcds._decide.rules import Profile
from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds._inputs.patient import Patient, medicine_classes
from opioidcds._inputs.prescription import Prescription
from opioidcds._knowledge.products import MedicineClass, load_catalogue
from opioidcds._measure.ome import calculate_ome
from opioidcds._measure.results import OMEResult
from opioidcds._resolve.dosage import parse_dosage
from opioidcds.cdshooks.acute_cards import AcuteCardBuilder
from opioidcds.cdshooks.acute_fhir import (
    AcuteMapping,
    AcuteRead,
    default_acute_mapping,
    read_acute,
)
from opioidcds.cdshooks.cards import CardBuilder, OmeWorking
from opioidcds.cdshooks.codelists import (
    CardContent,
    Codelists,
    default_card_content,
    default_codelists,
)
from opioidcds.cdshooks.models import (
    Card,
    CardsResponse,
    DiscoveryResponse,
    HookRequest,
    ServiceDescription,
)
from opioidcds.cdshooks.record import (
    DraftItem,
    MedicationReader,
    Record,
    RequestError,
    read_record,
)

__all__ = [
    "SERVICES",
    "CDSHooksService",
    "PrefetchMissingError",
    "ServiceSpec",
    "UnknownServiceError",
]


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One CDS service: its id, hook, title and description."""

    id: str
    hook: str
    title: str
    description: str


SERVICES: Final = (
    ServiceSpec(
        id="opioidcds-order-select",
        hook="order-select",
        title="Opioid prescribing checks (order select)",
        description=(
            "When an opioid, benzodiazepine or gabapentinoid is selected: total oral morphine "
            "equivalent (OME) with the selected orders, high-dose, co-prescription and "
            "fentanyl-patch alerts, each with its arithmetic, rule trace and source."
        ),
    ),
    ServiceSpec(
        id="opioidcds-order-sign",
        hook="order-sign",
        title="Opioid prescribing checks (order sign)",
        description=(
            "Before draft orders are signed: the same checks over every draft medication order "
            "together with the patient's active prescriptions."
        ),
    ),
)

_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


@lru_cache(maxsize=1024)
def _ome(prescriptions: tuple[Prescription, ...], knowledge: Knowledge) -> OMEResult:
    """OME of ``prescriptions`` (memoised: frozen inputs, immutable result, no identifiers)."""
    return calculate_ome(
        prescriptions,
        table=knowledge.table,
        vocabulary=knowledge.vocabulary,
        catalogue=knowledge.catalogue,
    )


class UnknownServiceError(LookupError):
    """No service has this id (answered 404)."""


class PrefetchMissingError(LookupError):
    """Required prefetch is missing and the service does not query FHIR (answered 412)."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        """Record the missing keys (names of prefetch templates, never data)."""
        self.keys = keys
        super().__init__(", ".join(keys))


def _prefetch_templates(codelists: Codelists) -> dict[str, str]:
    system = codelists.code_system
    codes = ",".join(f"{system}|{c}" for c in codelists.all_codes())
    patient = "{{context.patientId}}"
    return {
        "patient": f"Patient/{patient}",
        "medications": f"MedicationRequest?patient={patient}&status=active",
        "conditions": f"Condition?patient={patient}&code={codes}",
        "observations": f"Observation?patient={patient}&category=social-history",
        "encounters": f"Encounter?patient={patient}&class={_ACT_CODE}|EMER",
        "encounter": "Encounter/{{context.encounterId}}",
        "administrations": (
            f"MedicationAdministration?patient={patient}&context={{{{context.encounterId}}}}"
        ),
    }


class CDSHooksService:
    """The order-select and order-sign services over one immutable knowledge bundle.

    Args:
        knowledge: rulesets, table and profile (default: :func:`default_knowledge`).
        codelists: SNOMED CT -> risk input lists (default: the bundled ones).
        card_content: guidance links and override reasons (default: the bundled ones).
        today: a clock for the assessment date (default: today's UTC date); tests pass their own.
        acute_mapping: FHIR codes of the hospital settings (default: the bundled
            ``codelists/acute-fhir.toml``).
        acute_profile: a trust profile for the ``discharge`` and ``inpatient`` rulesets.
        now: a clock (timezone-aware) for the hospital checks' assessment time (default: UTC
            now).
    """

    def __init__(
        self,
        knowledge: Knowledge | None = None,
        *,
        codelists: Codelists | None = None,
        card_content: CardContent | None = None,
        today: Callable[[], dt.date] | None = None,
        acute_mapping: AcuteMapping | None = None,
        acute_profile: Profile | None = None,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        """Bind the knowledge; nothing here changes after construction."""
        self.knowledge = knowledge if knowledge is not None else default_knowledge()
        self.codelists = codelists if codelists is not None else default_codelists()
        self.card_content = card_content if card_content is not None else default_card_content()
        self._today = today or (lambda: dt.datetime.now(dt.UTC).date())
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self.acute_mapping = acute_mapping if acute_mapping is not None else default_acute_mapping()
        self.acute_profile = acute_profile
        self._cards = CardBuilder(self.knowledge, self.card_content, self.codelists)
        self._acute_cards = AcuteCardBuilder(self.card_content, self._cards.override_reasons)
        self._reader = MedicationReader(self.knowledge.catalogue, self.knowledge.vocabulary)
        templates = _prefetch_templates(self.codelists)
        self._discovery = DiscoveryResponse(
            services=tuple(
                ServiceDescription(
                    hook=s.hook,
                    title=s.title,
                    description=s.description,
                    id=s.id,
                    prefetch=templates,
                    usageRequirements=(
                        "Send prefetch 'patient' and 'medications' (the service does not query "
                        "the FHIR server: without them it answers 412). 'conditions', "
                        "'observations' and 'encounters' fill risk inputs; without them those "
                        "inputs are unknown. draftOrders must be an R4 Bundle. Hospital orders "
                        "(MedicationRequest.category discharge or inpatient, or an inpatient "
                        "encounter in context with prefetch 'encounter') get the acute-trust "
                        "checks; 'administrations' feeds the IV morphine bolus rule."
                    ),
                )
                for s in SERVICES
            )
        )
        self._by_id: Mapping[str, ServiceSpec] = {s.id: s for s in SERVICES}

    def warm_up(self) -> None:
        """Load everything loaded on first use (catalogue, grammar), before serving requests."""
        if self.knowledge.catalogue is None:
            load_catalogue()
        parse_dosage("one tablet twice a day")

    def discovery(self) -> DiscoveryResponse:
        """The discovery document (``GET /cds-services``)."""
        return self._discovery

    def spec(self, service_id: str) -> ServiceSpec:
        """The service with ``service_id``.

        Raises:
            UnknownServiceError: no such service.
        """
        try:
            return self._by_id[service_id]
        except KeyError:
            raise UnknownServiceError(service_id) from None

    def call(self, service_id: str, request: HookRequest) -> CardsResponse:
        """Answer one hook call with cards (empty when there is nothing to say).

        Raises:
            UnknownServiceError: no such service (404).
            RequestError: the request is malformed; ``path`` names the field (400).
            PrefetchMissingError: ``patient`` or ``medications`` prefetch is missing (412).
        """
        spec = self.spec(service_id)
        if request.hook != spec.hook:
            raise RequestError("hook", f"must be '{spec.hook}' for this service")
        try:
            record = read_record(
                request.hook,
                request.context,
                request.prefetch,
                codelists=self.codelists,
                reader=self._reader,
                today=self._today(),
            )
        except LookupError as exc:
            raise PrefetchMissingError(tuple(str(k) for k in exc.args[0])) from None
        acute = read_acute(
            request.context,
            request.prefetch,
            record.drafts,
            mapping=self.acute_mapping,
            vocabulary=self.knowledge.vocabulary,
            now=self._now(),
            considered={d.order_index for d in record.drafts}
            | {i for i, _label, _p in record.draft_problems},
        )
        cards = self._cards_for(record, frozenset(acute.settings))
        if acute.settings:
            cards.extend(self._hospital_cards(acute))
        return CardsResponse(cards=tuple(cards))

    def _hospital_cards(self, acute: AcuteRead) -> list[Card]:
        """Cards of the discharge and inpatient checks (issue 10) for the hospital orders."""
        build = self._acute_cards
        cards: list[Card] = []
        k = self.knowledge
        for setting, episode in (
            (CareSetting.DISCHARGE, acute.discharge),
            (CareSetting.INPATIENT, acute.inpatient),
        ):
            if episode is None:
                continue
            orders = ", ".join(
                f"draft order {i + 1}" for i, s in sorted(acute.settings.items()) if s is setting
            )
            try:
                check = (
                    check_discharge(
                        episode,
                        profile=self.acute_profile,
                        table=k.table,
                        vocabulary=k.vocabulary,
                        catalogue=k.catalogue,
                    )
                    if setting is CareSetting.DISCHARGE
                    else check_inpatient(
                        episode, profile=self.acute_profile, vocabulary=k.vocabulary
                    )
                )
            except InvalidInputError as exc:
                cards.append(build.failed_card(setting, exc.field, exc.rule))
                continue
            except OpioidCDSError:
                cards.append(build.failed_card(setting, "(episode)", "could not be checked"))
                continue
            cards.extend(build.alert_card(a, check, orders) for a in check.alerts)
            prefix = (
                "context.draftOrders"
                if setting is CareSetting.DISCHARGE
                else "prefetch.administrations"
            )
            problems = [p for p in acute.problems if p.path.startswith(prefix)]
            incomplete = setting is CareSetting.INPATIENT and acute.administrations_incomplete
            unevaluated = build.unevaluated_card(
                check, problems, incomplete=incomplete and not check.alerts
            )
            if unevaluated is not None:
                cards.append(unevaluated)
        return cards

    def _cards_for(self, record: Record, hospital: frozenset[int] = frozenset()) -> list[Card]:
        cards: list[Card] = []
        build = self._cards
        for order_index, label, problem in record.draft_problems:
            cards.append(build.unread_order(order_index, label, problem))
        if record.record_problems:
            cards.append(build.unread_record(record.record_problems))
        coprescribed = self._coprescription_known(record)
        risk_md = build.risk_markdown(record)
        counted: list[Prescription] = list(record.current)
        labels: list[str] = [f"current: {lbl}" for lbl in record.current_labels]
        first: dict[Prescription, int] = {}  # each distinct prescription -> its first position
        for j, rx in enumerate(counted):
            first.setdefault(rx, j)
        for item in record.drafts:
            if item.order_index in hospital:  # checked by the hospital rulesets instead
                continue
            same = first.get(item.prescription)
            if same is not None and same >= len(record.current):
                # the same as an earlier draft: check_prescription would count it once
                cards.append(build.duplicate_order(item, labels[same]))
                continue
            if same is not None:  # the same as a current prescription: a re-issue
                item = replace(item, reauthorisation=True)  # noqa: PLW2901 - the item, re-read
            risk = dict(record.risk)
            try:
                patient = Patient(
                    age=record.age,
                    sex=record.sex,
                    depression=risk.get("depression"),
                    other_psychological_disease=risk.get("other_psychological_disease"),
                    history_substance_or_alcohol_misuse=risk.get(
                        "history_substance_or_alcohol_misuse"
                    ),
                    family_history_dependence=risk.get("family_history_dependence"),
                    unemployed=risk.get("unemployed"),
                    preadolescent_sexual_abuse_history=risk.get(
                        "preadolescent_sexual_abuse_history"
                    ),
                    cancer_pain=risk.get("cancer_pain") is True,
                    palliative_care=risk.get("palliative_care") is True,
                    opioid_substitution_therapy=risk.get("opioid_substitution_therapy"),
                    benzodiazepine_coprescribed=coprescribed[MedicineClass.BENZODIAZEPINE],
                    z_drug_coprescribed=coprescribed[MedicineClass.Z_DRUG],
                    gabapentinoid_coprescribed=coprescribed[MedicineClass.GABAPENTINOID],
                    last_ae_attendance=record.last_ae_attendance,
                    as_of=record.as_of,
                    prescriptions=tuple(counted),
                )
                alerts = check_prescription(
                    patient,
                    item.prescription,
                    reauthorisation=item.reauthorisation,
                    knowledge=self.knowledge,
                )
                ome = self._ome_working(patient, labels, item, listed=same is not None)
            except InvalidInputError as exc:
                # not added to the totals of later orders (its card says it was not checked)
                cards.append(build.unchecked_order(item, exc.field, exc.rule))
                continue
            except OpioidCDSError:
                cards.append(build.unchecked_order(item, item.path, "could not be checked"))
                continue
            if alerts:
                ome_md = build.ome_markdown(ome)
                cards.extend(build.alert_card(a, item, ome, ome_md, risk_md) for a in alerts)
            first.setdefault(item.prescription, len(counted))
            counted.append(item.prescription)
            labels.append(f"draft order {item.order_index + 1}: {item.label}")
        return cards

    @staticmethod
    def _coprescription_known(record: Record) -> dict[MedicineClass, bool | None]:
        """False for a class no current or draft medicine belongs to, when every medicine read.

        The active medication list sent as prefetch is the record of current prescriptions: when
        it and every draft order were read, a class absent from all of them is absent (the
        record says so). Otherwise unknown; present classes are derived by the Patient model.
        """
        classes = [MedicineClass.BENZODIAZEPINE, MedicineClass.Z_DRUG, MedicineClass.GABAPENTINOID]
        complete = not record.draft_problems and not any(
            p.path.startswith("prefetch.medications") for p in record.record_problems
        )
        found: set[MedicineClass] = set()
        for rx in (*record.current, *(d.prescription for d in record.drafts)):
            found |= medicine_classes(rx)
        return {c: (False if complete and c not in found else None) for c in classes}

    def _ome_working(
        self, patient: Patient, labels: list[str], item: DraftItem, *, listed: bool
    ) -> OmeWorking | None:
        """The OME working of the opioids counted with this draft (None: no opioid at all)."""
        chosen = [
            (lbl, rx)
            for i, (lbl, rx, classes) in enumerate(
                zip(labels, patient.prescriptions, patient.prescription_classes, strict=True)
            )
            if (not classes or MedicineClass.OPIOID in classes)
            and i not in patient.replaced
            and not item.prescription.replaces_item(rx)  # a draft superseding an active order
        ]
        classes = medicine_classes(item.prescription)
        includes = not classes or MedicineClass.OPIOID in classes
        if includes and not listed:
            chosen.append((f"this order: {item.label}", item.prescription))
        if not chosen:
            return None
        result = _ome(tuple(rx.without_identity() for _lbl, rx in chosen), self.knowledge)
        return OmeWorking(
            result=result, labels=tuple(lbl for lbl, _rx in chosen), includes_order=includes
        )
