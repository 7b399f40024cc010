"""Realistic benchmark inputs: many real products, thousands of dosage texts, different patients.

Issue 20: a figure counts only on realistic inputs. This module builds them, seeded and not
timed, for the per-call and population benchmarks:

- :func:`products`: every dm+d product of the bundled catalogue a primary-care record holds
  for chronic pain (oral tablets, capsules and liquids, modified-release forms, transdermal
  patches; opioid-dependence treatments left out), about 1,360 codes;
- :func:`dosage_texts`: about 4,500 distinct UK dosage texts (tablets, capsules, liquids,
  patches), written from the phrasing real GP records use (numbers as digits and words,
  abbreviations, ranges, PRN with maxima, patch intervals, mixed case); some are outside the
  grammar on purpose, as real texts are;
- :func:`patients`: distinct patients, about 3 prescriptions each (dm+d code + dosage text);
- :func:`floor_tables`: what a minimal hand-written calculator would precompute (OME per unit
  of each product; dose per administration and administrations per day of each text), made
  with the library itself before timing, so the floor does only the per-call work.

Not part of the package: benchmarks only. The texts are generated here (no corpus text is
copied).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from opioidcds import Dosage, Prescription, calculate_ome, load_catalogue, parse_dosage

SOLID_FORMS = frozenset(
    {"tablet", "capsule", "modified-release tablet", "modified-release capsule"}
)
LIQUID_FORMS = frozenset({"oral solution"})
PATCH_FORMS = frozenset({"transdermal patch"})


@dataclass(frozen=True, slots=True)
class BenchProduct:
    """A catalogue product and the kind of dosage text it takes."""

    dmd_code: str
    kind: str  # "solid", "liquid" or "patch"
    unit: str  # the dose unit of one administration: tablet, capsule, mL or patch


def products() -> list[BenchProduct]:
    """The catalogue's oral solid, oral liquid and transdermal patch opioid products."""
    found = []
    for p in load_catalogue().products:
        if p.opioid_dependence_treatment or p.superseded_by is not None:
            continue
        if p.form in SOLID_FORMS:
            kind, unit = "solid", ("capsule" if "capsule" in p.form else "tablet")
        elif p.form in LIQUID_FORMS and p.volume_ml is None:
            kind, unit = "liquid", "mL"
        elif p.form in PATCH_FORMS:
            kind, unit = "patch", "patch"
        else:
            continue
        found.append(BenchProduct(p.dmd_code, kind, unit))
    return found


_COUNTS = ("one", "two", "1", "2", "ONE", "TWO", "1-2", "one or two", "half", "1/2")
_FREQ = (
    "once a day",
    "twice a day",
    "three times a day",
    "four times a day",
    "every 4 hours",
    "every 6 hours",
    "every 12 hours",
    "4-6 hourly",
    "at night",
    "in the morning",
    "bd",
    "tds",
    "qds",
    "od",
    "nocte",
    "mane",
    "TWICE DAILY",
    "THREE TIMES A DAY",
    "FOUR TIMES DAILY",
    "every 8 hours",
)
_NOUNS = {
    "tablet": ("", " tablet", " tablets", " TABLETS", " tab"),
    "capsule": ("", " capsule", " capsules", " CAPSULES", " caps"),
}
_PREFIX = ("", "take ", "TAKE ", "Take ")
_PRN = ("", " when required", " as needed", " PRN", " when required for pain")
_MAX = ("", ", max 8 in 24 hours", " max 4 doses in 24 hours", " MAX 6 A DAY")
_VOLUMES = ("2.5ml", "5ml", "5 mL", "10ml", "2.5 to 5 ml", "5-10ml", "2.5mL", "1ml", "FIVE ML")
_PATCH = (
    "apply one patch every 72 hours",
    "APPLY ONE PATCH EVERY 72 HOURS",
    "apply one patch every 3 days",
    "change patch every 72 hours",
    "apply one patch twice weekly",
    "APPLY ONE PATCH EVERY 7 DAYS",
    "apply 1 patch every 7 days",
    "one patch weekly",
    "apply one patch every 4 days",
    "apply two patches every 72 hours",
    "APPLY ONE PATCH EVERY 96 HOURS",
    "apply one patch to the skin every 72 hours",
    "apply as directed",
)


