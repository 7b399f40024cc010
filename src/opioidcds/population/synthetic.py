"""A SYNTHETIC practice population for examples, tests and benchmarks (no real people).

:func:`generate` draws reproducible (seeded) patients with issue histories of real UK product
names and dm+d codes from the bundled catalogue and realistic dosage texts. The rates here
are illustrative simulation settings, not clinical knowledge and not estimates of any real
population; every identifier starts with ``SYN-``. With ``practices`` and ``taper_share``
(as ``opioidcds demo-data`` uses them) patients belong to synthetic practices and some reduce
or stop their opioid during the history, so outcomes over time have something to show.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from opioidcds._errors import InvalidInputError, KnowledgeBaseError, OpioidCDSError
from opioidcds._knowledge.products import load_catalogue

__all__ = [
    "DEMO_AS_OF",
    "DEMO_BASELINE",
    "SYNTHETIC_MARK",
    "SyntheticPopulation",
    "demo_list_sizes",
    "demo_practice",
    "demo_questionnaires",
    "generate",
    "marked_synthetic",
]

# (product name, (dosage text, quantity per 28 days)..., lower regimen used by a reducing
# patient: (product name, dosage text, quantity per 28 days)) - simulation settings only
_Lower = tuple[str, str, int]
_OPIOIDS: Final[tuple[tuple[str, tuple[tuple[str, int], ...], _Lower], ...]] = (
    (
        "Co-codamol 30mg/500mg tablets",
        (
            ("two tablets four times a day", 224),
            ("1-2 tablets up to four times a day when required", 224),
        ),
        ("Co-codamol 30mg/500mg tablets", "one tablet four times a day", 112),
    ),
    (
        "Co-codamol 8mg/500mg tablets",
        (("two tablets four times a day", 224),),
        ("Co-codamol 8mg/500mg tablets", "one tablet four times a day", 112),
    ),
    (
        "Tramadol 50mg capsules",
        (("one or two capsules four times a day", 224), ("take one capsule three times a day", 84)),
        ("Tramadol 50mg capsules", "one capsule twice a day", 56),
    ),
    (
        "Codeine 30mg tablets",
        (("one tablet four times a day", 112),),
        ("Codeine 30mg tablets", "one tablet twice a day", 56),
    ),
    (
        "Dihydrocodeine 30mg tablets",
        (("one tablet every 4 to 6 hours", 168), ("one tablet three times a day", 84)),
        ("Dihydrocodeine 30mg tablets", "one tablet twice a day", 56),
    ),
    (
        "Oxycodone 10mg modified-release tablets",
        (("one tablet twice a day", 56),),
        ("Oxycodone 5mg modified-release tablets", "one tablet twice a day", 56),
    ),
    (
        "Oxycodone 40mg modified-release tablets",
        (("one tablet twice a day", 56), ("two tablets twice a day", 112)),
        ("Oxycodone 40mg modified-release tablets", "one tablet once a day", 28),
    ),
    (
        "Morphine 30mg modified-release tablets",
        (("one tablet twice a day", 56),),
        ("Morphine 30mg modified-release tablets", "one tablet once a day", 28),
    ),
    (
        "Morphine 60mg modified-release tablets",
        (("one tablet twice a day", 56), ("two tablets twice a day", 112)),
        ("Morphine 60mg modified-release tablets", "one tablet once a day", 28),
    ),
    (
        "Morphine sulfate 10mg/5ml oral solution",
        (("5ml every 4 hours when required", 300), ("10ml four times a day", 1120)),
        ("Morphine sulfate 10mg/5ml oral solution", "5ml four times a day", 100),
    ),
    (
        "Tapentadol 50mg modified-release tablets",
        (("one tablet twice a day", 56),),
        ("Tapentadol 50mg modified-release tablets", "one tablet once a day", 28),
    ),
    (
        "Buprenorphine 10micrograms/hour transdermal patches",
        (("apply one patch every 7 days", 4),),
        ("Buprenorphine 5micrograms/hour transdermal patches", "apply one patch every 7 days", 4),
    ),
    (
        "Fentanyl 25micrograms/hour transdermal patches",
        (("apply one patch every 72 hours", 10),),
        ("Fentanyl 12micrograms/hour transdermal patches", "apply one patch every 72 hours", 10),
    ),
    (
        "Fentanyl 50micrograms/hour transdermal patches",
        (("apply one patch every 72 hours", 10),),
        ("Fentanyl 25micrograms/hour transdermal patches", "apply one patch every 72 hours", 10),
    ),
)
_OTHERS: Final = (
    ("Diazepam 5mg tablets", "one tablet twice a day", 56),
    ("Pregabalin 75mg capsules", "one capsule twice a day", 56),
    ("Gabapentin 300mg capsules", "one capsule three times a day", 84),
)


@dataclass(frozen=True, slots=True)
class SyntheticPopulation:
    """Issue extract and patient table of a synthetic population (text columns)."""

    issues: pl.DataFrame
    patients: pl.DataFrame
    as_of: dt.date


@dataclass(frozen=True, slots=True)
class _Regimen:
    code: str
    name: str
    texts: tuple[tuple[str, int], ...]  # dosage text, quantity per 28 days
    lower: tuple[str, str, str, int]  # code, name, text, quantity per 28 days


def _products() -> list[_Regimen]:
    """The simulated regimens with their dm+d codes (every product must be in the catalogue).

    Raises:
        KnowledgeBaseError: a product is missing from the catalogue (the list is out of date).
    """
    catalogue = load_catalogue()

    def code_of(name: str) -> str:
        try:
            return catalogue.by_name(name).dmd_code
        except OpioidCDSError:
            raise KnowledgeBaseError(f"synthetic: product '{name}' not in the catalogue") from None

    out: list[_Regimen] = []
    for name, texts, lower in _OPIOIDS:
        low = (code_of(lower[0]), lower[0], lower[1], lower[2])
        out.append(_Regimen(code_of(name), name, texts, low))
    return out


def _tri(rng: random.Random, p_true: float, p_unknown: float) -> str:
    u = rng.random()
    if u < p_unknown:
        return ""
    return "true" if u < p_unknown + p_true else "false"


_PROGRESS_EVERY: Final = 5_000  # patients between progress calls (display only)
_PATIENT_COLUMNS: Final = (
    "patient_id",
    "age",
    "sex",
    "unemployed",
    "depression",
    "other_psychological_disease",
    "history_substance_or_alcohol_misuse",
    "family_history_dependence",
    "ae_attendance_recent",
    "cancer_pain",
    "palliative_care",
    "readiness_to_change",
)


def _patient_row(rng: random.Random, pid: str, pcols: dict[str, list[str]]) -> None:
    """Append one patient-table row (risk inputs at illustrative simulation rates)."""
    pcols["patient_id"].append(pid)
    pcols["age"].append("" if rng.random() < 0.02 else str(rng.randint(16, 95)))
    pcols["sex"].append(rng.choice(("male", "female", "female", "")))
    pcols["unemployed"].append(_tri(rng, 0.15, 0.4))
    pcols["depression"].append(_tri(rng, 0.3, 0.2))
    pcols["other_psychological_disease"].append(_tri(rng, 0.1, 0.3))
    pcols["history_substance_or_alcohol_misuse"].append(_tri(rng, 0.05, 0.2))
    pcols["family_history_dependence"].append(_tri(rng, 0.05, 0.6))
    pcols["ae_attendance_recent"].append(_tri(rng, 0.2, 0.3))
    pcols["cancer_pain"].append("true" if rng.random() < 0.03 else "false")
    pcols["palliative_care"].append("true" if rng.random() < 0.01 else "false")
    pcols["readiness_to_change"].append(
        rng.choice(("", "", "", "not-considering", "considering", "ready"))
    )


def _issue(
    cols: dict[str, list[str]],
    who: tuple[str, str, str, str],
    dose: tuple[str, str],
    supply: str,
    practice: str,
) -> None:
    """Append one issue row: (patient, date, code, name), (quantity, dosage text)."""
    for key, value in zip(
        ("patient_id", "issue_date", "dmd_code", "product_name"), who, strict=True
    ):
        cols[key].append(value)
    cols["quantity"].append(dose[0])
    cols["dosage_text"].append(dose[1])
    cols["days_supply"].append(supply)
    if "practice_id" in cols:
        cols["practice_id"].append(practice)


def generate(
    patients: int,
    *,
    seed: int = 0,
    as_of: dt.date = dt.date(2026, 11, 1),
    issues_per_patient: int = 10,
    practices: int = 0,
    taper_share: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
) -> SyntheticPopulation:
    """Generate ``patients`` synthetic patients with about ``issues_per_patient`` issues each.

    Reproducible for a given seed. Rows are one per issue; some patients get early re-issues,
    co-prescribed benzodiazepines or gabapentinoids, missing dosage texts, short histories or
    stopped opioids, so every scope outcome and tier occurs. With ``practices`` > 0 each
    patient belongs to one of that many synthetic practices (column ``practice_id``,
    ``SYN-P1``...); a share ``taper_share`` of patients moves to a lower regimen partway
    through the second half of their history (a reduction for outcomes over time).
    ``progress`` is called as ``progress(done, total)`` every few thousand patients and at
    the end (it does not change the data).

    Raises:
        InvalidInputError: a negative count or a share outside 0-1.
        KnowledgeBaseError: a simulated product is missing from the catalogue.
    """
    if patients < 0 or practices < 0 or issues_per_patient < 1:
        raise InvalidInputError("patients", "counts must not be negative")
    if not 0.0 <= taper_share <= 1.0:
        raise InvalidInputError("taper_share", "must be between 0 and 1")
    rng = random.Random(seed)  # noqa: S311 - simulation, not security
    products = _products()
    cols: dict[str, list[str]] = {
        k: []
        for k in (
            "patient_id",
            "issue_date",
            "dmd_code",
            "product_name",
            "quantity",
            "dosage_text",
            "days_supply",
            *(("practice_id",) if practices else ()),
        )
    }
    pcols: dict[str, list[str]] = {k: [] for k in _PATIENT_COLUMNS}
    width = len(str(patients))
    for n in range(patients):
        pid = f"SYN-{n:0{width}d}"
        regimen = products[rng.randrange(len(products))]
        count = max(1, int(rng.gauss(issues_per_patient, issues_per_patient / 3)))
        gap = 28 if rng.random() < 0.8 else rng.choice((14, 21, 56))
        stopped = rng.random() < 0.1
        end = as_of - dt.timedelta(days=rng.randrange(0, 28) + (90 if stopped else 0))
        with_text = rng.random() < 0.7
        text, qty = rng.choice(regimen.texts)
        by_code = rng.random() < 0.8
        practice = f"SYN-P{rng.randrange(practices) + 1}" if practices else ""
        lower_from = count
        if taper_share and rng.random() < taper_share and count > 1:
            lower_from = rng.randrange(count // 2, count)
        for k in range(count):
            code, name = regimen.code, regimen.name
            if k >= lower_from:
                code, name, text, qty = regimen.lower
            day = end - dt.timedelta(days=gap * (count - 1 - k) + rng.randrange(0, 4))
            early = rng.random() < 0.05
            if early:
                day -= dt.timedelta(days=10)
            _issue(
                cols,
                (pid, day.isoformat(), code if by_code else "", "" if by_code else name),
                (str(max(1, qty * gap // 28)), text if with_text else ""),
                str(gap) if rng.random() < 0.6 else "",
                practice,
            )
        if rng.random() < 0.15:
            other, otext, oqty = _OTHERS[rng.randrange(len(_OTHERS))]
            when = (end - dt.timedelta(days=rng.randrange(0, 40))).isoformat()
            _issue(cols, (pid, when, "", other), (str(oqty), otext), "28", practice)
        if rng.random() < 0.9:
            _patient_row(rng, pid, pcols)
        if progress is not None and n % _PROGRESS_EVERY == 0:
            progress(n, patients)
    if progress is not None:
        progress(patients, patients)
    return SyntheticPopulation(
        issues=pl.DataFrame(cols, schema=dict.fromkeys(cols, pl.String)),
        patients=pl.DataFrame(pcols, schema=dict.fromkeys(pcols, pl.String)),
        as_of=as_of,
    )


DEMO_AS_OF: Final = dt.date(2026, 11, 1)
"""The last date of the demo practice's history (fixed, so the demo is reproducible)."""
DEMO_BASELINE: Final = DEMO_AS_OF - dt.timedelta(weeks=26)
"""The baseline the demo suggests for outcomes: 26 weeks (six 28-day cycles) before."""
SYNTHETIC_MARK: Final = "SYNTHETIC"
"""The value of the ``synthetic`` column of every demo row."""


