"""Cards: an :class:`~opioidcds.Alert`, or an input not read, as a CDS Hooks 2.0 card.

- ``summary``: the alert's summary, at most 139 characters (cut with an ellipsis if longer).
- ``indicator``: the alert's severity (info / warning / critical).
- ``source``: the first of the alert's citations that has a public web page in
  ``codelists/cards.toml`` (label and URL), else the first citation's label.
- ``detail`` (Markdown): the alert's detail and actions, the OME working of every counted
  opioid (the calculator's own arithmetic line per item, the table and its version, the total),
  the rule trace with ruleset and profile versions, the citations, and the risk inputs read
  from the record.
- ``overrideReasons``: the reasons of ``codelists/cards.toml`` on warning and critical cards.
- ``links``: Opioids Aware (dose equivalents) and the patient self-management resources on
  cards about an opioid.
- ``uuid``: a new random UUID per card (feedback refers to it).

Text that comes from the request (medicine names) is escaped before it goes into Markdown.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from opioidcds._decide.alerts import ALERT_RULESET, Alert
from opioidcds._decide.knowledge import Knowledge
from opioidcds._decide.profile_notes import in_force, local_rules_text, profile_summary
from opioidcds._decide.rules import Citation
from opioidcds._display import citation_title, format_decimal, words
from opioidcds._knowledge.provenance import Provenance, combine
from opioidcds._measure.ome import IMPLAUSIBLE_RULES
from opioidcds._measure.results import ItemStatus, OMEResult
from opioidcds.cdshooks.codelists import CardContent, Codelists
from opioidcds.cdshooks.models import Action, Card, Coding, Link, Source, Suggestion
from opioidcds.cdshooks.record import DraftItem, Problem, Record

__all__ = [
    "PROVENANCE_EXTENSION",
    "CardBuilder",
    "OmeWorking",
    "escape_markdown",
    "problem_line",
    "provenance_extension",
    "refusal",
    "short_summary",
]

_SUMMARY_MAX: Final = 139
_MD_SPECIAL: Final = re.compile(r"([\\`*_\[\]#|<>])")
_INPUT_CHECKS_SOURCE: Final = Source(
    label="opioidcds input checks: unknown or unreadable input is reported, never read as absent"
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an order's own data stop it being read: in short, in words, and what fixes it."""

    short: str
    why: str
    fix: str


# Problems that are the order's own data contradicting or leaving out what a dose needs: the
# service refuses them as sent (it never guesses a dose) and says what the order must say. Keys
# are the fixed sentences of the FHIR adapter and the R4 validator (tests pin them).
_NO_DOSE: Final = Refusal(
    "it has no dose",
    "The order says how often but not how much: it has no dose (no doseQuantity or doseRange, "
    "and no dosage text), and the service does not assume one.",
    "Add the dose to the order and send it again.",
)
_UNIT_NOT_FORM: Final = Refusal(
    "its dose unit contradicts its medicine's form",
    "The dose is counted in units that are not this medicine's form (for example patches for "
    "a tablet, or tablets for a capsule): the order contradicts itself, and the service does "
    "not guess which part is right.",
    "Correct the dose unit (or the medicine) of the order and send it again.",
)
_IMPLAUSIBLE: Final = Refusal(
    "its dose gives an implausible daily amount of one opioid",
    "Together with the patient's current medicines and the orders before it in this request, "
    "this order gives more of one opioid a day (or a stronger patch) than any real "
    "prescription does, beyond the plausibility limits of the knowledge base: almost always a "
    "unit or a quantity entered wrongly. The service does not check an amount that cannot be "
    "real, and does not add it to the totals of the other orders.",
    "Check the dose, unit and number of tablets or patches of this order and of the patient's "
    "current opioids, correct any that is wrong and send the order again.",
)
_NOT_A_DOSE_NUMBER: Final = Refusal(
    "a number in it is zero, negative or too large to be real",
    "A number of the order (its dose, or how often or over what period it is taken) is zero, "
    "negative or far larger than any real prescription: almost always a quantity entered "
    "wrongly. The service does not check an order whose numbers cannot be real.",
    "Correct the number at the path shown and send the order again.",
)
_NOT_R4: Final = Refusal(
    "part of it is not valid FHIR R4",
    "Part of the order is not valid FHIR R4, so the order was not read rather than read in part.",
    "Correct the element at the path shown and send the order again.",
)


