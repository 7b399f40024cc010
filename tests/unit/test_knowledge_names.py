"""Human text names a conversion table by its title, version and effective date, never its id.

The standard (issue 19): people read display names and human citations. ``OMEResult.explain``
said "Table uk-opioids-aware 1.1.1 (effective 2026-12-04)" and "[source: OA, OP, SmPC-12]";
the assessment, the taper plan, the discharge check and the CDS Hooks card said "table
uk-opioids-aware 1.1.1". Each now names the table by the ``title`` of its file, with its
version and effective date, and the factors' sources by their citations' titles; the ids stay
in the machine-readable fields (``table_id``, ``factor_source``, provenance).

Expected texts are read from the knowledge files here (``tomllib``), not from the code that
names them.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from human_text import knowledge_ids, leaks
from opioidcds import (
    Patient,
    Prescription,
    assess,
    calculate_ome,
    load_table,
    taper_plan,
)
from opioidcds._knowledge.files import model_sha256
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.tables import default_table, table_name, table_sources

TABLES = knowledge_dir("conversion_tables")
IDS = knowledge_ids()


def _file(table_id: str) -> dict[str, object]:
    with (TABLES / f"{table_id}.toml").open("rb") as f:
        return tomllib.load(f)


def _people_name(data: dict[str, object]) -> str:
    """The name people should read, written out from the file: title, version, date."""
    when = dt.date.fromisoformat(str(data["effective_date"]))  # a TOML date or an ISO string
    return f"{data['title']}, version {data['version']}, effective {when.day} {when:%b %Y}"


UK = _file("uk-opioids-aware")
CDC = _file("cdc-2022")
UK_NAME = _people_name(UK)

# morphine 10 mg tablets, 1 twice a day: 20 mg/day x 1 (Opioids Aware) = 20 mg OME/day
MORPHINE = Prescription(
    drug="morphine", form="tablet", strength="10 mg", dose_quantity=1, dose_unit="tablet",
    doses_per_day=2,
)  # fmt: skip


def _sha(table_id: str) -> str:
    """The hash a result's provenance records for the bundled table ``table_id``.

    Other tests load copies of a bundled table with its id and version (an edit not
    versioned): in one process only the hash tells the bundled file from them.
    """
    return model_sha256(default_table(table_id).file)


def test_bundled_tables_are_named_by_their_titles() -> None:
    assert UK["title"]
    assert CDC["title"]
    version = str(UK["version"])
    uk = _sha("uk-opioids-aware")
    assert table_name("uk-opioids-aware", version, sha256=uk) == UK_NAME
    assert table_name("cdc-2022", str(CDC["version"]), sha256=_sha("cdc-2022")) == (
        _people_name(CDC)
    )
    # a result's own effective date is the one named
    assert table_name("uk-opioids-aware", version, "2026-01-02", sha256=uk).endswith(
        f"version {version}, effective 2 Jan 2026"
    )
    assert "uk-opioids-aware" not in UK_NAME


def test_a_local_table_is_named_by_its_title_or_else_by_its_id_in_quotes(tmp_path: Path) -> None:
    row = (
        '[[citations]]\nid = "local-formulary"\ntext = "Exampleshire formulary 2026: morphine"\n'
        '[[factors]]\ningredient = "morphine"\nroute = "oral"\nfactor = "1"\nper = "mg"\n'
        'citations = ["local-formulary"]\n'
    )
    head = 'version = "0.1"\neffective_date = 2026-10-01\nowner = "Exampleshire ICS"\n'
    titled = tmp_path / "titled.toml"
    titled.write_text(f'id = "exampleshire-ome"\ntitle = "Exampleshire OME table"\n{head}{row}')
    plain = tmp_path / "plain.toml"
    plain.write_text(f'id = "exampleshire-plain"\n{head}{row}')
    result = calculate_ome([MORPHINE], table=load_table(titled))
    assert result.table_id == "exampleshire-ome"  # the machine field keeps the id
    text = result.explain()
    assert "Conversion table: Exampleshire OME table, version 0.1, effective 1 Oct 2026" in text
    assert "exampleshire-ome" not in text
    # its factor's source by the citation's title (the text before ": "), as a footnote
    assert "= 20 mg OME/day [1]" in text
    assert text.endswith("Sources of the factors:\n  [1] Exampleshire formulary 2026")
    untitled = calculate_ome([MORPHINE], table=load_table(plain)).explain()
    assert 'Conversion table: conversion table "exampleshire-plain", version 0.1' in untitled
    # a table this process never loaded: its id in quotes, no date, no sources
    assert table_name("never-loaded", "2.0") == 'conversion table "never-loaded", version 2.0'
    assert table_sources("never-loaded", "2.0") == {}


def test_ome_explain_names_the_table_and_the_sources_in_words() -> None:
    result = calculate_ome([MORPHINE])
    text = result.explain()
    assert f"Conversion table: {UK_NAME};" in text
    assert leaks(text, IDS) == []
    # the morphine row cites Opioids Aware and the BNF (conversion_tables/uk-opioids-aware.toml)
    (item,) = result.items
    assert item.citation_ids()[:2] == ("OA", "BNF")
    citations = {c["id"]: c["text"] for c in UK["citations"]}  # type: ignore[attr-defined]
    oa = citations["OA"].split(": ")[0]  # the text before its first ": " (citation_title)
    assert f"  [1] {oa}" in text.splitlines()
    # the JSON keeps every id as it was
    data = json.loads(result.model_dump_json())
    assert (data["table_id"], data["table_version"]) == ("uk-opioids-aware", UK["version"])
    assert data["items"][0]["factor_source"].startswith("OA, BNF")


def test_assessment_names_the_table_in_its_ome_line_and_its_evidence() -> None:
    patient = Patient(age=60, prescriptions=(MORPHINE,), as_of=dt.date(2026, 11, 1))
    a = assess(patient)
    text = a.explain()
    assert f"OME: 20 mg OME/day; conversion table: {UK_NAME}" in text
    assert leaks(text, IDS) == []
    evidence = " ".join(f.evidence or "" for f in a.factors)
    assert f"total 20 mg OME/day (complete; conversion table: {UK_NAME})" in evidence
    assert "uk-opioids-aware" not in evidence
    assert a.ome is not None
    assert a.ome.table_id == "uk-opioids-aware"


def test_taper_plan_names_the_table() -> None:
    plan = taper_plan(
        [MORPHINE], start=dt.date(2027, 1, 4), reduction=Decimal("0.10"), target=Decimal(0)
    )
    assert f"conversion table: {UK_NAME};" in plan.explain()
    assert "uk-opioids-aware" not in plan.explain()
    assert plan.table_id == "uk-opioids-aware"


@pytest.mark.parametrize("table_id", ["uk-opioids-aware", "cdc-2022"])
def test_every_bundled_citation_has_a_title(table_id: str) -> None:
    titles = table_sources(table_id, str(_file(table_id)["version"]), sha256=_sha(table_id))
    assert set(titles) == {c["id"] for c in _file(table_id)["citations"]}  # type: ignore[attr-defined]
    assert all(t and t not in titles for t in titles.values())  # words, not ids


def _twin_of_the_bundled_table(path: Path, version: str) -> Path:
    """The bundled table's file with another title and another text for its citation "OA".

    Its ``id`` stays "uk-opioids-aware" (a local copy whose id was not changed), its version is
    ``version``; every factor is the bundled one's.
    """
    text = (TABLES / "uk-opioids-aware.toml").read_text(encoding="utf-8")
    text = text.replace(f'title = "{UK["title"]}"', 'title = "Exampleshire local OME table"')
    oa = next(c["text"] for c in UK["citations"] if c["id"] == "OA")  # type: ignore[attr-defined]
    text = text.replace(oa, "Exampleshire ICS formulary decision 2026/14: local factors")
    text = text.replace(f'version = "{UK["version"]}"', f'version = "{version}"', 1)
    assert "Exampleshire local OME table" in text
    assert "Exampleshire ICS formulary" in text
    path.write_text(text, encoding="utf-8")
    return path


def test_a_local_table_with_the_bundled_id_and_version_does_not_rename_either(
    tmp_path: Path,
) -> None:
    # A local copy of the bundled table that kept its id and version (docs/knowledge.md says to
    # change them; nothing refuses it) but has another title and another source for "OA". Each
    # result is named by the table it was computed with, whichever of the two was loaded last
    # in this process: the bundled result by Opioids Aware, the local one by its own words.
    twin = _twin_of_the_bundled_table(tmp_path / "twin.toml", str(UK["version"]))
    oa = next(c["text"] for c in UK["citations"] if c["id"] == "OA")  # type: ignore[attr-defined]
    oa_title = oa.split(": ")[0]  # citation_title: the text before the first ": "
    local_name = (
        f"Exampleshire local OME table, version {UK['version']}, effective "
        + (UK_NAME.rsplit("effective ", 1)[1])
    )
    for last in ("local", "bundled"):
        local = calculate_ome([MORPHINE], table=load_table(twin))
        bundled = calculate_ome([MORPHINE])
        load_table(twin if last == "local" else "uk-opioids-aware")  # loaded again, last
        local_text, bundled_text = local.explain(), bundled.explain()
        assert f"Conversion table: {UK_NAME};" in bundled_text, last
        assert f"  [1] {oa_title}" in bundled_text.splitlines(), last
        assert "Exampleshire" not in bundled_text, last
        assert f"Conversion table: {local_name};" in local_text, last
        assert "  [1] Exampleshire ICS formulary decision 2026/14" in local_text.splitlines()
        assert oa_title not in local_text, last
    # without the hash (a caller that has only the id and version) the two cannot be told
    # apart: named by the id in quotes, neither title borrowed
    assert table_name("uk-opioids-aware", str(UK["version"])) == (
        f'conversion table "uk-opioids-aware", version {UK["version"]}'
    )


def test_a_result_of_a_table_not_loaded_here_is_not_named_by_another_tables_title() -> None:
    # A result read back (JSON) in a process that never loaded its table: the bundled id, but
    # version 9.9 and another content (its provenance's hash). Nothing here knows its title or
    # what its citation ids stand for, so it is named by its id in quotes and its sources by
    # their ids, never by the bundled table's title and citations.
    data = json.loads(calculate_ome([MORPHINE]).model_dump_json())
    data["table_version"] = "9.9"
    for source in data["provenance"]["knowledge"]:
        if source["kind"] == "conversion-table":
            source["version"], source["sha256"] = "9.9", "0" * 64
    text = type(calculate_ome([MORPHINE])).model_validate(data).explain()
    assert 'Conversion table: conversion table "uk-opioids-aware", version 9.9' in text
    assert str(UK["title"]) not in text
    assert "Opioids Aware" not in text.split("Conversion table:")[1]
    assert "[source: OA, BNF" in text  # the ids: what they stand for is not known here
