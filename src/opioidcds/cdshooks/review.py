"""The ``patient-view`` opioid review card, card order, and the wording of the table in force.

The review card (CDS Hooks hook ``patient-view``, when a record is opened) runs the library's
own assessment (:func:`opioidcds.assess`: scope, OME, risk factors, risk level, support tier)
over the current medicines the request carries (active MedicationRequests and
MedicationStatements) and says, most useful first:

- the total daily morphine equivalent, with the calculator's arithmetic per medicine and the
  table and version (a lower bound, said as such, when an item could not be converted);
- the risk level and the support tier (the tier's offer and next steps, worded by the
  ``support-tier`` ruleset), and what they would be if every unknown risk factor were present;
- the risk factors the record shows present, with their evidence, and the unknown risk
  factors that could change the level or tier;
- the risk inputs read from the record, and links (Opioids Aware, patient self-management,
  and any review links the service is configured with: a taper plan or report).

Its indicator follows the support tier (``codelists/cards.toml``, ``[review]``). A patient with
no current opioid gets no review card (nothing to review); unreadable medicines still get their
own "could not be read" card, so the absence of a review card is never silence about a problem.
When no opioid could be read but a current medicine that may be one could not, the review
could not be done: one card says so, with each medicine's problem and what would fix it.

One suggestion, when the patient is in scope: add a FHIR R4 ``Task`` (``create``) to the record
for the support tier's next step, in the words of the ``support-tier`` ruleset (its offer, with
the next steps as notes), as the card's "Next step" shows them. Nothing
else is suggested: an order (a taper, naloxone) would need doses and codes the knowledge base
does not cite, and the configured review links (a taper plan, a report) stay links.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Final

from opioidcds._decide.assessment import Assessment, FactorStatus, assess
from opioidcds._decide.knowledge import Knowledge
from opioidcds._display import format_decimal, words
from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds._knowledge.provenance import Provenance
from opioidcds.cdshooks.cards import (
    CardBuilder,
    OmeWorking,
    escape_markdown,
    problem_line,
    provenance_extension,
    short_summary,
)
from opioidcds.cdshooks.codelists import CardContent, Codelists, Terms
from opioidcds.cdshooks.models import Action, Card, Link, Source, Suggestion
from opioidcds.cdshooks.patients import coprescription_known, patient_of
from opioidcds.cdshooks.record import Problem, Record

__all__ = ["ReviewCardBuilder", "apply_terms", "sort_cards"]

_SEVERITY: Final = {"critical": 0, "warning": 1, "info": 2}
_OME_WORD: Final = re.compile(r"\bOME\b")
_OME_LONG: Final = re.compile(r"\boral morphine equivalents?\b", re.IGNORECASE)


def sort_cards(cards: Iterable[Card]) -> list[Card]:
    """Cards most serious first (critical, warning, info), in their order within a severity."""
    return sorted(cards, key=lambda c: _SEVERITY[c.indicator])


def apply_terms(cards: Sequence[Card], terms: Terms) -> list[Card]:
    """Cards worded for the table in force: ``OME`` -> ``terms.short``, and the long name.

    The rulesets and the service word cards with the UK term (oral morphine equivalent, OME);
    under a table of another jurisdiction (the US CDC table: morphine milligram equivalent,
    MME) the same quantity is named as that table names it. The UK terms leave cards as they
    are.
    """
    if terms.short == "OME":
        return list(cards)
    out = []
    for card in cards:
        summary = _OME_WORD.sub(terms.short, _OME_LONG.sub(terms.long, card.summary))
        detail = _OME_WORD.sub(terms.short, _OME_LONG.sub(terms.long, card.detail))
        out.append(card.model_copy(update={"summary": short_summary(summary), "detail": detail}))
    return out


class ReviewCardBuilder:
    """Builds the patient-view cards with the service's knowledge and card content.

    Args:
        knowledge: rulesets, table and profile the assessment uses.
        content: card content (review indicators and labels, links, terms).
        codelists: the risk-input codelists (shown on the card).
        links: review links the service is configured with (a taper plan, a report).
    """

    def __init__(
        self,
        knowledge: Knowledge,
        content: CardContent,
        codelists: Codelists,
        links: Sequence[Link] = (),
        reading: Provenance | None = None,
    ) -> None:
        """Keep the immutable knowledge; nothing here changes after construction."""
        self._knowledge = knowledge
        self._content = content
        self._cards = CardBuilder(knowledge, content, codelists, reading)
        self._links = tuple(links)
        self.terms = content.terms_for(knowledge.table.file.jurisdiction)

    def cards(self, record: Record, patient_id: str | None = None) -> list[Card]:
        """The patient-view cards of ``record``: problems reading it, and the review card.

        ``patient_id`` (the bare FHIR id of ``context.patientId``) is the subject of the
        suggested Task; without it nothing is suggested.
        """
        cards: list[Card] = []
        try:
            patient = patient_of(record, record.current, coprescription_known(record))
            assessment = assess(patient, knowledge=self._knowledge)
        except InvalidInputError as exc:
            cards.append(self._failed(exc.field, exc.rule))
        except OpioidCDSError:
            cards.append(self._failed("(record)", "could not be assessed"))
        else:
            card = self._review_card(record, assessment, patient_id)
            if card is not None:
                cards.append(card)
            elif _unread_opioid(record.record_problems):
                cards.append(self._not_reviewed(record.record_problems))
                return apply_terms(sort_cards(cards), self.terms)
        if record.record_problems:
            cards.append(self._cards.unread_record(record.record_problems))
        return apply_terms(sort_cards(cards), self.terms)

    def _not_reviewed(self, problems: Sequence[Problem]) -> Card:
        """No opioid was read, but a current medicine that may be one could not be read."""
        lines = [
            "The record has a current medicine that may be an opioid but could not be read, "
            "and no other opioid was read: there is no total to review, and no risk level or "
            "support tier was worked out.",
            "",
            *[problem_line(p) for p in problems[:50]],
        ]
        if len(problems) > 50:
            lines.append(f"- and {len(problems) - 50} more")
        lines += [
            "",
            "Review the patient's opioid prescribing by hand, and correct the prescription "
            "record so that the review can be done.",
        ]
        return Card(
            uuid=str(uuid.uuid4()),
            summary=short_summary(
                "Opioid review not done: a current medicine that may be an opioid could not be "
                "read."
            ),
            indicator="warning",
            detail="\n".join(lines),
            source=Source(label=self._content.review.source),
        )

    def _failed(self, field: str, rule: str) -> Card:
        return Card(
            uuid=str(uuid.uuid4()),
            summary="Opioid review could not be completed: part of the record could not be read.",
            indicator="warning",
            detail=(
                "The opioid review (total daily dose, risk level, support tier) could not be "
                f"worked out from the record sent.\n\n- `{escape_markdown(field)}`: "
                f"{escape_markdown(rule)}\n\nReview the patient's opioid prescribing by hand."
            ),
            source=Source(label=self._content.review.source),
        )

    def _review_card(
        self, record: Record, a: Assessment, patient_id: str | None = None
    ) -> Card | None:
        ome = a.ome
        if ome is None or not any(
            "opioid" in use.classes and use.counted_for_ome for use in a.prescriptions
        ):
            return None
        review = self._content.review
        by_index = {u.ome_index: u.index for u in a.prescriptions if u.ome_index is not None}
        size = max(by_index, default=-1) + 1
        labels = [
            record.current_labels[by_index[i]] if i in by_index else "medicine" for i in range(size)
        ]
        total = format_decimal(ome.total_mg_per_day)
        shown = f"{total} mg OME/day" if ome.complete else f"at least {total} mg OME/day"
        tier = a.tier.tier
        tier_label = review.tier_labels.get(tier, tier)
        parts = [f"Opioid review: {shown}"]
        if a.risk_level is not None:
            parts.append(f"risk {review.level_labels.get(a.risk_level.level, a.risk_level.level)}")
        parts.append(f"support: {tier_label}")
        summary = short_summary("; ".join(parts) + ".")
        detail = "\n".join(self._detail(record, a, labels, shown, tier_label))
        suggestion = _next_step_task(a, tier_label, summary, patient_id, record.as_of)
        return Card(
            uuid=str(uuid.uuid4()),
            summary=summary,
            indicator=review.indicator_by_tier.get(tier, review.default_indicator),
            detail=detail,
            source=Source(label=review.source),
            links=(*self._cards.opioid_links, *self._links),
            suggestions=(suggestion,) if suggestion is not None else None,
            selectionBehavior="at-most-one" if suggestion is not None else None,
            extension=provenance_extension(a.provenance, self._cards.reading),
        )

    def _detail(
        self, record: Record, a: Assessment, labels: list[str], shown: str, tier_label: str
    ) -> list[str]:
        review = self._content.review
        assert a.ome is not None  # noqa: S101 - checked by the caller
        working = OmeWorking(result=a.ome, labels=tuple(labels), includes_order=False)
        lines = [f"**Opioid review** - total {escape_markdown(shown)}.", ""]
        if not a.scope.in_scope:
            lines += [f"**Scope:** {escape_markdown(a.scope.reason)}", ""]
        if a.risk_level is not None:
            level = review.level_labels.get(a.risk_level.level, a.risk_level.level)
            worst = review.level_labels.get(
                a.risk_level.level_if_unknown, a.risk_level.level_if_unknown
            )
            meaning = escape_markdown(a.risk_level.meaning)
            lines.append(
                f"**Risk level:** {escape_markdown(level)} ({meaning})"
                + (
                    f"; {escape_markdown(worst)} if every unknown risk factor were present."
                    if worst != level
                    else "."
                )
            )
        worst_tier = review.tier_labels.get(a.tier.tier_if_unknown, a.tier.tier_if_unknown)
        lines.append(
            f"**Support tier:** {escape_markdown(tier_label)}"
            + (
                f" ({escape_markdown(worst_tier)} if every unknown risk factor were present)."
                if worst_tier != tier_label
                else "."
            )
        )
        lines += _factor_lines(a)
        lines += ["", f"**Next step:** {escape_markdown(a.tier.offer)}"]
        lines += [f"- {escape_markdown(step)}" for step in a.tier.next_steps]
        if a.unknowns_that_could_change:
            names = [_factor_label(a, f) for f in a.unknowns_that_could_change]
            lines += [
                "",
                "**Unknown in the record, and could change this:** "
                + escape_markdown("; ".join(names))
                + ".",
            ]
        lines += ["", self._cards.ome_markdown(working), "", self._cards.risk_markdown(record)]
        versions = ", ".join(_version_words(k, v) for k, v in sorted(a.versions.items()))
        lines += ["", f"Knowledge used: {escape_markdown(versions)}."]
        return lines


def _unread_opioid(problems: Sequence[Problem]) -> bool:
    """A current medicine (request or statement) that may be an opioid could not be read."""
    return any(
        p.maybe_opioid and p.path.startswith(("prefetch.medications", "prefetch.statements"))
        for p in problems
    )


def _next_step_task(
    a: Assessment, tier_label: str, summary: str, patient_id: str | None, as_of: dt.date
) -> Suggestion | None:
    """The suggestion to record the support tier's next step as a FHIR R4 Task (None: none).

    Only for a patient in scope (a risk level and tier were worked out) and a known patient
    id. The Task's words are the ``support-tier`` ruleset's (the NHS England analysis of
    opioid-reduction programmes, 2023, figure 4, per tier): the offer is
    its description and the next steps (the first action first, when the tier is shown as a
    range) its notes. ``intent`` ``plan`` (the clinician plans to do it), ``status``
    ``requested``.
    """
    if a.risk_level is None or not a.scope.in_scope or patient_id is None:
        return None
    what = a.tier.offer
    if not what:
        return None
    task: dict[str, Any] = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "plan",
        "description": what,
        "for": {"reference": f"Patient/{patient_id}"},
        "authoredOn": as_of.isoformat(),
        "reasonCode": {"text": summary},
    }
    if a.tier.next_steps:
        task["note"] = [{"text": step} for step in a.tier.next_steps]
    return Suggestion(
        label=short_summary(f"Add a task to plan the next step ({tier_label})"),
        uuid=str(uuid.uuid4()),
        actions=(
            Action(
                type="create",
                description=f"Add a task to the patient's record: {what}",
                resource=task,
            ),
        ),
    )


def _version_words(key: str, value: str) -> str:
    """An assessment version in words: "ruleset:support-tier" -> "support tier rules"."""
    kind, _sep, name = key.rpartition(":")
    suffix = {"ruleset": " rules", "vocabulary": " vocabulary"}.get(kind, "")
    return f"{words(name)}{suffix} {value}"


def _factor_lines(a: Assessment) -> list[str]:
    """The risk factors the record shows present, each with its evidence (none: said)."""
    present = [f for f in a.factors if f.status is FactorStatus.PRESENT]
    if not present:
        return ["", "**Risk factors found:** none in the record."]
    return ["", "**Risk factors found:**", ""] + [
        f"- {escape_markdown(f.label)}: {escape_markdown(f.evidence)}" for f in present
    ]


def _factor_label(a: Assessment, factor_id: str) -> str:
    try:
        return a.factor(factor_id).label
    except KeyError:
        return factor_id