def refusal(problem: Problem) -> Refusal | None:
    """The explanation of a problem that is the order's own data (None: another problem)."""
    if problem.what == "a dose (doseQuantity or doseRange) or a text is required":
        return _NO_DOSE
    if problem.what == "does not fit the form":
        return _UNIT_NOT_FORM
    if problem.what == "must be a positive number of plausible size":
        return _NOT_A_DOSE_NUMBER
    if problem.what.startswith("is not valid FHIR R4"):
        return _NOT_R4
    if problem.what in IMPLAUSIBLE_RULES:  # read, then refused over the plausibility limits
        return _IMPLAUSIBLE
    return None


def problem_line(problem: Problem) -> str:
    """One Markdown list line: the FHIR path, the problem, and its explanation if known."""
    line = f"- `{problem.path}`: {escape_markdown(problem.what)}"
    known = refusal(problem)
    return f"{line}. {known.why}" if known is not None else line


PROVENANCE_EXTENSION = "org.opioidcds.provenance"
"""The card ``extension`` key holding the decision's provenance (namespaced, CDS Hooks 2.0)."""


def provenance_extension(
    provenance: Provenance, reading: Provenance | None = None
) -> dict[str, Any]:
    """The card extension naming the library version and knowledge base of a decision.

    The full source list is in the library's results; the card carries the version and the
    hash that identify it, so an EHR's audit record can say which knowledge decided.
    ``reading`` is the knowledge the service read the request and wrote the card with (its
    codelists, card content, FHIR unit and code tables): the hash then covers both.
    """
    if reading is not None:
        provenance = _with_reading(provenance, reading)
    return {
        PROVENANCE_EXTENSION: {
            "library_version": provenance.library_version,
            "knowledge_sha256": provenance.knowledge_sha256,
        }
    }


@lru_cache(maxsize=256)
def _with_reading(provenance: Provenance, reading: Provenance) -> Provenance:
    """``provenance`` and ``reading`` as one (a few distinct pairs per service: cached)."""
    return combine(provenance, reading)


RULE_TRACE_EXTENSION: Final = "org.opioidcds.rule-trace"


def rule_trace_extension(  # noqa: PLR0917 - the parts of the audit record
    rule: str,
    ruleset: str,
    version: str,
    profile: str | None,
    trace: Sequence[str],
    not_checked: Sequence[str] = (),
    unknown_inputs: Sequence[str] = (),
) -> dict[str, Any]:
    """The card extension carrying a fired rule's ids and step-by-step trace, for audit.

    The detail shows people the rule's title and sources in words; the ids and the trace
    (variable names, comparisons) travel here, machine-readable, with the provenance. The
    card of rules that could not be checked adds their ids (``not_checked``) and the input
    names they lack (``unknown_inputs``), which its detail gives as titles and labels.
    """
    extension: dict[str, Any] = {
        "rule": rule,
        "ruleset": ruleset,
        "ruleset_version": version,
        "profile": profile,
        "trace": list(trace),
    }
    if not_checked:
        extension["not_checked"] = list(not_checked)
    if unknown_inputs:
        extension["unknown_inputs"] = list(unknown_inputs)
    return {RULE_TRACE_EXTENSION: extension}


def basis_markdown(
    title: str,
    ruleset: str,
    version: str,
    profile: str | None,
    sources: Sequence[tuple[str, str | None]],
    *,
    notes: Sequence[str] = (),
) -> str:
    """Why a card fired, in words: the rule's title, its ruleset and profile, its sources.

    ``sources`` are (label, URL or None) pairs, most relevant first; ``notes`` what the local
    profile and local rules in force changed (:func:`~opioidcds._decide.profile_notes.in_force`).
    """
    used = f"local profile {words(profile)}" if profile else "no local profile"
    lines = [
        f'**Why:** the rule "{escape_markdown(title)}" of the {escape_markdown(words(ruleset))} '
        f"rules, version {escape_markdown(version)}, {escape_markdown(used)}. Its step-by-step "
        "evaluation travels with the card for the audit record."
    ]
    for note in notes:
        lines += ["", f"**{escape_markdown(note)}**"]
    if sources:
        lines += ["", "**Sources:**"]
        lines += [
            f"- [{escape_markdown(label)}]({url})" if url else f"- {escape_markdown(label)}"
            for label, url in sources
        ]
    return "\n".join(lines)


