"""Build the UK opioid product catalogue from the OpenSAFELY dm+d codelists.

Usage (from the repository root)::

    python scripts/build_catalogue.py [CODELIST_DIR] [--out catalogue] [--check]

``CODELIST_DIR`` defaults to ``../shared/reference/dmd_codelists`` relative to the repository
root. Every dm+d name is parsed by :mod:`opioidcds._knowledge.product_names`; names it cannot
parse must be reviewed in ``catalogue/review.toml`` (hand-fixed or excluded), otherwise the build
fails.
Codes named ``"VMP previous to <code>"`` (superseded VMP codes) take the fields of the VMP that
replaced them. Output (deterministic, byte-identical on re-run):

* ``catalogue/uk-dmd-opioids.csv``: one row per dm+d code, sorted by code;
* ``catalogue/catalogue.toml``: id, version, effective date, sources (with SHA-256), counts.

``--check`` rebuilds in memory and exits 1 if the committed files differ.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from opioidcds import MedicineClass, classify_medicine
from opioidcds._knowledge.product_names import (
    NameParser,
    ParsedIngredient,
    ParsedName,
    ParseFailure,
    StrengthBasis,
    Vocabulary,
    container_of,
    format_strength,
)
from opioidcds._knowledge.products import CATALOGUE_COLUMNS, CATALOGUE_FILE

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CODELISTS = REPO.parent / "shared" / "reference" / "dmd_codelists"
CATALOGUE_ID = "uk-dmd-opioids"
CATALOGUE_VERSION = "1.1.0"
EFFECTIVE_DATE = "2026-12-04"
DELIVERED_RATES_FILE = "delivered_rates.toml"
_PREVIOUS_RE = re.compile(r"^VMP previous to ([0-9]+)$")

NOTE_POWDER = (
    "Powder for reconstitution: the amount is per ampoule/vial (a dose in ampoules/vials or "
    "in mg is exact); the concentration depends on reconstitution, so there is no strength "
    "string and a dose in mL is not read."
)
NOTE_MULTI_LIQUID = (
    "Multi-ingredient liquid: the strength string syntax has no per-volume combination; the "
    "calculator reads the structured ingredients (amounts per volume_ml)."
)


class BuildError(Exception):
    """The codelists, the review file or the catalogue disagree; the message says how."""


@dataclass
class CodeRow:
    """One dm+d code as found in the codelists."""

    code: str
    term: str
    kind: str
    bnf_code: str
    sources: set[str] = field(default_factory=set)


def source_id(stem: str) -> str:
    """Short id of a codelist file: its route or purpose (``"oral"``, ``"high-dose-long-acting"``).

    The full file names and hashes are listed under ``[[sources]]`` in ``catalogue.toml``.
    """
    short = stem.removeprefix("opensafely-").removesuffix("-dmd")
    short = short.removeprefix("opioid-containing-medicines-")
    short = short.removesuffix("-excluding-drugs-for-substance-misuse")
    return short.removesuffix("-opioids-openprescribing").replace("-opioids-", "-")


def read_codelists(folder: Path) -> tuple[dict[str, CodeRow], list[tuple[str, str]]]:
    """Read every ``*.csv`` codelist; return rows by code and (file name, sha256) sources."""
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise BuildError(f"no codelist CSV files in {folder}")
    rows: dict[str, CodeRow] = {}
    sources = []
    for path in files:
        data = path.read_bytes()
        sources.append((path.name, hashlib.sha256(data).hexdigest()))
        stem = source_id(path.stem)
        for rec in csv.DictReader(io.StringIO(data.decode("utf-8"))):
            code = rec["code"].strip()
            if not code.isdigit() or rec.get("dmd_id", code).strip() != code:
                raise BuildError(f"{path.name}: code {code!r} is not a dm+d id")
            kind = rec.get("dmd_type", "").strip() or "unknown"
            row = rows.setdefault(code, CodeRow(code, rec["term"].strip(), kind, rec["bnf_code"]))
            if (row.term, row.kind) != (rec["term"].strip(), kind):
                raise BuildError(f"code {code} has different names or types across codelists")
            row.sources.add(stem)
    return rows, sources


def _read_review(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    fixed = {str(e["name"]): e for e in data.get("fixed", [])}
    excluded = {str(e["name"]): str(e["reason"]) for e in data.get("excluded", [])}
    both = fixed.keys() & excluded.keys()
    if both:
        raise BuildError(f"review.toml: both fixed and excluded: {sorted(both)}")
    return fixed, excluded


def _fixed_to_parsed(entry: dict[str, Any], vocab: Vocabulary) -> ParsedName:
    names, amounts, units = entry["ingredients"], entry["amounts"], entry["units"]
    if not (len(names) == len(amounts) == len(units)):
        raise BuildError(f"review.toml: {entry['name']}: ingredient lists differ in length")
    for n in names:
        if n not in vocab.ingredients.values():
            raise BuildError(f"review.toml: {entry['name']}: unknown ingredient {n}")
    if entry["form"] not in vocab.form_routes:
        raise BuildError(f"review.toml: {entry['name']}: unknown form")
    volume = entry.get("volume_ml")
    return ParsedName(
        ingredients=tuple(
            ParsedIngredient(str(n), Decimal(str(a)), str(u))
            for n, a, u in zip(names, amounts, units, strict=True)
        ),
        basis=StrengthBasis(entry["basis"]),
        volume_ml=Decimal(str(volume)) if volume is not None else None,
        form=str(entry["form"]),
        modified_release=bool(entry["modified_release"]),
    )


@dataclass(frozen=True)
class DeliveredRate:
    """A patch's delivered rate from ``catalogue/delivered_rates.toml``."""

    rate: Decimal
    source: str


