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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final
from urllib.parse import quote

from opioidcds._decide.alerts import check_prescription
from opioidcds._decide.hospital import CareSetting, check_discharge, check_inpatient
from opioidcds._decide.knowledge import Knowledge, default_knowledge
from opioidcds._decide.rules import Profile
from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds._inputs.patient import Patient, medicine_classes
from opioidcds._inputs.prescription import Prescription
from opioidcds._knowledge.products import MedicineClass, load_catalogue
from opioidcds._knowledge.provenance import Provenance, build, header_source
from opioidcds._knowledge.rxnorm import default_rxnorm_products
from opioidcds._measure.ome import calculate_ome
from opioidcds._measure.results import OMEResult
from opioidcds._memo import memo_on_repeat
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
from opioidcds.cdshooks.fetch import FetchResult, FhirFetcher, fhir_id
from opioidcds.cdshooks.legacy import normalise_request
from opioidcds.cdshooks.models import (
    Card,
    CardsResponse,
    DiscoveryResponse,
    HookRequest,
    Link,
    ServiceDescription,
)
from opioidcds.cdshooks.patients import coprescription_known, patient_of
from opioidcds.cdshooks.record import (
    DraftItem,
    MedicationReader,
    Record,
    RequestError,
    collect_medications,
    is_operation_outcome,
    medication_references,
    read_record,
    replaced_again,
    search_incomplete,
)
from opioidcds.cdshooks.review import ReviewCardBuilder, apply_terms, sort_cards

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
    ServiceSpec(
        id="opioidcds-patient-view",
        hook="patient-view",
        title="Opioid review (patient view)",
        description=(
            "When a patient's record is opened: one opioid review card with the total daily "
            "morphine equivalent and its arithmetic, the risk level and support tier, the "
            "unknowns that could change them, and the next step."
        ),
    ),
)

_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_PATIENT_VIEW_KEYS: Final = (
    "patient",
    "medications",
    "statements",
    "conditions",
    "observations",
    "encounters",
)
_USAGE: Final = (
    "Send prefetch 'patient' and 'medications', or fhirServer with fhirAuthorization (a bearer "
    "token) for the service to read them; without either it answers 412. 'statements' "
    "(MedicationStatements) adds medicines the patient takes that were prescribed elsewhere. "
    "'conditions', 'observations' and 'encounters' fill risk inputs; without them those inputs "
    "are unknown. Paged prefetch is followed through fhirServer, or reported as incomplete. "
    "draftOrders should be an R4 Bundle. Hospital orders (MedicationRequest.category discharge "
    "or inpatient, or an inpatient encounter in context with prefetch 'encounter') get the "
    "acute-trust checks; 'administrations' feeds the IV morphine bolus rule.",
    "Send prefetch 'patient' and 'medications' (and 'statements'), or fhirServer with "
    "fhirAuthorization for the service to read them; without either it answers 412. "
    "'conditions', 'observations' and 'encounters' fill risk inputs; without them those inputs "
    "are unknown and the card names them.",
)


def _references(context: Mapping[str, object], prefetch: Mapping[str, object | None]) -> list[str]:
    """``medicationReference`` targets of the draft orders and of the medicine lists."""
    resources: list[Mapping[str, object]] = []
    for value in (
        context.get("draftOrders"),
        prefetch.get("medications"),
        prefetch.get("statements"),
    ):
        if isinstance(value, Mapping) and value.get("resourceType") == "Bundle":
            entries = value.get("entry")
            resources.extend(
                entry["resource"]
                for entry in (entries if isinstance(entries, list) else ())
                if isinstance(entry, Mapping) and isinstance(entry.get("resource"), Mapping)
            )
    return medication_references(resources)


def _templates_for(spec: ServiceSpec, templates: Mapping[str, str]) -> dict[str, str]:
    """The prefetch templates of one service (patient-view has no encounter in context)."""
    if spec.hook == "patient-view":
        return {k: v for k, v in templates.items() if k in _PATIENT_VIEW_KEYS}
    return dict(templates)


def _ome(prescriptions: tuple[Prescription, ...], knowledge: Knowledge) -> OMEResult:
    """OME of ``prescriptions`` (memoised from the second sight: frozen inputs, no identifiers).

    Keyed by content, with how each writes its numbers (the result shows them as written); a
    stream of different medicine lists, each seen once, does not fill and empty the memo.
    """
    return _ome_kept(
        prescriptions, tuple([rx.written_numbers() for rx in prescriptions]), knowledge
    )