def _solid_texts(unit: str) -> Iterator[str]:
    for count, noun, freq, prefix, prn, mx in itertools.product(
        _COUNTS, _NOUNS[unit], _FREQ, _PREFIX, _PRN, _MAX
    ):
        if mx and not prn:
            continue
        yield f"{prefix}{count}{noun} {freq}{prn}{mx}".strip()
    yield "ONE TO BE TAKEN TWICE A DAY"
    yield "TWO TO BE TAKEN FOUR TIMES A DAY WHEN REQUIRED"
    yield "as directed"


def _liquid_texts() -> Iterator[str]:
    for vol, freq, prefix, prn in itertools.product(_VOLUMES, _FREQ, _PREFIX, _PRN):
        yield f"{prefix}{vol} {freq}{prn}".strip()


def dosage_texts(seed: int = 20, per_kind: int = 1500) -> dict[str, list[str]]:
    """About ``per_kind`` distinct texts per dose unit (tablet, capsule, mL), and the patch texts.

    Keyed by dose unit; seeded.
    """
    rng = random.Random(seed)
    out: dict[str, list[str]] = {"patch": list(_PATCH)}
    for unit in ("tablet", "capsule"):
        texts = sorted(set(_solid_texts(unit)))
        out[unit] = rng.sample(texts, min(per_kind, len(texts)))
    liquids = sorted(set(_liquid_texts()))
    out["mL"] = rng.sample(liquids, min(per_kind, len(liquids)))
    return out


@dataclass(frozen=True, slots=True)
class BenchPatient:
    """One patient's current prescriptions, as (dm+d code, dosage text) pairs, and a new one."""

    prescriptions: tuple[tuple[str, str], ...]
    new: tuple[str, str]
    age: int
    sex: str