def read_delivered_rates(path: Path) -> dict[str, DeliveredRate]:
    """The ``[[products]]`` of the delivered-rates file by dm+d code, checked.

    Every product cites a citation of the file; codes are unique (also against
    ``[[unverified]]``, which is not applied).
    """
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    cited = {str(c["id"]) for c in data.get("citations", [])}
    rates: dict[str, DeliveredRate] = {}
    unverified = {str(u["dmd_code"]) for u in data.get("unverified", [])}
    for entry in data.get("products", []):
        code = str(entry["dmd_code"])
        if code in rates or code in unverified:
            raise BuildError(f"{path.name}: {code} is listed twice")
        cites = [str(c) for c in entry.get("citations", [])]
        if not cites or any(c not in cited for c in cites):
            raise BuildError(f"{path.name}: {code} needs citations of the file")
        rate, labelled = Decimal(str(entry["delivered"])), Decimal(str(entry["labelled"]))
        if rate <= 0 or labelled <= 0 or not str(entry.get("source", "")).strip():
            raise BuildError(f"{path.name}: {code} needs positive rates and a source")
        rates[code] = DeliveredRate(rate, str(entry["source"]).strip())
    return rates


def _check_delivered(
    rates: dict[str, DeliveredRate],
    out: dict[str, dict[str, str]],
    path: Path,
    *,
    complete: bool,
) -> None:
    """Every listed code is a patch of the catalogue whose labelled rate the file states.

    ``complete=False`` (a build from a subset of the codelists) skips codes not built.
    """
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    for entry in [*data.get("products", []), *data.get("unverified", [])]:
        code = str(entry["dmd_code"])
        row = out.get(code)
        if row is None and not complete:
            continue
        if row is None or row["basis"] != StrengthBasis.RATE.value:
            raise BuildError(f"{path.name}: {code} is not a patch of the catalogue")
        if row["product_name"] != str(entry["name"]):
            raise BuildError(f"{path.name}: {code} is named differently in the codelists")
        if "labelled" in entry and Decimal(row["amounts"]) != Decimal(str(entry["labelled"])):
            raise BuildError(f"{path.name}: {code}: the labelled rate differs from the name")
    missing = set(rates) - set(out)
    if missing and complete:  # pragma: no cover - the loop above names the first
        raise BuildError(f"{path.name}: codes not in the catalogue: {sorted(missing)}")


