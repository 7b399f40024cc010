"""Benchmark: the dosage grammar on real UK GP dosage texts (issue 16): coverage, agreement, speed.

The corpus is the development half of ``../shared/reference/dosage_real/`` (beside the
repository; see its README for the source, the licence "testing only" and the known label
errors): 16,908 distinct texts from the CPRD "common dosages" lookup (public copy
``CHIP-SET/textmining.ro`` ``common_dosages.txt``) and a lookup of real fentanyl and
buprenorphine patch texts. Nothing of it is shipped or copied here.

Definitions (docs/dosage.md, "Measured on real texts"):

* **read** (coverage): ``parse_dosage`` returns a :class:`~opioidcds.Dosage` whose
  ``not_convertible_reason`` is ``None``: the text alone gives a daily amount.
* **daily amount** of a read text, in two conventions: ``avg`` (CPRD's: the middle of the dose
  range times the middle of the frequency range; an interval range is averaged in hours, so
  "every 4-6 hours" is 24 / 5 a day) and ``max`` (this project's PRN and range policy,
  docs/calculation.md, "PRN and ranges": the upper ends, capped by the maxima per 24 hours).
  A split dose ("2 in the morning and 1 at night") is its day's total in both.
* **agreement** (CPRD texts with a daily figure): the label (``norm_cprd.daily_avg``, or
  ``max_daily_cprd`` where CPRD marked its figure a maximum) equals ``avg`` or ``max`` to
  0.01. Every disagreement must be listed in ``tests/dosage/data/real_corpus_exceptions.tsv``
  with the reason the label is not followed (the test fails otherwise). The stricter rate
  (``avg`` for CPRD's average labels, ``max`` for its maximum labels) is printed too.
* **patch texts**: the hand-made change interval and patches per application of the lookup;
  a read patch text agrees when both equal the reading.
* **speed**: distinct texts per CPU-second of this process, cold (both memos cleared before
  each round, the parser table built once before timing).

Run: ``python benchmarks/bench_dosage_real.py [ROUNDS] [--unread N]`` (default 5 rounds; with
``--unread N`` it also prints the N most common reasons a text is not read).
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from opioidcds import Dosage, UnparsedDosage, parse_dosage
from opioidcds._resolve.dosage import clear_dosage_cache

REPO = Path(__file__).resolve().parents[1]


def _corpus_path() -> Path:
    """``shared/reference/dosage_real/dev.jsonl.gz`` beside the repository (as in CI), or beside
    one of its parent folders (a git worktree kept under a folder of its own)."""
    for folder in REPO.parents:
        candidate = folder / "shared" / "reference" / "dosage_real" / "dev.jsonl.gz"
        if candidate.is_file():
            return candidate
    return REPO.parent / "shared" / "reference" / "dosage_real" / "dev.jsonl.gz"


CORPUS = _corpus_path()
EXCEPTIONS = REPO / "tests" / "dosage" / "data" / "real_corpus_exceptions.tsv"
_TOLERANCE = 0.01
_D24 = Decimal(24)


@dataclass(frozen=True, slots=True)
class Daily:
    """The daily amount of a read text under CPRD's convention (avg) and this project's (max)."""

    avg: Decimal
    max: Decimal


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    """The corpus rows (``text``, ``corpus``, ``labels``, ``norm_cprd``), in file order."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def daily(d: Dosage | UnparsedDosage) -> Daily | None:
    """The daily amount of ``d`` (``None`` when the text gives none), as defined above."""
    if not isinstance(d, Dosage) or d.not_convertible_reason is not None:
        return None
    q = d.dose_quantity
    if q is None:  # "max 8 tablets in 24 hours" alone: the maximum is the daily amount
        m = d.max_quantity_per_day
        return None if m is None else Daily(m, m)
    high_q = d.dose_quantity_max if d.dose_quantity_max is not None else q
    if d.doses_per_day is not None:
        f_low = d.doses_per_day
        f_high = d.doses_per_day_max if d.doses_per_day_max is not None else f_low
        f_mid = (f_low + f_high) / 2
    elif d.interval_hours is not None:
        longest = d.interval_hours_max if d.interval_hours_max is not None else d.interval_hours
        f_high = _D24 / d.interval_hours
        f_mid = _D24 / ((d.interval_hours + longest) / 2)
    else:  # a PRN dose with only a maximum per 24 hours
        if d.max_quantity_per_day is not None:
            m = d.max_quantity_per_day
        elif d.max_doses_per_day is not None:
            m = d.max_doses_per_day * high_q
        else:  # pragma: no cover - not_convertible_reason covers it
            return None
        return Daily(m, m)
    avg = (q + high_q) / 2 * f_mid
    top = high_q * f_high
    if d.max_doses_per_day is not None:
        top = min(top, high_q * d.max_doses_per_day)
    if d.max_quantity_per_day is not None:
        top = min(top, d.max_quantity_per_day)
    return Daily(avg, top)