def demo_practice(
    patients: int,
    *,
    seed: int = 2032,
    practices: int = 3,
    bad_rows: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> SyntheticPopulation:
    """The synthetic practice of ``opioidcds demo-data``: about a year of history per patient.

    :func:`generate` with about 14 issues per patient (13 months of 28-day cycles), a
    quarter of patients reducing in the second half, ``practices`` practices; both tables get
    a ``synthetic`` column (``SYNTHETIC`` on every row; screening ignores unknown columns).
    With ``bad_rows``, three deliberately bad issue rows are appended (an impossible date, a
    negative quantity, an unknown dm+d code) to show how bad rows are excluded and listed.
    ``progress`` as for :func:`generate`.

    Raises:
        InvalidInputError: fewer than one patient, or practices not between 1 and patients.
    """
    if patients < 1:
        raise InvalidInputError("patients", "must be at least 1")
    if not 1 <= practices <= patients:
        raise InvalidInputError("practices", "must be between 1 and the number of patients")
    pop = generate(
        patients,
        seed=seed,
        as_of=DEMO_AS_OF,
        issues_per_patient=14,
        practices=practices,
        taper_share=0.25,
        progress=progress,
    )
    issues = pop.issues
    if bad_rows:
        code = issues.get_column("dmd_code").filter(issues.get_column("dmd_code") != "")
        known = str(code[0]) if code.len() else ""
        bad = pl.DataFrame(
            {
                "patient_id": ["SYN-BAD-1", "SYN-BAD-2", "SYN-BAD-3"],
                "issue_date": ["2026-02-30", "2026-10-01", "2026-10-01"],
                "dmd_code": [known, known, "99999999999999"],
                "product_name": ["", "", ""],
                "quantity": ["28", "-28", "28"],
                "dosage_text": ["", "", ""],
                "days_supply": ["", "", ""],
                "practice_id": ["SYN-P1"] * 3,
            },
            schema=dict.fromkeys(issues.columns, pl.String),
        )
        issues = pl.concat([issues, bad])
    mark = pl.lit(SYNTHETIC_MARK).alias("synthetic")
    return SyntheticPopulation(
        issues=issues.with_columns(mark),
        patients=pop.patients.with_columns(mark),
        as_of=pop.as_of,
    )


def marked_synthetic(source: str | Path | pl.DataFrame) -> bool:
    """Whether an issue extract says it is synthetic (a ``synthetic`` column with SYNTHETIC).

    Used to put a SYNTHETIC banner on the outputs of a screening of demo data, so a report of
    invented people is never mistaken for a real practice's. An extract without the column, or
    one that cannot be read here, is not marked (the screening itself reports unreadable files).
    """
    try:
        if isinstance(source, pl.DataFrame):
            frame = source.lazy()
        elif Path(source).suffix.lower() in (".parquet", ".pq"):
            frame = pl.scan_parquet(source)
        else:
            frame = pl.scan_csv(source, infer_schema=False)
        names = {c.strip().lower(): c for c in frame.collect_schema().names()}
        if "synthetic" not in names:
            return False
        mark = pl.col(names["synthetic"]).cast(pl.String).str.strip_chars() == SYNTHETIC_MARK
        return frame.filter(mark).head(1).collect().height > 0
    except (OSError, pl.exceptions.PolarsError):
        return False


# --- a SYNTHETIC service cohort: questionnaires and list sizes (issue 21) -------------------

_DEMO_INSTRUMENTS: Final = ("bpi-sf", "swemwbs", "eq-5d-5l")


def _clip(value: float, low: int, high: int, step: int = 1) -> int:
    return max(low, min(high, round(value / step) * step))


def _responses(
    rng: random.Random, instrument: str, state: dict[str, float], *, gaps: bool
) -> dict[str, str]:
    """One questionnaire's responses from a patient's simulated state (text cells)."""
    out: dict[str, str] = {}
    if instrument == "bpi-sf":
        pain = state["pain"]
        for item, shift in (("worst", 1.5), ("least", -2.0), ("average", 0.0), ("now", 0.0)):
            out[item] = str(_clip(rng.gauss(pain + shift, 0.8), 0, 10))
        out["relief"] = str(_clip(rng.gauss(state["relief"], 12), 0, 100, 10))
        for item in (
            "general_activity",
            "mood",
            "walking",
            "normal_work",
            "relations",
            "sleep",
            "enjoyment",
        ):
            out[item] = str(_clip(rng.gauss(state["interference"], 1.2), 0, 10))
        if gaps and rng.random() < 0.15:  # a few interference items left blank
            for item in rng.sample(("mood", "relations", "sleep", "enjoyment"), rng.randint(1, 4)):
                out[item] = ""
    elif instrument == "swemwbs":
        for item in (
            "optimistic",
            "useful",
            "relaxed",
            "dealing_with_problems",
            "thinking_clearly",
            "close_to_others",
            "own_mind",
        ):
            out[item] = str(_clip(rng.gauss(state["wellbeing"], 0.7), 1, 5))
    else:
        for item, base in (
            ("mobility", 0.0),
            ("self_care", -1.0),
            ("usual_activities", 0.0),
            ("pain_discomfort", 0.7),
            ("anxiety_depression", -0.3),
        ):
            out[item] = str(_clip(rng.gauss(state["level"] + base, 0.6), 1, 5))
        out["vas"] = str(_clip(rng.gauss(state["vas"], 8), 0, 100))
    return out


def _enrolments(
    population: SyntheticPopulation, rng: random.Random, size: int
) -> tuple[list[tuple[str, dt.date]], set[str], dict[str, str]]:
    """Who enrols and when, and each patient's practice.

    Patients whose regimen changes enrol shortly before the change (first), then others.
    """
    issues = population.issues.filter(
        pl.col("patient_id").str.starts_with("SYN-")
        & ~pl.col("patient_id").str.starts_with("SYN-BAD")
    )
    by_patient: dict[str, list[tuple[str, str]]] = {}
    for pid, day, code, name in issues.select(
        "patient_id", "issue_date", "dmd_code", "product_name"
    ).iter_rows():
        by_patient.setdefault(pid, []).append((day, code or name))
    practice = (
        dict(issues.select("patient_id", "practice_id").unique("patient_id").iter_rows())
        if "practice_id" in issues.columns
        else {}
    )
    latest = population.as_of - dt.timedelta(days=120)
    reducers: list[tuple[str, dt.date]] = []
    others: list[tuple[str, dt.date]] = []
    for pid in sorted(by_patient):
        rows = sorted(by_patient[pid])
        dates = [dt.date.fromisoformat(d) for d, _ in rows]
        change = next((i for i in range(1, len(rows)) if rows[i][1] != rows[i - 1][1]), None)
        if change is not None and dates[change] - dates[0] > dt.timedelta(days=100):
            start = dates[change] - dt.timedelta(days=rng.randrange(3, 20))
            if start <= latest:
                reducers.append((pid, start))
        elif len(rows) >= 6 and dates[4] <= latest:
            others.append((pid, dates[4]))
    chosen = reducers[: (size * 3) // 5]
    chosen += rng.sample(others, min(len(others), size - len(chosen)))
    return chosen, {p for p, _ in reducers}, practice


def demo_questionnaires(
    population: SyntheticPopulation, *, seed: int = 2032, size: int = 40, bad_rows: bool = True
) -> pl.DataFrame:
    """A SYNTHETIC service cohort's questionnaires (BPI-SF, SWEMWBS, EQ-5D-5L), wide format.

    About ``size`` patients of ``population`` (preferring those whose regimen changes during
    their history, i.e. who reduce) are enrolled with a baseline questionnaire of each
    instrument on one day and a follow-up 4-9 months later; most improve a little, some do
    not, about one in eight has no follow-up, and some interference items are left blank.
    With ``bad_rows``, one row has an out-of-range response (to show the item-by-item check).
    Simulation settings only, not estimates of any real service; column ``synthetic`` marks
    every row.
    """
    rng = random.Random(seed + 21)  # noqa: S311 - simulation, not security
    chosen, reducers, practice = _enrolments(population, rng, size)
    cols: dict[str, list[str]] = {
        "patient_id": [],
        "completed_on": [],
        "instrument": [],
        "practice_id": [],
    }
    rows_out: list[dict[str, str]] = []
    for pid, start in sorted(chosen):
        reducing = pid in reducers
        gain = rng.gauss(1.5 if reducing else 0.5, 0.8)
        state = {
            "pain": rng.uniform(5, 8),
            "relief": rng.uniform(20, 60),
            "interference": rng.uniform(4.5, 8),
            "wellbeing": rng.uniform(2.2, 3.3),
            "level": rng.uniform(2.2, 3.6),
            "vas": rng.uniform(35, 60),
        }
        follow = min(
            start + dt.timedelta(days=rng.randrange(120, 270)),
            population.as_of - dt.timedelta(days=rng.randrange(0, 10)),
        )
        visits = [(start, state)]
        if rng.random() > 0.12:
            later = {
                **state,
                "pain": state["pain"] - 0.9 * gain,
                "interference": state["interference"] - 1.3 * gain,
                "wellbeing": state["wellbeing"] + 0.35 * gain,
                "level": state["level"] - 0.4 * gain,
                "vas": state["vas"] + 7 * gain,
            }
            visits.append((follow, later))
        for when, st in visits:
            for inst in _DEMO_INSTRUMENTS:
                row = {
                    "patient_id": pid,
                    "completed_on": when.isoformat(),
                    "instrument": inst,
                    "practice_id": practice.get(pid, ""),
                }
                row.update(_responses(rng, inst, st, gaps=True))
                rows_out.append(row)
    if bad_rows and rows_out:
        bad = dict(next(r for r in rows_out if r["instrument"] == "bpi-sf"))
        bad.update({"patient_id": "SYN-BAD-Q1", "worst": "11"})
        rows_out.append(bad)
    names = list(cols)
    for r in rows_out:
        for k in r:
            if k not in names:
                names.append(k)
    frame = pl.DataFrame(
        {k: [r.get(k, "") for r in rows_out] for k in names},
        schema=dict.fromkeys(names, pl.String),
    )
    return frame.with_columns(pl.lit(SYNTHETIC_MARK).alias("synthetic"))


def demo_list_sizes(practices: int, *, seed: int = 2032) -> pl.DataFrame:
    """SYNTHETIC registered list sizes of the demo practices ``SYN-P1``... (simulation only)."""
    rng = random.Random(seed + 1000)  # noqa: S311 - simulation, not security
    return pl.DataFrame(
        {
            "practice_id": [f"SYN-P{k}" for k in range(1, practices + 1)],
            "list_size": [str(rng.randrange(4_000, 14_000, 10)) for _ in range(practices)],
            "synthetic": [SYNTHETIC_MARK] * practices,
        }
    )
