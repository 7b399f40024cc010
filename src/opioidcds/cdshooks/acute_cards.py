"""Cards for the hospital checks (discharge and inpatient rulesets) of the CDS Hooks service.

One card per alert (severity, summary, the ruleset's detail and action, the inputs read, why
it fired and its sources in words, with the rule's ids and trace in the card's extension),
one info card listing the rules that could not be
checked with what to send so they can be, and a warning when a check could not run at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from opioidcds._decide.hospital import (
    AcuteAlert,
    AcuteCheck,
    CareSetting,
    DischargeCheck,
    InpatientCheck,
)
from opioidcds._display import words
from opioidcds._knowledge.provenance import Provenance
from opioidcds.cdshooks.cards import (
    basis_markdown,
    escape_markdown,
    provenance_extension,
    rule_trace_extension,
    short_summary,
    source_labels,
)
from opioidcds.cdshooks.codelists import CardContent
from opioidcds.cdshooks.models import Card, Coding, Source
from opioidcds.cdshooks.record import Problem

__all__ = ["AcuteCardBuilder"]

# What the request must carry for each episode field the acute rules read (docs/cdshooks.md).
_SEND: Final[Mapping[str, str]] = {
    "opioid_before_admission": (
        "extension urn:opioidcds:fhir:opioid-before-admission (valueBoolean) on the discharge "
        "order, or an active community/outpatient opioid prescription in prefetch 'medications'"
    ),
    "discharge_prescriptions[].days_supply": "dispenseRequest.expectedSupplyDuration on the order",
    "weaning_plan_recorded": (
        "extension urn:opioidcds:fhir:weaning-plan-recorded (valueBoolean) on the discharge order"
    ),
    "gp_communication_recorded": (
        "extension urn:opioidcds:fhir:gp-communication-recorded (valueBoolean) on the order"
    ),
    "other_medicines": "prefetch 'medications'",
    "parenteral_administrations": (
        "prefetch 'administrations' (MedicationAdministration with route, start time)"
    ),
    "iv_morphine_bolus_order_active": "prefetch 'medications'",
    "assessment_time": "(the service's clock)",
}
_SETTING: Final = {
    CareSetting.DISCHARGE: "discharge prescription",
    CareSetting.INPATIENT: "inpatient (IV morphine boluses)",
}
_CHECKS_SOURCE: Final = Source(
    label="opioidcds input checks: unknown or unreadable input is reported, never read as absent"
)


def _not_checked_extension(check: AcuteCheck) -> dict[str, Any]:
    """The card extension of the rules not checked: ids, input names and what to send.

    For the software and the people who integrate it: each rule's id, the ruleset's input
    names it lacks and where the request carries each episode field it reads (the card's
    detail gives people the rules' titles and the inputs' labels instead).
    """
    return {
        "org.opioidcds.not-checked": {
            "ruleset": check.ruleset_id,
            "ruleset_version": check.ruleset_version,
            "rules": [
                {
                    "rule": r.rule_id,
                    "unknown_inputs": list(r.unknown_inputs),
                    "send": [_SEND.get(f, f) for f in r.missing],
                }
                for r in check.cannot_evaluate
            ],
        }
    }


class AcuteCardBuilder:
    """Builds the hospital-check cards with the bundled (or given) card content."""

    def __init__(
        self,
        content: CardContent,
        override: tuple[Coding, ...],
        reading: Provenance | None = None,
    ) -> None:
        """Keep the card content (citation labels), the override reasons and ``reading``.

        ``reading``: the provenance of what the service read the request with
        (:func:`~opioidcds.cdshooks.cards.provenance_extension`).
        """
        self._content = content
        self._override = override
        self._reading = reading

    def _source(self, alert: AcuteAlert) -> Source:
        links = self._content.links
        for c in alert.citations:
            found = links.get(c.id)
            if found is not None:
                return Source(label=found.label, url=found.url)
        if alert.citations:
            return Source(label=short_summary(alert.citations[0].text))
        return Source(label="opioidcds acute-trust rulesets")  # pragma: no cover

    def _inputs(self, check: AcuteCheck) -> list[str]:
        rows = ["| input | value |", "|---|---|"]
        for name, value in check.inputs.items():
            shown = "unknown" if value is None else str(value).lower()
            rows.append(f"| {escape_markdown(words(name))} | {escape_markdown(shown)} |")
        return rows

    def _basis(self, check: AcuteCheck) -> list[str]:
        if isinstance(check, DischargeCheck):
            ome = check.ome
            total = f"{ome.total_mg_per_day} mg OME/day"
            total = total if ome.complete else f"at least {total} (incomplete)"
            lines = [f"Discharge opioids: {escape_markdown(total)}.", ""]
            for b in check.prescriptions:
                days = "unknown" if b.days_supply is None else f"{b.days_supply} days"
                mr = {True: "modified-release", False: "immediate-release", None: "release unknown"}
                kind = "opioid" if b.opioid else ("not an opioid" if b.opioid is False else "?")
                lines.append(
                    f"- {escape_markdown(b.label)}: {kind}, {mr[b.modified_release]}, supply {days}"
                )
            return lines
        if isinstance(check, InpatientCheck):
            count = check.iv_morphine_bolus_count
            first = check.first_iv_morphine_bolus
            latest = check.latest_iv_morphine_bolus
            if count is None:
                return ["IV morphine boluses: not known (no administrations sent)."]
            if not count:
                return ["IV morphine boluses recorded: none."]
            start = first.isoformat() if first else "?"
            end = latest.isoformat() if latest else "?"
            return [f"IV morphine boluses recorded: {count}, first started {start}, latest {end}."]
        return []  # pragma: no cover

    def alert_card(self, alert: AcuteAlert, check: AcuteCheck, orders: str) -> Card:
        """The card of one fired hospital rule."""
        profile = f"{check.profile_id} {check.profile_version}" if check.profile_id else None
        detail = [
            f"**{escape_markdown(alert.title or words(alert.rule_id))}** ({alert.severity})",
            "",
            f"Setting: {_SETTING[check.care_setting]}. Orders: {escape_markdown(orders)}.",
            "",
            escape_markdown(alert.detail),
            "",
            f"**To consider:** {escape_markdown(alert.action)}",
            "",
            *self._basis(check),
            "",
            "**Inputs read from the request:**",
            "",
            *self._inputs(check),
            "",
            basis_markdown(
                alert.title or words(alert.rule_id),
                check.ruleset_id,
                check.ruleset_version,
                profile,
                source_labels(alert.citations, self._content),
                notes=(check.profile_summary.text(),) if check.profile_summary else (),
            ),
        ]
        indicator = (
            alert.severity if alert.severity in ("info", "warning", "critical") else "warning"
        )
        return Card(
            uuid=str(uuid.uuid4()),
            summary=short_summary(alert.summary),
            indicator="info"
            if indicator == "info"
            else ("critical" if indicator == "critical" else "warning"),
            detail="\n".join(detail),
            source=self._source(alert),
            overrideReasons=self._override if indicator != "info" else (),
            extension={
                **provenance_extension(check.provenance, self._reading),
                **rule_trace_extension(
                    alert.rule_id, check.ruleset_id, check.ruleset_version, profile, alert.trace
                ),
            },
        )

    def unevaluated_card(
        self, check: AcuteCheck, problems: Sequence[Problem], *, incomplete: bool = False
    ) -> Card | None:
        """Rules that could not be checked (inputs unknown), with what to send; None if none."""
        rules = list(check.cannot_evaluate)
        if not rules and not problems:
            return None
        setting = _SETTING[check.care_setting]
        lines = [f"Hospital rules ({setting}) that could **not** be checked:", ""]
        lines += [
            f"- {escape_markdown(r.title or words(r.rule_id))}: not known: "
            + "; ".join(
                escape_markdown(label)
                for label in r.unknown_labels or [words(f) for f in r.missing]  # never raw names
            )
            for r in rules
        ]
        if rules:
            lines += ["", "Record what is not known on the order or in the patient's record."]
        if incomplete:
            lines.append(
                "- IV morphine bolus limit: some administrations could not be read (below); "
                "no alert from the readable ones does not mean the limit was kept."
            )
        if problems:
            lines += ["", "Could not be read:", ""]
            lines += [f"- `{p.path}`: {escape_markdown(p.what)}" for p in problems[:50]]
        n = len(rules) + (1 if incomplete else 0)
        summary = (
            f"{n} hospital rule(s) could not be checked: inputs unknown."
            if n
            else "Some hospital inputs could not be read."
        )
        return Card(
            uuid=str(uuid.uuid4()),
            summary=short_summary(summary),
            indicator="info",
            detail="\n".join(lines),
            source=_CHECKS_SOURCE,
            extension=_not_checked_extension(check) if rules else None,
        )

    def failed_card(self, setting: CareSetting, path: str, what: str) -> Card:
        """A hospital check that could not run at all (an invalid or contradictory input)."""
        name = _SETTING[setting]
        return Card(
            uuid=str(uuid.uuid4()),
            summary=short_summary(
                f"The hospital {name} checks could not run: an input is invalid."
            ),
            indicator="warning",
            detail=(
                f"The {name} rules were **not** checked.\n\n- `{escape_markdown(path)}`: "
                f"{escape_markdown(what)}\n\nCheck these orders by hand."
            ),
            source=_CHECKS_SOURCE,
            overrideReasons=self._override,
        )