def _fmt(value: Decimal | float) -> str:
    """A daily amount as the exceptions file writes it: at most 6 significant digits."""
    return f"{float(value):.6g}"


def _close(a: Decimal, b: float) -> bool:
    return abs(float(a) - b) < _TOLERANCE


@dataclass(slots=True)
class Measurement:
    """Coverage and agreement of one run over the corpus (counts, and the disagreeing texts)."""

    texts: int = 0
    read: int = 0
    by_corpus: Counter[str] = field(default_factory=Counter)
    read_by_corpus: Counter[str] = field(default_factory=Counter)
    labelled_and_read: int = 0
    agree: int = 0
    agree_strict: int = 0
    patch_labelled_and_read: int = 0
    patch_agree: int = 0
    disagreements: dict[str, tuple[str, str]] = field(
        default_factory=dict
    )  # text -> (reading, label)
    unread_reasons: Counter[str] = field(default_factory=Counter)
    unread_kinds: Counter[str] = field(default_factory=Counter)

    @property
    def coverage(self) -> float:
        """Share of all texts read to a daily amount."""
        return self.read / self.texts if self.texts else 0.0

    @property
    def agreement(self) -> float:
        """Share of labelled, read CPRD texts whose reading equals the label (avg or max)."""
        return self.agree / self.labelled_and_read if self.labelled_and_read else 0.0

    @property
    def agreement_strict(self) -> float:
        """As :attr:`agreement`, comparing CPRD's average labels with avg, maxima with max."""
        return self.agree_strict / self.labelled_and_read if self.labelled_and_read else 0.0


def _reason_kind(result: Dosage | UnparsedDosage) -> str:
    """The reason a text is not read, without positions (for the ``--unread`` summary)."""
    if isinstance(result, Dosage):
        return result.not_convertible_reason or ""
    return "; ".join(sorted({p.split(" at position ")[0] for p in result.problems}))


# Why a text is not read, by kind, most fundamental first: the first kinds cannot give a daily
# amount without a guess (the "ceiling" of docs/dosage.md); the last two are the long tail.
UNREAD_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("no dose at all", ("gives no dose quantity", "or 'as directed' was found")),
    ("a dose with neither frequency nor maximum", ("gives no frequency and no maximum",)),
    ("as directed", ("is 'as directed'",)),
    (
        "sequences, titrations, stops and conditions",
        (
            "sequence",
            "titration",
            "start or stop",
            "condition",
            "conditional",
            "immediate dose",
            "missed or omitted",
            "extra or changed",
            "depends on a measurement",
            "a total dose",
            "a cycle of days on",
        ),
    ),
    (
        "numbers refused on purpose, and negations",
        (
            "side by side",
            "run into a word",
            "without a unit",
            "after the frequency",
            "a number alone",
            "not plausible",
            "an interval in hours",
            "unsupported fraction",
            "number too long",
            "negation",
            "every fortnight",
            "left out of the record",
        ),
    ),
    (
        "contradicting or ambiguous clauses",
        (
            "more than one",
            "do not match",
            "different doses",
            "stated twice",
            "together with",
            "joined by",
            "a maximum",
            "lower end",
            "different units",
            "timing by meals",
            "beside",
            "two frequencies",
            "without 'for'",
        ),
    ),
    (
        "other units, sites, days of the week, months",
        (
            "does not read",
            "per site",
            "day of the week",
            "days of the week",
            "monthly",
            "fraction in words",
            "spoon without",
        ),
    ),
    ("words outside the lexicon (the long tail)", ("unrecognised", "unbalanced")),
    ("word orders outside the grammar (the long tail)", ("unexpected", "ends before")),
)


def unread_kind(result: Dosage | UnparsedDosage) -> str:
    """The kind of :data:`UNREAD_KINDS` a text that gives no daily amount falls in."""
    reasons = _reason_kind(result)
    for kind, markers in UNREAD_KINDS:
        if any(marker in reasons for marker in markers):
            return kind
    return "other"


def measure(
    rows: Sequence[dict[str, Any]], results: Sequence[Dosage | UnparsedDosage]
) -> Measurement:
    """Compare each reading with its row's labels (see the module docstring)."""
    m = Measurement()
    for row, result in zip(rows, results, strict=True):
        corpus = row["corpus"]
        m.texts += 1
        m.by_corpus[corpus] += 1
        amount = daily(result)
        if amount is None:
            m.unread_reasons[_reason_kind(result)] += 1
            m.unread_kinds[unread_kind(result)] += 1
            continue
        m.read += 1
        m.read_by_corpus[corpus] += 1
        if corpus == "opioid_patch_lookup":
            _patch(m, row, result)
            continue
        norm = row.get("norm_cprd") or {}
        label_avg, label_max = norm.get("daily_avg"), norm.get("max_daily_cprd")
        label = label_avg if label_avg is not None else label_max
        if label is None:
            continue
        m.labelled_and_read += 1
        if _close(amount.avg, label) or _close(amount.max, label):
            m.agree += 1
        else:
            m.disagreements[row["text"]] = (f"{_fmt(amount.avg)}/{_fmt(amount.max)}", _fmt(label))
        strict = amount.avg if label_avg is not None else amount.max
        m.agree_strict += _close(strict, label)
    return m