def _fmt(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{value.normalize():f}"


def _record(
    *,
    row: CodeRow,
    parsed: ParsedName,
    derivation: str,
    note: str,
    vocab: Vocabulary,
    catalogue_dir: Path,
    conversion_tables: Path,
    superseded_by: str = "",
    name_for_class: str | None = None,
    delivered: DeliveredRate | None = None,
) -> dict[str, str]:
    strength = format_strength(parsed)
    unit, unit_volume = container_of(name_for_class or row.term, parsed)
    notes = [note] if note else []
    if strength is None:
        notes.append(NOTE_POWDER if parsed.powder else NOTE_MULTI_LIQUID)
    classes = classify_medicine(
        name_for_class or row.term,
        catalogue_dir=catalogue_dir,
        conversion_tables=conversion_tables,
    )
    return {
        "dmd_code": row.code,
        "kind": row.kind if row.kind in {"VMP", "AMP"} else "unknown",
        "product_name": row.term,
        "ingredients": ";".join(i.name for i in parsed.ingredients),
        "amounts": ";".join(_fmt(i.amount) for i in parsed.ingredients),
        "units": ";".join(i.unit for i in parsed.ingredients),
        "basis": parsed.basis.value,
        "volume_ml": _fmt(parsed.volume_ml),
        "form": parsed.form,
        "route": vocab.form_routes[parsed.form],
        "modified_release": "true" if parsed.modified_release else "false",
        "patch": "true" if parsed.form == "transdermal patch" else "false",
        "strength": strength or "",
        "opioid_dependence_treatment": (
            "true" if MedicineClass.OPIOID_DEPENDENCE_TREATMENT in classes else "false"
        ),
        "derivation": derivation,
        "superseded_by": superseded_by,
        "note": " ".join(notes),
        "bnf_code": row.bnf_code,
        "source_codelists": ";".join(sorted(row.sources)),
        "unit": unit or "",
        "unit_volume_ml": _fmt(unit_volume),
        "delivered_rate": _fmt(delivered.rate) if delivered else "",
        "delivered_rate_source": delivered.source if delivered else "",
    }


def build(  # noqa: PLR0912, PLR0915 - one linear pass over the codelists, kept in one place
    codelists: Path,
    catalogue_dir: Path,
    conversion_tables: Path,
    *,
    require_every_review_used: bool = True,
) -> dict[str, str]:
    """Build the catalogue; return ``{file name: text}`` for the files it writes.

    ``require_every_review_used=False`` allows review entries for names absent from the
    codelists (for building from a subset, e.g. in tests).
    """
    rows, sources = read_codelists(codelists)
    vocab = Vocabulary.load(conversion_tables, catalogue_dir)
    parser = NameParser(vocab)
    fixed, excluded = _read_review(catalogue_dir / "review.toml")
    delivered = read_delivered_rates(catalogue_dir / DELIVERED_RATES_FILE)

    by_name: dict[str, list[CodeRow]] = defaultdict(list)
    pointers: list[tuple[CodeRow, str]] = []
    for row in rows.values():
        match = _PREVIOUS_RE.match(row.term)
        if match:
            pointers.append((row, match.group(1)))
        else:
            by_name[row.term].append(row)

    out: dict[str, dict[str, str]] = {}
    parsed_of: dict[str, tuple[ParsedName, str, str]] = {}
    unreviewed: list[str] = []
    used_review: set[str] = set()
    counts: defaultdict[str, int] = defaultdict(int)
    for name in sorted(by_name):
        result = parser.parse(name)
        if isinstance(result, ParseFailure):
            if name in fixed:
                used_review.add(name)
                entry = fixed[name]
                parsed = _fixed_to_parsed(entry, vocab)
                note = f"Hand-fixed (catalogue/review.toml): {entry['evidence']}"
                if entry.get("note"):
                    note += " " + str(entry["note"])
                derivation = "hand-fixed"
                counts["names_hand_fixed"] += 1
            elif name in excluded:
                used_review.add(name)
                counts["names_excluded"] += 1
                counts["codes_excluded"] += len(by_name[name])
                continue
            else:
                unreviewed.append(f"{name}  [{result.reason}]")
                continue
        else:
            if name in fixed or name in excluded:
                raise BuildError(f"review.toml is stale: the parser now reads {name!r}")
            parsed, note, derivation = result, "", "parsed"
            counts["names_parsed"] += 1
        for row in by_name[name]:
            out[row.code] = _record(
                row=row,
                parsed=parsed,
                derivation=derivation,
                note=note,
                vocab=vocab,
                catalogue_dir=catalogue_dir,
                conversion_tables=conversion_tables,
                delivered=delivered.get(row.code),
            )
            parsed_of[row.code] = (parsed, note, derivation)
            counts[f"codes_{derivation.replace('-', '_')}"] += 1
    if unreviewed:
        listing = "\n  ".join(unreviewed)
        raise BuildError(f"names not parsed and not reviewed in review.toml:\n  {listing}")
    stale = (fixed.keys() | excluded.keys()) - used_review
    if stale and require_every_review_used:
        raise BuildError(f"review.toml names not in the codelists: {sorted(stale)}")

    for row, successor in sorted(pointers, key=lambda p: int(p[0].code)):
        if successor not in out:
            if successor in rows:  # successor reviewed and excluded: exclude its predecessor
                counts["codes_excluded"] += 1
                continue
            raise BuildError(f"{row.code}: successor {successor} is not in the codelists")
        parsed, _, _ = parsed_of[successor]
        successor_name = rows[successor].term
        out[row.code] = _record(
            row=row,
            parsed=parsed,
            derivation="successor",
            note=f"Superseded VMP code; fields are those of its successor {successor_name}.",
            vocab=vocab,
            catalogue_dir=catalogue_dir,
            conversion_tables=conversion_tables,
            superseded_by=successor,
            name_for_class=successor_name,
            delivered=delivered.get(successor),
        )
        counts["codes_successor"] += 1
    _check_delivered(
        delivered, out, catalogue_dir / DELIVERED_RATES_FILE, complete=require_every_review_used
    )

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CATALOGUE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for code in sorted(out, key=int):
        writer.writerow(out[code])
    csv_text = buf.getvalue()

    counts["codes_in_codelists"] = len(rows)
    counts["codes_in_catalogue"] = len(out)
    counts["distinct_names"] = len(by_name)
    counts["superseded_vmp_codes"] = len(pointers)
    counts["codes_without_strength_string"] = sum(1 for r in out.values() if not r["strength"])
    counts["codes_opioid_dependence_treatment"] = sum(
        1 for r in out.values() if r["opioid_dependence_treatment"] == "true"
    )
    counts["codes_with_delivered_rate"] = sum(1 for r in out.values() if r["delivered_rate"])
    counts["codes_with_unit_volume"] = sum(1 for r in out.values() if r["unit_volume_ml"])
    counts["codes_counted_in_ampoules_or_vials"] = sum(1 for r in out.values() if r["unit"])
    meta = _metadata(sources, dict(counts), hashlib.sha256(csv_text.encode()).hexdigest())
    return {CATALOGUE_FILE: csv_text, "catalogue.toml": meta}


def _metadata(sources: list[tuple[str, str]], counts: dict[str, int], csv_sha: str) -> str:
    lines = [
        "# Generated by scripts/build_catalogue.py - do not edit by hand; edit review.toml,",
        "# brands.toml or the parser and re-run the script.",
        f'id = "{CATALOGUE_ID}"',
        f'version = "{CATALOGUE_VERSION}"',
        f'effective_date = "{EFFECTIVE_DATE}"',
        'build_script = "scripts/build_catalogue.py"',
        f'data_file = "{CATALOGUE_FILE}"',
        f'data_sha256 = "{csv_sha}"',
        'review_file = "review.toml"',
        'brands_file = "brands.toml"',
        f'delivered_rates_file = "{DELIVERED_RATES_FILE}"',
        'vocabularies = ["conversion_tables/ingredients.toml", "conversion_tables/forms.toml"]',
        "notes = [",
        '  "Every entry is derived from its dm+d name by the product-name parser of opioidcds, '
        "or from a reviewed hand-fix (review.toml), or (superseded VMP codes) from its "
        'successor VMP.",',
        '  "VMP/AMP kind is the dmd_type column of the codelists.",',
        '  "unit and unit_volume_ml: the ampoule or vial one unit of a liquid or powder is '
        "counted in, and its volume where the dm+d name states it "
        '(product_names.container_of; docs/products.md).",',
        '  "delivered_rate: the microgram/hour a patch releases where its SmPC states a rate '
        'other than the labelled strength (delivered_rates.toml, cited per product).",',
        "]",
        "",
        "[[citations]]",
        'id = "opensafely-codelists"',
        'text = "OpenSAFELY opioid dm+d codelists (opensafely/opioids-covid-research, '
        'https://www.opencodelists.org/), copied to ../shared/reference/dmd_codelists/."',
        "",
        "[[citations]]",
        'id = "dmd"',
        'text = "NHSBSA dictionary of medicines and devices (dm+d). '
        "https://www.nhsbsa.nhs.uk/pharmacies-gp-practices-and-appliance-contractors/"
        'dictionary-medicines-and-devices-dmd"',
        "",
    ]
    for name, sha in sources:
        lines += [
            "[[sources]]",
            f'id = "{source_id(Path(name).stem)}"',
            f'file = "{name}"',
            f'sha256 = "{sha}"',
            "",
        ]
    lines.append("[counts]")
    lines += [f"{key} = {counts[key]}" for key in sorted(counts)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("codelists", nargs="?", type=Path, default=DEFAULT_CODELISTS)
    ap.add_argument("--out", type=Path, default=REPO / "catalogue")
    ap.add_argument("--conversion-tables", type=Path, default=REPO / "conversion_tables")
    ap.add_argument("--check", action="store_true", help="compare with the files on disk")
    args = ap.parse_args(argv)
    try:
        files = build(args.codelists, args.out, args.conversion_tables)
    except BuildError as exc:
        print(f"build_catalogue: {exc}", file=sys.stderr)
        return 2
    if args.check:
        differ = [
            n
            for n, text in files.items()
            if not (args.out / n).is_file() or (args.out / n).read_text(encoding="utf-8") != text
        ]
        if differ:
            print(f"build_catalogue: out of date: {', '.join(differ)}", file=sys.stderr)
            return 1
        print("build_catalogue: catalogue is up to date")
        return 0
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8", newline="\n")
    print(f"build_catalogue: wrote {', '.join(sorted(files))} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