def patients(n: int, seed: int = 20) -> list[BenchPatient]:
    """``n`` distinct patients with 1-5 prescriptions each (mean about 3), seeded."""
    rng = random.Random(seed)
    prods = products()
    texts = dosage_texts(seed)

    def pick() -> tuple[str, str]:
        p = rng.choice(prods)
        return p.dmd_code, rng.choice(texts[p.unit])

    out = []
    for _ in range(n):
        k = rng.choice((1, 2, 2, 3, 3, 3, 4, 4, 5))
        out.append(
            BenchPatient(
                prescriptions=tuple(pick() for _ in range(k)),
                new=pick(),
                age=rng.randint(25, 90),
                sex=rng.choice(("male", "female")),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class FloorTables:
    """Precomputed look-ups for the hand-written floor (built with the library, not timed).

    ``ome_per_unit``: mg OME/day per unit taken once a day (per tablet, per mL; per patch worn).
    ``text``: dose per administration and administrations per day (patches: units worn), or
    ``None`` for a text the library does not read (the floor then counts nothing for it).
    """

    ome_per_unit: dict[str, Decimal]
    text: dict[str, tuple[Decimal, Decimal] | None]


def _per_day(d: Dosage) -> tuple[Decimal, Decimal] | None:
    quantity = d.dose_quantity_max or d.dose_quantity
    if quantity is None:
        return None
    if d.doses_per_day is not None:
        return quantity, d.doses_per_day_max or d.doses_per_day
    if d.interval_hours is not None:
        return quantity, Decimal(24) / (d.interval_hours_max or d.interval_hours)
    return None


def floor_tables(bench: list[BenchPatient]) -> FloorTables:
    """The floor's look-up tables for every product and text in ``bench``."""
    codes = {c for p in bench for c, _ in (*p.prescriptions, p.new)}
    texts = {t for p in bench for _, t in (*p.prescriptions, p.new)}
    catalogue = {p.dmd_code: p for p in products()}
    ome: dict[str, Decimal] = {}
    for code in codes:
        unit = catalogue[code].unit
        if unit == "patch":
            rx = Prescription(dmd_code=code, dose_quantity=1, dose_unit=unit, interval_hours=72)
        else:
            rx = Prescription(dmd_code=code, dose_quantity=1, dose_unit=unit, doses_per_day=1)
        result = calculate_ome([rx])
        ome[code] = result.total_mg_per_day if result.complete else Decimal(0)
    table: dict[str, tuple[Decimal, Decimal] | None] = {}
    for text in texts:
        parsed = parse_dosage(text)
        table[text] = _per_day(parsed) if isinstance(parsed, Dosage) else None
    return FloorTables(ome, table)


def floor_ome(
    pairs: tuple[tuple[str, str], ...], tables: FloorTables, kinds: dict[str, str]
) -> Decimal:
    """The hand-written floor: OME per unit x units per day, summed (what a minimal tool does)."""
    total = Decimal(0)
    for code, text in pairs:
        dose = tables.text.get(text)
        if dose is None:
            continue
        quantity, per_day = dose
        if kinds[code] == "patch":
            total += tables.ome_per_unit[code] * quantity  # a patch's rate is its daily OME
        else:
            total += tables.ome_per_unit[code] * quantity * per_day
    return total


def extract(
    n_patients: int, seed: int = 20, as_of: str = "2026-11-01"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A SYNTHETIC issue extract with realistic variety, and its patient table (Polars frames).

    Each patient has 1-4 opioid medicines from :func:`products`, each with a dosage text from
    :func:`dosage_texts` (about 1 in 10 of them outside the grammar, as real texts are),
    issued every 28 days for 3-12 months up to ``as_of`` (some stopped earlier), with the
    quantity for 28 days and, on half the issues, ``days_supply``. Patient ids start with
    ``SYN-``. Returns ``(issues, patients)``.
    """
    rng = random.Random(seed)
    prods = products()
    texts = dosage_texts(seed)
    parsed = {t: parse_dosage(t) for unit in texts for t in texts[unit]}
    end = dt.date.fromisoformat(as_of)
    cols: dict[str, list[object]] = {
        k: [] for k in ("patient_id", "issue_date", "dmd_code", "quantity", "dosage_text")
    }
    cols["days_supply"] = []
    people: dict[str, list[object]] = {"patient_id": [], "age": [], "sex": []}
    for i in range(n_patients):
        pid = f"SYN-{i:08d}"
        people["patient_id"].append(pid)
        people["age"].append(str(rng.randint(25, 90)))
        people["sex"].append(rng.choice(("male", "female")))
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            p = rng.choice(prods)
            text = rng.choice(texts[p.unit])
            d = parsed[text]
            per_day = _per_day(d) if isinstance(d, Dosage) else None
            if p.unit == "patch":
                quantity = Decimal(10)
            elif per_day is None:
                quantity = Decimal(56)
            else:
                quantity = (per_day[0] * per_day[1] * 28).quantize(Decimal(1))
            months = rng.randint(3, 12)
            stop = end - dt.timedelta(days=rng.choice((0, 0, 0, 120)))
            for k in range(months):
                date = stop - dt.timedelta(days=28 * k + rng.randint(0, 3))
                cols["patient_id"].append(pid)
                cols["issue_date"].append(date.isoformat())
                cols["dmd_code"].append(p.dmd_code)
                cols["quantity"].append(str(max(quantity, Decimal(1))))
                cols["dosage_text"].append(text)
                cols["days_supply"].append("28" if rng.random() < 0.5 else None)
    return pl.DataFrame(cols, schema=dict.fromkeys(cols, pl.String)), pl.DataFrame(
        people, schema=dict.fromkeys(people, pl.String)
    )


def ome_per_unit_frame() -> pl.DataFrame:
    """Every bench product's OME per unit (per tablet/capsule/mL a day; per patch worn).

    What a minimal screening tool would ship as a table; built with the library, not timed.
    """
    codes, values, patch = [], [], []
    for p in products():
        if p.unit == "patch":
            rx = Prescription(
                dmd_code=p.dmd_code, dose_quantity=1, dose_unit="patch", interval_hours=72
            )
        else:
            rx = Prescription(
                dmd_code=p.dmd_code, dose_quantity=1, dose_unit=p.unit, doses_per_day=1
            )
        result = calculate_ome([rx])
        if result.complete:
            codes.append(p.dmd_code)
            values.append(float(result.total_mg_per_day))
            patch.append(p.unit == "patch")
    return pl.DataFrame({"dmd_code": codes, "ome_per_unit": values, "patch": patch})


def polars_floor(
    issues: pl.DataFrame, as_of: str, window_days: int, high_dose: float, per_unit: pl.DataFrame
) -> pl.DataFrame:
    """A minimal Polars per-patient OME screen: the floor the library's ``screen`` is compared to.

    Reads each distinct dosage text once with the library's grammar (the same reading the
    library does), takes each patient's latest issue per product within ``window_days`` of
    ``as_of``, its daily units from the text (else quantity / days supply, else 28 days), sums
    OME per patient, flags ``high_dose`` and sorts: the core of the worklist, no explanations.
    """
    texts = issues.get_column("dosage_text").drop_nulls().unique().to_list()
    units: list[float | None] = []
    doses: list[float | None] = []
    for t in texts:
        d = parse_dosage(t)
        pd = _per_day(d) if isinstance(d, Dosage) else None
        units.append(None if pd is None else float(pd[0] * pd[1]))
        doses.append(None if pd is None else float(pd[0]))
    text_table = pl.DataFrame(
        {"dosage_text": texts, "units_per_day": units, "dose": doses},
        schema={"dosage_text": pl.String, "units_per_day": pl.Float64, "dose": pl.Float64},
    )
    end = dt.date.fromisoformat(as_of)
    start = end - dt.timedelta(days=window_days)
    latest = (
        issues.lazy()
        .with_columns(
            pl.col("issue_date").str.to_date(),
            pl.col("quantity").cast(pl.Float64),
            pl.col("days_supply").cast(pl.Float64),
        )
        .filter(pl.col("issue_date") <= end)
        .sort("issue_date")
        .group_by("patient_id", "dmd_code")
        .agg(
            pl.col("issue_date").last().alias("last"),
            pl.col("issue_date").first().alias("first"),
            pl.len().alias("issues"),
            pl.col("quantity").last(),
            pl.col("days_supply").last(),
            pl.col("dosage_text").last(),
        )
        .filter(pl.col("last") >= start)
        .join(text_table.lazy(), on="dosage_text", how="left")
        .join(per_unit.lazy(), on="dmd_code", how="inner")
        .with_columns(
            pl.when(pl.col("patch"))
            .then(pl.col("ome_per_unit") * pl.col("dose").fill_null(1.0))  # patches worn
            .otherwise(
                pl.col("ome_per_unit")
                * pl.coalesce(
                    pl.col("units_per_day"),
                    pl.col("quantity") / pl.col("days_supply").fill_null(28.0),
                )
            )
            .alias("daily_ome")
        )
    )
    return (
        latest.group_by("patient_id")
        .agg(
            pl.col("daily_ome").sum().alias("ome"),
            (pl.col("last").max() - pl.col("first").min()).dt.total_days().alias("span"),
            pl.col("issues").sum(),
        )
        .with_columns((pl.col("ome") > high_dose).alias("high_dose"))
        .sort("ome", descending=True)
        .collect()
    )


def clear_memos() -> int:
    """Empty the library's per-call memos (size-bounded ``lru_cache``), keeping loaded knowledge.

    So a timed run does not start with what an earlier run (or the floor's own use of the
    grammar) left behind: each timed screen starts cold, as a fresh process would, apart from
    the knowledge files it loads once.
    """
    import sys  # noqa: PLC0415

    cleared = 0
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("opioidcds"):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, type):
                continue  # a memo class itself (its methods need an instance), not a memo
            info = getattr(value, "cache_info", None)
            clear = getattr(value, "cache_clear", None)
            if callable(info) and callable(clear) and info().maxsize is not None:
                clear()
                cleared += 1
    return cleared