@memo_on_repeat(maxsize=1024)
def _ome_kept(
    prescriptions: tuple[Prescription, ...],
    _written: tuple[tuple[str, ...] | None, ...],
    knowledge: Knowledge,
) -> OMEResult:
    return calculate_ome(
        prescriptions,
        table=knowledge.table,
        vocabulary=knowledge.vocabulary,
        catalogue=knowledge.catalogue,
    )


class UnknownServiceError(LookupError):
    """No service has this id (answered 404)."""


class PrefetchMissingError(LookupError):
    """Required prefetch is missing and could not be fetched (answered 412).

    ``reasons`` maps a key to why fetching it failed (a fixed sentence), when it was tried.
    """

    def __init__(self, keys: tuple[str, ...], reasons: Mapping[str, str] | None = None) -> None:
        """Record the missing keys (names of prefetch templates, never data)."""
        self.keys = keys
        self.reasons = dict(reasons or {})
        super().__init__(", ".join(keys))


def _prefetch_templates(codelists: Codelists) -> dict[str, str]:
    system = codelists.code_system
    codes = ",".join(f"{system}|{c}" for c in codelists.all_codes())
    patient = "{{context.patientId}}"
    return {
        "patient": f"Patient/{patient}",
        "medications": f"MedicationRequest?patient={patient}&status=active",
        "statements": f"MedicationStatement?patient={patient}&status=active",
        "conditions": f"Condition?patient={patient}&code={codes}",
        "observations": f"Observation?patient={patient}&category=social-history",
        "encounters": f"Encounter?patient={patient}&class={_ACT_CODE}|EMER",
        "encounter": "Encounter/{{context.encounterId}}",
        "administrations": (
            f"MedicationAdministration?patient={patient}&context={{{{context.encounterId}}}}"
        ),
    }


def reading_provenance(
    codelists: Codelists, card_content: CardContent, acute_mapping: AcuteMapping
) -> Provenance:
    """The provenance of what the service reads requests and writes cards with.

    Beside the rulesets, table, vocabulary, dose units and catalogue of each decision: the
    risk-input codelists (which Conditions and Observations count as cancer pain, palliative
    care, depression, ...), the card content, the hospital settings' FHIR codes and the FHIR
    reader's RxNorm products (``codelists/rxnorm-opioid-products.toml``). Each card's provenance
    extension covers these too (``docs/safety/provenance.md``).

    Raises:
        KnowledgeBaseError: the bundled RxNorm file is missing or invalid.
    """
    return build(
        (
            header_source("fhir-codelists", codelists),
            header_source("card-content", card_content),
            header_source("fhir-acute-mapping", acute_mapping),
            header_source("fhir-rxnorm-products", default_rxnorm_products()),
        )
    )


