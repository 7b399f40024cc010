"""A SYNTHETIC practice population for examples, tests and benchmarks (no real people).

:func:`generate` draws reproducible (seeded) patients with issue histories of real UK product
names and dm+d codes from the bundled catalogue and realistic dosage texts. The rates here
are illustrative simulation settings, not clinical knowledge and not estimates of any real
population; every identifier starts with ``SYN-``.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Final

import polars as pl

from opioidcds.errors import OpioidCDSError
from opioidcds.products import load_catalogue

__all__ = ["SyntheticPopulation", "generate"]

# (product name, dosage texts, quantity per 28 days at the first dosage) - simulation settings
_OPIOIDS: Final = (
    (
        "Co-codamol 30mg/500mg tablets",
        ("two tablets four times a day", "1-2 tablets up to four times a day when required"),
        224,
    ),
    ("Co-codamol 8mg/500mg tablets", ("two tablets four times a day",), 224),
    (
        "Tramadol 50mg capsules",
        ("one or two capsules four times a day", "take one capsule three times a day"),
        112,
    ),
    ("Codeine 30mg tablets", ("one tablet four times a day",), 112),
    (
        "Dihydrocodeine 30mg tablets",
        ("one tablet every 4 to 6 hours", "one tablet three times a day"),
        84,
    ),
    ("Oxycodone 10mg modified-release tablets", ("one tablet twice a day",), 56),
    ("Oxycodone 40mg modified-release tablets", ("one tablet twice a day",), 56),
    ("Morphine sulfate 30mg modified-release tablets", ("one tablet twice a day",), 56),
    ("Morphine sulfate 60mg modified-release tablets", ("one tablet twice a day",), 56),
    (
        "Morphine sulfate 10mg/5ml oral solution",
        ("5ml every 4 hours when required", "10ml four times a day"),
        300,
    ),
    ("Tapentadol 50mg modified-release tablets", ("one tablet twice a day",), 56),
    ("Buprenorphine 10micrograms/hour transdermal patches", ("apply one patch every 7 days",), 4),
    ("Fentanyl 25micrograms/hour transdermal patches", ("apply one patch every 72 hours",), 10),
    ("Fentanyl 50micrograms/hour transdermal patches", ("apply one patch every 72 hours",), 10),
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


def _products() -> list[tuple[str, str, tuple[str, ...], int]]:
    catalogue = load_catalogue()
    out: list[tuple[str, str, tuple[str, ...], int]] = []
    for name, texts, qty in _OPIOIDS:
        try:
            code = catalogue.by_name(name).dmd_code
        except OpioidCDSError:
            continue
        out.append((code, name, texts, qty))
    return out


def _tri(rng: random.Random, p_true: float, p_unknown: float) -> str:
    u = rng.random()
    if u < p_unknown:
        return ""
    return "true" if u < p_unknown + p_true else "false"


def generate(
    patients: int,
    *,
    seed: int = 0,
    as_of: dt.date = dt.date(2026, 11, 1),
    issues_per_patient: int = 10,
) -> SyntheticPopulation:
    """Generate ``patients`` synthetic patients with about ``issues_per_patient`` issues each.

    Reproducible for a given seed. Rows are one per issue; some patients get early re-issues,
    co-prescribed benzodiazepines or gabapentinoids, missing dosage texts, short histories or
    stopped opioids, so every scope outcome and tier occurs.
    """
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
        )
    }
    pcols: dict[str, list[str]] = {
        k: []
        for k in (
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
    }
    width = len(str(patients))
    for n in range(patients):
        pid = f"SYN-{n:0{width}d}"
        code, name, texts, qty = products[rng.randrange(len(products))]
        count = max(1, int(rng.gauss(issues_per_patient, issues_per_patient / 3)))
        gap = 28 if rng.random() < 0.8 else rng.choice((14, 21, 56))
        stopped = rng.random() < 0.1
        end = as_of - dt.timedelta(days=rng.randrange(0, 28) + (90 if stopped else 0))
        with_text = rng.random() < 0.7
        text = rng.choice(texts)
        by_code = rng.random() < 0.8
        for k in range(count):
            day = end - dt.timedelta(days=gap * (count - 1 - k) + rng.randrange(0, 4))
            early = rng.random() < 0.05
            if early:
                day -= dt.timedelta(days=10)
            cols["patient_id"].append(pid)
            cols["issue_date"].append(day.isoformat())
            cols["dmd_code"].append(code if by_code else "")
            cols["product_name"].append("" if by_code else name)
            cols["quantity"].append(str(max(1, qty * gap // 28)))
            cols["dosage_text"].append(text if with_text else "")
            cols["days_supply"].append(str(gap) if rng.random() < 0.6 else "")
        if rng.random() < 0.15:
            other, otext, oqty = _OTHERS[rng.randrange(len(_OTHERS))]
            cols["patient_id"].append(pid)
            cols["issue_date"].append((end - dt.timedelta(days=rng.randrange(0, 40))).isoformat())
            cols["dmd_code"].append("")
            cols["product_name"].append(other)
            cols["quantity"].append(str(oqty))
            cols["dosage_text"].append(otext)
            cols["days_supply"].append("28")
        if rng.random() < 0.9:
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
    return SyntheticPopulation(
        issues=pl.DataFrame(cols, schema=dict.fromkeys(cols, pl.String)),
        patients=pl.DataFrame(pcols, schema=dict.fromkeys(pcols, pl.String)),
        as_of=as_of,
    )
