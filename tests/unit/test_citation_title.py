"""The short title of a citation for the "Sources:" lines people read (``citation_title``)."""

from __future__ import annotations

from opioidcds._display import citation_title


def test_title_is_the_part_before_the_first_colon() -> None:
    text = (
        "MHRA Drug Safety Update, October 2017 (gabapentin): risk of severe respiratory depression."
    )
    assert citation_title(text) == "MHRA Drug Safety Update, October 2017 (gabapentin)"


def test_a_colon_inside_a_quoted_title_does_not_cut_it() -> None:
    # rules/prescribing-alerts.toml, citation mhra-benzodiazepine: the Drug Safety Update's own
    # title has a colon; cutting there left "'Benzodiazepines and opioids" with no closing quote.
    text = (
        "MHRA Drug Safety Update, March 2020, 'Benzodiazepines and opioids: reminder of risk of "
        "potentially fatal respiratory depression': 'only prescribe benzodiazepines ...'"
    )
    assert citation_title(text) == (
        "MHRA Drug Safety Update, March 2020, 'Benzodiazepines and opioids: reminder of risk of "
        "potentially fatal respiratory depression'"
    )


def test_apostrophes_are_not_quotes() -> None:
    text = "Faculty of Pain Medicine's Opioids Aware: dose equivalents."
    assert citation_title(text) == "Faculty of Pain Medicine's Opioids Aware"


def test_no_colon_and_long_text_is_cut_at_a_word() -> None:
    text = "word " * 60
    title = citation_title(text)
    assert title.endswith("...")
    assert len(title) <= 143