class _Tally:
    """The prescriptions counted for the drafts of one request so far, in order, with labels.

    ``counted`` starts with the current (active) prescriptions; each draft checked is added
    after its check, so a later draft is checked with the earlier ones. A draft the same as a
    current prescription is a re-issue: counted once, as the current one it repeats. A draft
    the same as an earlier draft, new or re-issued, is a duplicate (signing both would supply
    it twice). An active order is taken off the totals once, by the first draft replacing it.
    """

    def __init__(self, record: Record) -> None:
        """Start from the current prescriptions of ``record``."""
        self.counted: Final[list[Prescription]] = list(record.current)
        self.labels: Final[list[str]] = [f"current: {lbl}" for lbl in record.current_labels]
        self._current: Final = len(self.counted)
        self._first: Final[dict[Prescription, int]] = {}  # each prescription -> first position
        for j, rx in enumerate(self.counted):
            self._first.setdefault(rx, j)
        self._reissued: Final[dict[Prescription, str]] = {}  # re-issued -> by which draft
        self._taken_off: Final[set[str]] = set()  # the active orders a draft already replaces

    def repeats(self, drafted: Prescription) -> str | None:
        """The label of the earlier draft ``drafted`` repeats (new or a re-issue), else None."""
        at = self._first.get(drafted)
        if at is not None and at >= self._current:
            return self.labels[at]
        return self._reissued.get(drafted)

    def reissues(self, drafted: Prescription) -> bool:
        """Whether ``drafted`` is the same as a current prescription (a re-issue)."""
        return drafted in self._first

    def prepared(self, draft: DraftItem, *, reissue: bool) -> DraftItem:
        """``draft`` as it is checked.

        A re-issue is a re-authorisation; a draft replacing an order an earlier draft already
        replaces is an addition to that draft (:func:`~.record.replaced_again`).
        """
        if reissue:
            return replace(draft, reauthorisation=True, new_because=None)
        replaces = draft.prescription.replaces
        if replaces is not None and replaces in self._taken_off:
            return replaced_again(draft)
        return draft

    def add(self, drafted: Prescription, item: DraftItem, *, reissue: bool) -> None:
        """Count checked ``item`` (sent as ``drafted``) for the drafts after it."""
        label = f"draft order {item.order_index + 1}: {item.label}"
        if reissue:  # counted once: as the current prescription it repeats
            self._reissued.setdefault(drafted, label)
            return
        self._first.setdefault(drafted, len(self.counted))
        self.counted.append(item.prescription)
        self.labels.append(label)
        if drafted.replaces is not None:
            self._taken_off.add(drafted.replaces)


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
        review_links: links put on the patient-view review card (a taper plan, a report).
        page_size: the ``_count`` the service asks for when it searches the client's FHIR
            server (pages are followed; see :class:`~opioidcds.cdshooks.fetch.FetchLimits`).
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
        review_links: Sequence[Link] = (),
        page_size: int = 100,
    ) -> None:
        """Bind the knowledge; nothing here changes after construction."""
        self.knowledge = knowledge if knowledge is not None else default_knowledge()
        self.codelists = codelists if codelists is not None else default_codelists()
        self.card_content = card_content if card_content is not None else default_card_content()
        self._today = today or (lambda: dt.datetime.now(dt.UTC).date())
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self.acute_mapping = acute_mapping if acute_mapping is not None else default_acute_mapping()
        self.acute_profile = acute_profile
        self.reading_provenance = reading_provenance(
            self.codelists, self.card_content, self.acute_mapping
        )
        reading = self.reading_provenance
        self._cards = CardBuilder(self.knowledge, self.card_content, self.codelists, reading)
        self._acute_cards = AcuteCardBuilder(
            self.card_content, self._cards.override_reasons, reading
        )
        self._reader = MedicationReader(self.knowledge.catalogue, self.knowledge.vocabulary)
        templates = _prefetch_templates(self.codelists)
        self._templates = templates
        self._page_size = page_size
        self._review = ReviewCardBuilder(
            self.knowledge, self.card_content, self.codelists, review_links, reading
        )
        self._discovery = DiscoveryResponse(
            services=tuple(
                ServiceDescription(
                    hook=s.hook,
                    title=s.title,
                    description=s.description,
                    id=s.id,
                    prefetch=_templates_for(s, templates),
                    usageRequirements=_USAGE[s.hook == "patient-view"],
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

    def call(
        self, service_id: str, request: HookRequest, fetched: FetchResult | None = None
    ) -> CardsResponse:
        """Answer one hook call with cards (empty when there is nothing to say).

        ``fetched`` is what :meth:`call_async` read from the client's FHIR server; without it
        only the request's prefetch is read.

        Raises:
            UnknownServiceError: no such service (404).
            RequestError: the request is malformed; ``path`` names the field (400).
            PrefetchMissingError: ``patient`` or ``medications`` is missing, or an
                OperationOutcome, and could not be fetched (412).
        """
        spec = self.spec(service_id)
        if request.hook != spec.hook:
            raise RequestError("hook", f"must be '{spec.hook}' for this service")
        context, prefetch, notes = normalise_request(request.context, request.prefetch)
        got = fetched or FetchResult()
        for key, value in got.values.items():
            if prefetch.get(key) is None or is_operation_outcome(prefetch.get(key)):
                prefetch[key] = value
            elif search_incomplete(prefetch[key]) and key not in got.incomplete:
                prefetch[key] = value  # the whole list, read page by page
        try:
            record = read_record(
                request.hook,
                context,
                prefetch,
                codelists=self.codelists,
                reader=self._reader,
                today=self._today(),
                medications=got.medications,
                incomplete=got.incomplete,
                notes=(*notes, *(f"{key}: {why}" for key, why in got.problems)),
            )
        except LookupError as exc:
            keys = tuple(str(k) for k in exc.args[0])
            reasons = {k: why for k, why in got.problems if k in keys}
            raise PrefetchMissingError(keys, reasons) from None
        if request.hook == "patient-view":
            patient_id = fhir_id(context.get("patientId"))
            return CardsResponse(cards=tuple(self._review.cards(record, patient_id)))
        acute = read_acute(
            context,
            prefetch,
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
        return CardsResponse(cards=tuple(apply_terms(sort_cards(cards), self._review.terms)))

    async def call_async(
        self, service_id: str, request: HookRequest, fetcher: FhirFetcher | None
    ) -> CardsResponse:
        """:meth:`call`, after reading from the client's FHIR server what the request lacks.

        With ``fhirServer`` and a bearer ``fhirAuthorization`` (and a ``fetcher``), missing or
        OperationOutcome prefetch keys and paged searches are read from the server (every page
        up to the fetcher's bounds), and referenced Medications the request does not carry
        are read one by one. Without them this is :meth:`call`.

        Raises:
            The errors of :meth:`call`.
        """
        spec = self.spec(service_id)
        usable = fetcher.usable(request.fhirServer, request.fhirAuthorization) if fetcher else None
        if fetcher is None or usable is None or request.hook != spec.hook:
            return self.call(service_id, request)
        base, token = usable
        context, prefetch, _notes = normalise_request(request.context, request.prefetch)
        queries = self._queries(spec, context, prefetch)
        present = collect_medications(context.get("draftOrders"), *prefetch.values())
        refs = [r for r in _references(context, prefetch) if r not in present]
        if not queries and not refs:
            return self.call(service_id, request)
        fetched = await fetcher.fetch(base, token, queries, refs)
        more = [
            r
            for r in _references({}, fetched.values)
            if r not in present and r not in fetched.medications
        ]
        if more:
            extra = await fetcher.fetch(base, token, {}, more)
            fetched.medications.update(extra.medications)
            fetched.problems.extend(extra.problems)
        return self.call(service_id, request, fetched)

    def _queries(
        self,
        spec: ServiceSpec,
        context: Mapping[str, object],
        prefetch: Mapping[str, object | None],
    ) -> dict[str, str]:
        """Relative URLs of the prefetch keys the request lacks or sent incomplete."""
        patient = fhir_id(context.get("patientId"))
        if patient is None:
            return {}
        encounter = fhir_id(context.get("encounterId"))
        out: dict[str, str] = {}
        for key, template in _templates_for(spec, self._templates).items():
            if "{{context.encounterId}}" in template and encounter is None:
                continue
            value = prefetch.get(key)
            if (
                value is not None
                and not is_operation_outcome(value)
                and not search_incomplete(value)
            ):
                continue
            # search parameters as typed references (Patient/id): every server accepts them
            query = template.replace(
                "patient={{context.patientId}}", f"patient=Patient/{quote(patient, safe='')}"
            ).replace(
                "context={{context.encounterId}}",
                f"context=Encounter/{quote(encounter or '', safe='')}",
            )
            query = query.replace("{{context.patientId}}", quote(patient, safe=""))
            query = query.replace("{{context.encounterId}}", quote(encounter or "", safe=""))
            if "?" in query:
                query += f"&_count={self._page_size}"
            out[key] = query
        return out

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
                        ruleset=k.rulesets.get("discharge"),
                    )
                    if setting is CareSetting.DISCHARGE
                    else check_inpatient(
                        episode,
                        profile=self.acute_profile,
                        vocabulary=k.vocabulary,
                        ruleset=k.rulesets.get("inpatient"),
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
        coprescribed = coprescription_known(record)
        risk_md = build.risk_markdown(record)
        tally = _Tally(record)
        quiet = False  # an order was checked and raised no alert
        for draft in record.drafts:
            if draft.order_index in hospital:  # checked by the hospital rulesets instead
                continue
            drafted = draft.prescription
            same_as = tally.repeats(drafted)
            if same_as is not None:  # check_prescription would count it once
                alone = sum(d.order_index == draft.order_index for d in record.drafts) == 1
                cards.append(build.duplicate_order(draft, same_as, removable=alone))
                continue
            reissue = tally.reissues(drafted)
            item = tally.prepared(draft, reissue=reissue)
            try:
                patient = patient_of(record, tally.counted, coprescribed)
                alerts = check_prescription(
                    patient,
                    item.prescription,
                    reauthorisation=item.reauthorisation,
                    knowledge=self.knowledge,
                )
                ome = self._ome_working(patient, tally.labels, item, listed=reissue)
            except InvalidInputError as exc:
                # not added to the totals of later orders (its card says it was not checked);
                # named by the order's path: the error's field is the library's argument name
                cards.append(build.unchecked_order(item, item.path, exc.rule))
                continue
            except OpioidCDSError:
                cards.append(build.unchecked_order(item, item.path, "could not be checked"))
                continue
            if alerts:
                ome_md = build.ome_markdown(ome)
                cards.extend(build.alert_card(a, item, ome, ome_md, risk_md) for a in alerts)
            else:
                quiet = True
            tally.add(drafted, item, reissue=reissue)
        switched_off = build.alerts_switched_off() if quiet else None
        if switched_off is not None:
            cards.append(switched_off)
        return cards

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