def _patch(m: Measurement, row: dict[str, Any], result: Dosage | UnparsedDosage) -> None:
    labels = row["labels"]["patch_lookup"]
    if labels["PatchInterval"] == "NA" or not isinstance(result, Dosage):
        return
    m.patch_labelled_and_read += 1
    hours = result.interval_hours
    count = result.dose_quantity
    if (
        hours is not None
        and count is not None
        and hours == Decimal(labels["PatchInterval"])
        and count == Decimal(labels["NumberOfPatchesPerUse"])
    ):
        m.patch_agree += 1
    else:
        m.disagreements[row["text"]] = (
            f"every {hours} h x {count}",
            f"every {labels['PatchInterval']} h x {labels['NumberOfPatchesPerUse']}",
        )


def read_exceptions(path: Path = EXCEPTIONS) -> dict[str, dict[str, str]]:
    """The reviewed exceptions: text -> its row (columns named by the file's header)."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and ln[0] != "#"]
    header = lines[0].split("\t")
    return {
        cells[0]: dict(zip(header, cells, strict=True))
        for cells in (ln.split("\t") for ln in lines[1:])
    }


def cold_rate(
    texts: Sequence[str], rounds: int
) -> tuple[list[float], list[float], list[Dosage | UnparsedDosage]]:
    """Texts per CPU-second and per wall-second of each cold round, and the last results."""
    parse_dosage("take one tablet twice a day")  # build the parser once, outside the timing
    cpu_rates: list[float] = []
    wall_rates: list[float] = []
    results: list[Dosage | UnparsedDosage] = []
    for _ in range(rounds):
        clear_dosage_cache()  # the text memo and the per-shape plan memo: every parse is real
        wall, cpu = time.perf_counter(), time.process_time()
        results = [parse_dosage(t) for t in texts]
        cpu_rates.append(len(texts) / (time.process_time() - cpu))
        wall_rates.append(len(texts) / (time.perf_counter() - wall))
    return cpu_rates, wall_rates, results


def report(m: Measurement) -> list[str]:
    """The printed lines of a measurement (coverage, agreement)."""
    lines = [
        f"texts: {m.texts:,}  read to a daily amount: {m.read:,} ({m.coverage:.1%})",
    ]
    for corpus, n in sorted(m.by_corpus.items()):
        r = m.read_by_corpus[corpus]
        lines.append(f"  {corpus}: {r:,} of {n:,} ({r / n:.1%})")
    lines.append(
        f"agreement with CPRD's daily dose (avg or max): {m.agree:,} of {m.labelled_and_read:,} "
        f"({m.agreement:.2%}); strict (avg for average labels, max for maxima): "
        f"{m.agree_strict:,} ({m.agreement_strict:.2%})"
    )
    lines.append(
        f"agreement with the patch lookup (interval and count): {m.patch_agree} of "
        f"{m.patch_labelled_and_read}"
    )
    return lines


def main(argv: list[str]) -> int:
    """Print coverage, agreement and speed on the development half (exit 2 without it)."""
    args = [a for a in argv[1:] if not a.startswith("--")]
    unread = int(argv[argv.index("--unread") + 1]) if "--unread" in argv else 0
    if unread:
        args = [a for a in args if a != str(unread)]
    rounds = int(args[0]) if args else 5
    if not CORPUS.is_file():
        print(f"the corpus is absent: {CORPUS}", file=sys.stderr)
        return 2
    rows = load_corpus()
    texts = [r["text"] for r in rows]
    cpu_rates, wall_rates, results = cold_rate(texts, rounds)
    m = measure(rows, results)
    for line in report(m):
        print(line)
    known = read_exceptions() if EXCEPTIONS.is_file() else {}
    unexplained = [t for t in m.disagreements if t not in known]
    print(f"disagreements: {len(m.disagreements)} ({len(unexplained)} not in the exceptions file)")
    print(
        f"speed, cold (memos cleared), {rounds} rounds of {len(texts):,} distinct texts: "
        f"best {max(cpu_rates):,.0f} / median {statistics.median(cpu_rates):,.0f} texts per "
        f"CPU-second (wall clock: median {statistics.median(wall_rates):,.0f} texts/s)"
    )
    print("not read, by kind:")
    for kind, _ in (*UNREAD_KINDS, ("other", ())):
        n = m.unread_kinds[kind]
        print(f"  {n:6,} ({n / m.texts:5.1%})  {kind}")
    for reason, n in m.unread_reasons.most_common(unread):
        print(f"  unread {n:6,}  {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
