"""The results of local rulesets run for every patient, and which rulesets those are (issue 23).

Kept apart from :mod:`opioidcds._decide.patient_facts` (which derives the facts and evaluates
the rulesets, and reads its own knowledge file) so that the assessment's result model can name
them without importing the rules' file schema and loader (issue 20, cold start).
"""

from __future__ import annotations

from opioidcds._base import ResultModel
from opioidcds._decide.knowledge import Knowledge
from opioidcds._decide.rules import DecisionReport
from opioidcds._decide.rules.kinds import RUNS_FOR_EVERY_PATIENT
from opioidcds._display import words

__all__ = ["LocalOutcome", "LocalResult", "local_rulesets"]


class LocalOutcome(ResultModel):
    """A rule of a local ruleset that fired: its id, title and outcome in words."""

    rule_id: str
    title: str
    outcome: tuple[str, ...]


class LocalResult(ResultModel):
    """One local ruleset evaluated for a patient: what fired, or why it could not say.

    ``cannot_evaluate`` names the unknown facts that left a rule undecided (never "did not
    fire"); ``cannot_evaluate_labels`` are their display names (each input's ``label`` in the
    ruleset), what :meth:`summary` shows.
    """

    ruleset_id: str
    ruleset_version: str
    owner: str
    source: str
    fired: tuple[LocalOutcome, ...]
    cannot_evaluate: tuple[str, ...] = ()
    cannot_evaluate_labels: tuple[str, ...] = ()
    report: DecisionReport

    def headline(self) -> str:
        """The titles of the rules fired, or "cannot evaluate" / "no rule applies"."""
        if self.fired:
            return "; ".join(o.title for o in self.fired)
        return "cannot evaluate" if self.cannot_evaluate else "no rule applies"

    def summary(self) -> str:
        """What the ruleset decided, in words: each rule fired with its outcome, or why not."""
        if self.fired:
            return " | ".join(
                f"{o.title}" + (": " + "; ".join(o.outcome) if o.outcome else "")
                for o in self.fired
            )
        if self.cannot_evaluate:
            unknown = self.cannot_evaluate_labels or tuple(words(n) for n in self.cannot_evaluate)
            return "cannot evaluate: not known: " + "; ".join(unknown)
        return "no rule applies"

    def text(self) -> str:
        """One line for people: the ruleset in words, then what it decided.

        ``"Local ruleset exampleshire group programme, version 0.1.1 (owner; file): Group
        programme (like I-WOTCH): Offer: ..."``. A ruleset file has no title: it is named by
        its id in words (hyphens as spaces), as the bundled rulesets are in every basis line;
        the id stays in ``ruleset_id``.
        """
        head = (
            f"Local ruleset {words(self.ruleset_id)}, version {self.ruleset_version} "
            f"({self.owner}; {self.source})"
        )
        return f"{head}: {self.summary()}"


def local_rulesets(knowledge: Knowledge) -> tuple[str, ...]:
    """Ids of the local rulesets the library runs for every patient, sorted."""
    return tuple(
        sorted(
            rid for rid, rs in knowledge.rulesets.items() if rs.runs_for == RUNS_FOR_EVERY_PATIENT
        )
    )