def source_labels(
    citations: Sequence[Citation], content: CardContent
) -> tuple[tuple[str, str | None], ...]:
    """Each citation as people read it: its label in ``codelists/cards.toml``, else its title."""
    out: list[tuple[str, str | None]] = []
    for c in citations:
        found = content.links.get(c.id)
        out.append(
            (found.label, found.url) if found is not None else (citation_title(c.text), None)
        )
    return tuple(out)


@lru_cache(maxsize=8192)
def escape_markdown(text: str) -> str:
    """``text`` with Markdown and HTML special characters backslash-escaped, on one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def short_summary(text: str) -> str:
    """``text`` on one line, cut to at most 139 characters (CDS Hooks: under 140)."""
    one = " ".join(text.split())
    return one if len(one) <= _SUMMARY_MAX else one[: _SUMMARY_MAX - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class OmeWorking:
    """The OME result of the opioids counted with one draft, with a label per item."""

    result: OMEResult
    labels: tuple[str, ...]
    includes_order: bool


def _alert_markdown(alert: Alert) -> tuple[str, str]:
    """Title line, and the actions, of ``alert``'s card."""
    return _title_and_actions(alert.title, alert.severity.value, alert.actions)


@lru_cache(maxsize=1024)
def _title_and_actions(title: str, severity: str, actions: tuple[str, ...]) -> tuple[str, str]:
    """Title line, and the actions.

    Memoised on the text they are made of: a rule's alerts share it whatever the patient,
    whose figures are in the alert's detail, not read here.
    """
    head = f"**{escape_markdown(title)}** ({severity})"
    tail = ""
    if actions:
        tail = "\n".join(["", "**To consider:**", *[f"- {escape_markdown(a)}" for a in actions]])
    return head, tail


def _profile(profile_id: str | None, profile_version: str | None) -> str | None:
    return f"{profile_id} {profile_version}" if profile_id else None


