"""Evaluate and sustain a service: questionnaires + extract -> the evaluation (issue 21).

:func:`evaluate` is what ``opioidcds evaluate`` runs: the service evaluation (each measure at
baseline and follow-up, paired, per practice and overall: :mod:`.service`), the practice
comparison and trends per month (:mod:`.trends`) and the funnel plots of the latest month
(:mod:`.funnel`); :func:`~opioidcds.population.evaluation_report.write_evaluation` writes the
HTML report and the machine-readable files. See ``docs/evaluation.md``::

    from opioidcds.population import evaluate, write_evaluation
    result = evaluate("questionnaires.csv", "issues.csv", patients="patients.csv",
                      list_sizes="list_sizes.csv")
    write_evaluation(result, "evaluation-out", html=True)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl

from opioidcds._decide.knowledge import Knowledge, default_knowledge
from opioidcds._decide.rules import Profile
from opioidcds._errors import InvalidInputError
from opioidcds._knowledge.provenance import Provenance, build, combine
from opioidcds.population.engine import screen
from opioidcds.population.evaluation_method import EvaluationMethod, default_evaluation_method
from opioidcds.population.funnel import Funnel, funnel
from opioidcds.population.instruments import Instrument, ValueSet, default_instruments
from opioidcds.population.outcomes import OutcomesMethod, default_outcomes_method
from opioidcds.population.prom import read_questionnaires, score_questionnaire
from opioidcds.population.schema import RowProblem, read_issues, read_practices, read_table
from opioidcds.population.service import (
    MeasureSummary,
    PatientChange,
    dose_changes,
    dose_measure,
    measures_of,
    prom_changes,
    service_cohort,
    summarise,
)
from opioidcds.population.synthetic import marked_synthetic
from opioidcds.population.trends import (
    ALL_PRACTICES,
    ListSizes,
    PracticeMonth,
    month_ends,
    practice_months,
    read_list_sizes,
)

__all__ = ["Evaluation", "evaluate"]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The result of :func:`evaluate`.

    ``questionnaires_after_as_of``: valid questionnaires completed after ``as_of`` (not used,
    counted). ``summaries``: per measure (dose first, then each instrument's scores in file order),
    overall then each practice. ``changes``: per patient and measure. ``problems``: input rows
    excluded (questionnaires, list sizes) by file, row and reason (never a value).
    ``months`` / ``trends``: the month ends and the per-practice rows; ``funnels``: the
    latest month's practice comparison. ``provenance``: every knowledge source used (the
    screening's, the instruments', the evaluation method's and any value set's) and one hash.
    """

    as_of: dt.date
    synthetic: bool
    cohort: int
    questionnaires_used: int
    questionnaires_after_as_of: int
    summaries: tuple[MeasureSummary, ...]
    changes: tuple[PatientChange, ...]
    problems: tuple[RowProblem, ...]
    months: tuple[dt.date, ...]
    trends: tuple[PracticeMonth, ...]
    funnels: tuple[Funnel, ...]
    instruments: tuple[Instrument, ...]
    value_set: ValueSet | None
    method: EvaluationMethod
    outcomes_method: OutcomesMethod
    high_dose_mg_per_day: Decimal | None
    versions: Mapping[str, str]
    provenance: Provenance


def _frame(source: str | Path | pl.DataFrame, what: str) -> pl.DataFrame:
    df = source if isinstance(source, pl.DataFrame) else read_table(source, what=what)
    return df.rename({c: c.strip().lower() for c in df.columns}).cast(pl.String)


