"""The dosage-text limits of ``conversion_tables/plausibility.toml`` ``[dosage_text]`` (issue 16).

The values below are read by hand from the file's cited sources: issue 16 ("a count of 20 or
more tablets a dose"), NHS England's must-not-map "take 11 every day" (a number of 10 or more
without a unit), the Moviprep SmPC 4.2 (one litre, the largest single oral volume) and the
HL7 FHIR R4 TimingAbbreviation value set (Q1H, Q2H, Q3H, Q4H, Q6H, Q8H, and BID: 12 hours).
Each limit is checked at its boundary: the last value read and the first refused.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from opioidcds import Dosage, KnowledgeBaseError, UnparsedDosage, load_vocabulary, parse_dosage
from opioidcds._knowledge.paths import knowledge_dir


def test_the_bundled_limits() -> None:
    limits = load_vocabulary().dosage_text_limits
    assert limits.count_per_dose_limit == 20
    assert limits.unitless_per_dose_limit == 10
    assert limits.oral_volume_per_dose_max_ml == Decimal(1000)
    assert limits.interval_hours_within_a_day == (1, 2, 3, 4, 6, 8, 12)
    assert set(limits.citations) == {
        "ISSUE-16",
        "NHSE-EXCLUDE",
        "CPRD-BARE",
        "MOVIPREP-SMPC",
        "FHIR-TIMING",
    }


@pytest.mark.parametrize(
    ("text", "read"),
    [
        # count per dose: 19 tablets is read, 20 is not (issue 16)
        ("19 tablets daily", True),
        ("20 tablets daily", False),
        ("take 1-20 tablets daily", False),  # the top of a range counts
        # a number without a unit: 9 is read (a count), 10 is not (mg or mL left out?)
        ("9 daily", True),
        ("10 daily", False),
        ("10 tablets daily", True),  # with its unit, 10 tablets is a count
        # one oral dose: 1000 mL is read, 1001 mL is not
        ("1000ml daily", True),
        ("1001ml daily", False),
        # a single interval in hours: the usual ones and whole days
        ("one every 8 hours", True),
        ("one every 12 hours", True),
        ("one every 5 hours", False),
        ("one 16 hourly", False),
        ("one every 48 hours", True),
        ("one every 36 hours", False),
        # a range states a flexible schedule: its ends are not checked
        ("one every 4-5 hours", True),
    ],
)
def test_each_limit_at_its_boundary(text: str, read: bool) -> None:
    result = parse_dosage(text)
    assert isinstance(result, Dosage) is read, getattr(result, "problems", result)
    if not read:
        assert isinstance(result, UnparsedDosage)
        assert any(
            "plausible" in p or "without a unit" in p or "interval in hours" in p
            for p in result.problems
        ), result.problems


def _copy_tables(tmp_path: Path) -> Path:
    for name in ("ingredients.toml", "forms.toml", "plausibility.toml"):
        shutil.copy(knowledge_dir("conversion_tables") / name, tmp_path / name)
    return tmp_path / "plausibility.toml"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('oral_volume_per_dose_max = "1000 mL"', 'oral_volume_per_dose_max = "1000 mg"', "volume"),
        (
            "interval_hours_within_a_day = [1, 2, 3, 4, 6, 8, 12]",
            "interval_hours_within_a_day = [1, 5]",
            "divide 24",
        ),
        ("count_per_dose_limit = 20", "count_per_dose_limit = 1", "plausibility"),
        (
            'citations = ["ISSUE-16", "NHSE-EXCLUDE", "CPRD-BARE", "MOVIPREP-SMPC", "FHIR-TIMING"]',
            'citations = ["NOWHERE"]',
            "unknown id",
        ),
    ],
)
def test_a_malformed_limit_is_a_knowledge_error(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = _copy_tables(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=message):
        load_vocabulary(tmp_path)