class CardBuilder:
    """Builds cards from alerts and problems with the bundled (or given) card content."""

    def __init__(
        self,
        knowledge: Knowledge,
        content: CardContent,
        codelists: Codelists,
        reading: Provenance | None = None,
    ) -> None:
        """Keep the immutable knowledge and precompute the shared parts of every card.

        ``reading`` is the provenance of what the service read the request with (see
        :func:`provenance_extension`).
        """
        self._knowledge = knowledge
        self.reading = reading
        self._content = content
        self._codelists = codelists
        # keyed by the parts of an alert they read (the rule's, never the patient's figures)
        self._basis_md = lru_cache(maxsize=1024)(self._basis_of)
        self._source_of = lru_cache(maxsize=1024)(self._source_for)
        self._notes_of = lru_cache(maxsize=64)(self._notes_for)
        reasons = content.override_reasons
        self._override = tuple(
            Coding(system=reasons.system, code=code, display=c.display)
            for code, c in reasons.codes.items()
        )
        links = [
            Link(label=g.label, url=g.url)
            for key, g in content.links.items()
            if key == "opioids-aware" and g.url
        ]
        links += [
            Link(label=g.label, url=g.url) for g in content.patient_resources.values() if g.url
        ]
        self._opioid_links = tuple(links)

    @property
    def opioid_links(self) -> tuple[Link, ...]:
        """The links put on cards about an opioid (Opioids Aware, patient resources)."""
        return self._opioid_links

    @property
    def override_reasons(self) -> tuple[Coding, ...]:
        """The override reasons offered on warning and critical cards."""
        return self._override

    # --- sources -----------------------------------------------------------------------------

    def _basis(self, alert: Alert) -> str:
        """The "Why" and sources of ``alert``."""
        return self._basis_md(
            alert.title,
            alert.ruleset_id,
            alert.ruleset_version,
            alert.profile_id,
            alert.profile_version,
            alert.citations,
        )

    def _basis_of(  # noqa: PLR0917 - the parts of an alert it reads, the memo's key
        self,
        title: str,
        ruleset_id: str,
        ruleset_version: str,
        profile_id: str | None,
        profile_version: str | None,
        citations: tuple[Citation, ...],
    ) -> str:
        """The "Why" and sources of an alert of rule ``title`` (memoised on these parts)."""
        return basis_markdown(
            title,
            ruleset_id,
            ruleset_version,
            _profile(profile_id, profile_version),
            source_labels(citations, self._content),
            notes=self._notes_of(profile_id),
        )

    def _notes_for(self, profile_id: str | None) -> tuple[str, ...]:
        """What the profile that decided an alert (the bundle's own) and local rules changed."""
        profile = self._knowledge.profile
        used = profile if profile is not None and profile.id == profile_id else None
        return in_force(self._knowledge.rulesets, used)

    def _source(self, alert: Alert) -> Source:
        return self._source_of(alert.citations, alert.ruleset_id, alert.ruleset_version)

    def _source_for(
        self, citations: tuple[Citation, ...], ruleset_id: str, ruleset_version: str
    ) -> Source:
        """The card's source: the first cited link with a URL (memoised on these parts)."""
        links = self._content.links
        for c in citations:
            found = links.get(c.id)
            if found is not None and found.url:
                return Source(label=found.label, url=found.url)
        if citations:
            first = citations[0]
            found = links.get(first.id)
            label = found.label if found is not None else short_summary(first.text)
            return Source(label=label)
        return Source(label=f"opioidcds {words(ruleset_id)} rules, version {ruleset_version}")

    # --- detail parts ------------------------------------------------------------------------

    def _ome_section(self, ome: OmeWorking | None) -> list[str]:
        if ome is None:
            return ["**Oral morphine equivalent (OME):** no opioid is prescribed with this order."]
        r = ome.result
        out = [
            f"**Oral morphine equivalent (OME)**: conversion table "
            f"{escape_markdown(r.table_name())}; "
            f"when-required doses and ranges: {r.prn_policy.value} policy.",
            "",
            "| # | medicine | working | OME mg/day |",
            "|---|---|---|---|",
        ]
        for item in r.items:
            label = ome.labels[item.prescription_index]
            if item.status is ItemStatus.NOT_CONVERTIBLE:
                figure = "not converted"
            elif item.ome_mg_per_day is None:
                figure = "-"
            else:
                figure = format_decimal(item.ome_mg_per_day)
            working = item.arithmetic
            if (
                item.status is ItemStatus.NOT_CONVERTIBLE
                and item.reason
                and item.reason not in working
            ):
                working = f"{working} ({item.reason})"
            out.append(
                f"| {item.prescription_index + 1} | {escape_markdown(label)} | "
                f"{escape_markdown(working)} | {figure} |"
            )
        total = format_decimal(r.total_mg_per_day)
        if r.complete:
            out += ["", f"**Total: {total} mg OME/day.**"]
        else:
            out += [
                "",
                f"**Total: at least {total} mg OME/day** - incomplete: an item above could not "
                "be converted, so the true total is higher.",
            ]
        return out

    def _risk_section(self, record: Record) -> list[str]:
        lists = self._codelists
        parts = []
        for lst in lists.lists.values():
            value = record.risk.get(lst.input)
            shown = "unknown" if value is None else "recorded" if value else "recorded absent"
            parts.append(f"{lst.input.replace('_', ' ')}: {shown}")
        ae = "recorded" if record.last_ae_attendance is not None else "unknown"
        parts.append(f"A&E attendance date: {ae}")
        out = [
            f"**Risk inputs read from the record** (codelists {escape_markdown(lists.id)} "
            f"{escape_markdown(lists.version)}; a code not in a list leaves the input unknown): "
            + escape_markdown("; ".join(parts))
            + "."
        ]
        if record.missing_optional:
            out.append(
                "Not sent by the EHR (inputs unknown): prefetch "
                + escape_markdown(", ".join(record.missing_optional))
                + "."
            )
        if record.notes:  # how the request was read: older shapes rewritten, fetch problems
            out.append(
                "**How the request was read:** " + escape_markdown("; ".join(record.notes)) + "."
            )
        return out

    # --- cards -------------------------------------------------------------------------------

    def ome_markdown(self, ome: OmeWorking | None) -> str:
        """The OME section of a card (computed once per draft order)."""
        return "\n".join(self._ome_section(ome))

    def risk_markdown(self, record: Record) -> str:
        """The risk-input section of a card (computed once per request)."""
        return "\n".join(self._risk_section(record))

    def alert_card(
        self, alert: Alert, item: DraftItem, ome: OmeWorking | None, ome_md: str, risk_md: str
    ) -> Card:
        """The card of one alert fired for ``item``, with the order's OME and the risk inputs."""
        kind = "re-authorisation" if item.reauthorisation else "new order"
        if item.new_because is not None:
            kind += f": {item.new_because}"
        head, tail = _alert_markdown(alert)
        detail = "\n".join(
            [
                head,
                "",
                f"Order: draft order {item.order_index + 1}, {escape_markdown(item.label)} "
                f"({kind}).",
                "",
                escape_markdown(alert.detail),
                tail,
                "",
                ome_md,
                "",
                self._basis(alert),
                "",
                risk_md,
            ]
        )
        opioid = ome is not None and ome.includes_order
        return Card(
            uuid=str(uuid.uuid4()),
            summary=short_summary(alert.summary),
            indicator=alert.severity.value,
            detail=detail,
            source=self._source(alert),
            overrideReasons=self._override if alert.severity.value != "info" else (),
            links=self._opioid_links if opioid else (),
            extension={
                **provenance_extension(alert.provenance, self.reading),
                **rule_trace_extension(
                    alert.id,
                    alert.ruleset_id,
                    alert.ruleset_version,
                    _profile(alert.profile_id, alert.profile_version),
                    alert.trace,
                    alert.not_checked,
                    alert.unknown_inputs,
                ),
            },
        )

    def unread_order(self, order_index: int, label: str, problem: Problem) -> Card:
        """A draft order whose medicine or dose could not be read: it was not checked.

        A warning, unless the medicine was not recognised and names no opioid (info).
        """
        n = order_index + 1
        known = refusal(problem)
        if known is not None:
            summary = f"Draft order {n} could not be checked as sent: {known.short}."
            advice = f"{known.fix} Until then, check this order by hand."
        elif problem.maybe_opioid:
            summary = (
                f"Draft order {n} could not be checked: its medicine or dose could not be read."
            )
            advice = (
                "Check this order by hand, or send it with a dm+d (SNOMED CT) code and a "
                "structured dose."
            )
        else:
            summary = (
                f"Draft order {n} not checked: not recognised as an opioid, benzodiazepine, "
                "z-drug or gabapentinoid."
            )
            advice = "If it is one of these, check this order by hand."
        refused = "was refused as sent" if known is not None else "could not be read"
        detail = "\n".join(
            [
                f"Draft order {n} ({escape_markdown(label)}) {refused}, so its oral "
                "morphine equivalent and alerts were **not** checked, and it is not in the "
                "totals of the other cards.",
                "",
                problem_line(problem),
                "",
                advice,
            ]
        )
        return Card(
            uuid=str(uuid.uuid4()),
            summary=short_summary(summary),
            indicator="warning" if problem.maybe_opioid else "info",
            detail=detail,
            source=_INPUT_CHECKS_SOURCE,
            overrideReasons=self._override if problem.maybe_opioid else (),
        )

    def duplicate_order(self, item: DraftItem, same_as: str, *, removable: bool) -> Card:
        """A draft order with the same medicine and dose as a listed one: counted once.

        With ``removable`` (the order has an id and holds only this prescription), the card
        suggests deleting the draft (CDS Hooks 2.0.1 ``delete`` action naming
        ``MedicationRequest/{id}``), not recommended: both orders may be meant.
        """
        n = item.order_index + 1
        suggestions = None
        if removable and item.resource_id is not None:
            suggestions = (
                Suggestion(
                    label=f"Remove draft order {n} (a duplicate)",
                    uuid=str(uuid.uuid4()),
                    isRecommended=False,
                    actions=(
                        Action(
                            type="delete",
                            description=f"Remove draft order {n}: it repeats an order already "
                            "listed.",
                            resourceId=f"MedicationRequest/{item.resource_id}",
                        ),
                    ),
                ),
            )
        return Card(
            uuid=str(uuid.uuid4()),
            summary=short_summary(
                f"Draft order {item.order_index + 1} has the same medicine and dose as another "
                "order: counted once."
            ),
            indicator="info",
            detail=(
                f"Draft order {item.order_index + 1} ({escape_markdown(item.label)}) has the same "
                f"medicine and dose as {escape_markdown(same_as)}. The totals count it once (a "
                "re-issue of the same prescription) and it was not checked again. If both are "
                "meant to be taken, the OME on the other cards is too low: add the two together."
            ),
            source=_INPUT_CHECKS_SOURCE,
            suggestions=suggestions,
            selectionBehavior="at-most-one" if suggestions else None,
        )

    def unchecked_order(self, item: DraftItem, path: str, what: str) -> Card:
        """A draft order read but not checkable (e.g. an implausible dose)."""
        return self.unread_order(item.order_index, item.label, Problem(path, what))

    def alerts_switched_off(self) -> Card | None:
        """The card for an order checked with no alert while the profile disables alerts.

        Without it a profile that switches prescribing alerts off would make the service
        silent (no card), so nobody could tell "nothing to say" from "not allowed to say it"
        (issue 23, item 5). ``None`` when the profile in force disables no prescribing alert.
        """
        profile = self._knowledge.profile
        if profile is None:
            return None
        summary = profile_summary(profile, self._knowledge.rulesets)
        off = summary.disabled_in(ALERT_RULESET)
        if not off:
            return None
        safety = sum(d.safety_critical for d in off)
        lines = [
            "No prescribing alert was raised for this order, but the "
            f"{summary.name} in force switches {len(off)} prescribing alert(s) off"
            + (f", {safety} of them safety alert(s)" if safety else "")
            + ": what they check was not checked.",
            "",
            *[
                f"- {escape_markdown(d.text())}"
                for d in sorted(off, key=lambda d: not d.safety_critical)
            ],
        ]
        if summary.parameters:
            moved = "; ".join(c.text() for c in summary.parameters)
            lines += ["", f"The profile also moves: {escape_markdown(moved)}."]
        local = local_rules_text(self._knowledge.rulesets)
        if local is not None:
            lines += ["", escape_markdown(local)]
        return Card(
            uuid=str(uuid.uuid4()),
            summary=f"No alert; {len(off)} prescribing alert(s) switched off by the local profile.",
            indicator="warning" if safety else "info",
            detail="\n".join(lines),
            source=Source(label=summary.heading),
        )

    def unread_record(self, problems: Sequence[Problem]) -> Card:
        """Parts of the record that could not be read (current medicines, conditions...)."""
        meds = any(p.path.startswith("prefetch.medications") and p.maybe_opioid for p in problems)
        lines = [
            "Some of the patient's record sent with this request could not be read.",
        ]
        if meds:
            lines.append(
                "**A current medicine could not be read: the OME totals on the other cards "
                "may be too low, and alerts based on them may be missing.**"
            )
        lines += ["", *[problem_line(p) for p in problems[:50]]]
        if len(problems) > 50:
            lines.append(f"- and {len(problems) - 50} more")
        other_meds = any(p.path.startswith("prefetch.medications") for p in problems)
        if meds:
            summary = "A current medicine could not be read: OME totals may be too low."
        elif other_meds:
            summary = "Some current medicines were not recognised (no opioid named): not counted."
        else:
            summary = "Some record entries could not be read: risk inputs may be incomplete."
        return Card(
            uuid=str(uuid.uuid4()),
            summary=summary,
            indicator="warning" if meds else "info",
            detail="\n".join(lines),
            source=_INPUT_CHECKS_SOURCE,
        )