def evaluate(
    questionnaires: str | Path | pl.DataFrame,
    issues: str | Path | pl.DataFrame,
    *,
    patients: str | Path | pl.DataFrame | None = None,
    list_sizes: str | Path | pl.DataFrame | Mapping[str, int] | None = None,
    as_of: dt.date | None = None,
    months: int | None = None,
    value_set: ValueSet | None = None,
    instruments: Mapping[str, Instrument] | None = None,
    knowledge: Knowledge | None = None,
    profile: Profile | None = None,
    method: EvaluationMethod | None = None,
    history_from: dt.date | None = None,
    strict: bool = False,
) -> Evaluation:
    """Evaluate the service of ``questionnaires`` against the extract ``issues``.

    Args:
        questionnaires: the questionnaire file (CSV/Parquet) or frame (``QUESTIONNAIRE_COLUMNS``).
        issues: the issue extract, as for :func:`~opioidcds.population.screen`.
        patients: the optional patient table, as for ``screen``.
        list_sizes: registered list sizes per practice (file, frame or mapping); without them
            the rates per 1,000 and the funnel plots are "cannot evaluate", never guessed.
        as_of: the evaluation date (default: the extract's latest issue date).
        months: months of the trends (default: the method's).
        value_set: an EQ-5D-5L value set loaded as data (adds the index).
        instruments: the instrument definitions (default: the bundled ``instruments/``).
        knowledge: the knowledge bundle (default: the bundled rulesets and tables).
        profile: a local profile (thresholds), as for ``screen``.
        method: the evaluation method (default: ``population_method/evaluation.toml``).
        history_from: the date from which the extract holds every opioid issue (new starts).
        strict: a questionnaire row that fails its checks is an error, not a listed problem.

    Raises:
        InvalidInputError: a file cannot be read or lacks required columns; the extract has no
            usable issue and no ``as_of`` is given; with ``strict``, a bad questionnaire row.
    """
    kb = knowledge if knowledge is not None else default_knowledge()
    meth = method if method is not None else default_evaluation_method()
    out_meth = default_outcomes_method()
    known = instruments if instruments is not None else default_instruments()
    issue_df = _frame(issues, "issues")
    patient_df = None if patients is None else _frame(patients, "patients")
    records, problems = read_questionnaires(questionnaires, instruments=known, strict=strict)
    sizes, size_problems = (
        read_list_sizes(list_sizes) if list_sizes is not None else (ListSizes({}, {}), ())
    )
    final = as_of
    if final is None:  # the latest usable issue, as screen() takes it
        latest = read_issues(issue_df)[0].get_column("issue_date").max()
        if not isinstance(latest, dt.date):
            raise InvalidInputError("issues", "no usable issue: give as_of")
        final = latest
    scored = [score_questionnaire(r, instruments=known, value_set=value_set) for r in records]
    cohort = service_cohort(
        scored, as_of=final, extract_practices=read_practices(issue_df, up_to=final)
    )
    summaries: list[MeasureSummary] = []
    changes: list[PatientChange] = []
    dose = dose_changes(cohort, issue_df, patient_df, meth, out_meth, knowledge=kb, profile=profile)
    changes += dose
    summaries += summarise(dose_measure(), dose, out_meth)
    used = [known[i] for i in sorted({q.instrument.id for q in cohort.questionnaires})]
    for inst in used:
        for measure, _ in measures_of(inst, value_set):
            mine = prom_changes(cohort, inst, measure, meth)
            changes += mine
            summaries += summarise(measure, mine, out_meth)
    ends = month_ends(final, months if months is not None else meth.months)
    trend_rows, screenings = practice_months(
        issue_df,
        patient_df,
        sizes,
        months=ends,
        method=meth,
        outcomes_method=out_meth,
        knowledge=kb,
        profile=profile,
        history_from=history_from,
    )
    funnels: list[Funnel] = []
    if ends:
        last = [r for r in trend_rows if r.month == ends[-1] and r.practice != ALL_PRACTICES]
        for indicator, label in (
            ("high_dose", "Patients above the high-dose threshold per 1,000 registered"),
            ("long_term", "Patients on long-term opioids per 1,000 registered"),
        ):
            counts = {
                r.practice: (int(getattr(r, indicator)), r.list_size)
                for r in last
                if r.list_size is not None
            }
            funnels.append(funnel(indicator, label, counts, meth))
    latest_screen = screenings[ends[-1]] if ends else None
    if latest_screen is None:
        latest_screen = screen(issue_df, patient_df, as_of=final, knowledge=kb, profile=profile)
    threshold = kb.bound("risk-factors", profile).binding.params.get(out_meth.high_dose_parameter)
    versions = {
        **latest_screen.versions,
        "outcomes-method": f"{out_meth.id} {out_meth.version}",
        "evaluation-method": f"{meth.id} {meth.version}",
        **{f"instrument:{i.id}": i.version for i in used},
    }
    if value_set is not None:
        versions["eq5d-value-set"] = f"{value_set.id} {value_set.version}"
    return Evaluation(
        as_of=final,
        synthetic=marked_synthetic(issue_df),
        cohort=len(cohort.index_dates),
        questionnaires_used=len(cohort.questionnaires),
        questionnaires_after_as_of=len(scored) - len(cohort.questionnaires),
        summaries=tuple(summaries),
        changes=tuple(changes),
        problems=tuple(problems) + tuple(size_problems),
        months=tuple(ends),
        trends=tuple(trend_rows),
        funnels=tuple(funnels),
        instruments=tuple(used),
        value_set=value_set,
        method=meth,
        outcomes_method=out_meth,
        high_dose_mg_per_day=threshold if isinstance(threshold, Decimal) else None,
        versions=versions,
        provenance=combine(
            latest_screen.provenance,
            build(
                [
                    *(i.source for i in used),
                    *([] if meth.source is None else [meth.source]),
                    *([] if value_set is None else [value_set.source]),
                ]
            ),
        ),
    )
