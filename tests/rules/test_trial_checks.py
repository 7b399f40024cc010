"""Issue 23: the checker finds the mistakes of the local-rules trial, each with file and line.

Each mistake is a deliberately broken fixture (``tests/rules/trial_fixtures/``) or a copy of a
bundled file changed the way the trial changed it; the expected line is the line of the
offending rule, output or profile entry in that file (counted by hand, and asserted against
the file's own text so that an edit to the fixture cannot silently move it).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from opioidcds import ProfileError, RulesetLoadError, lint_path, load_profile, load_ruleset
from opioidcds._decide.rules import Finding, LintReport
from opioidcds._decide.rules.evaluator import bind_profile
from opioidcds._knowledge.paths import knowledge_dir

TRIAL = Path(__file__).parent / "trial_fixtures"
RULES = knowledge_dir("rules")


def _line_of(path: Path, text: str, nth: int = 1) -> int:
    """1-based line of the ``nth`` line of ``path`` that equals ``text`` (stripped)."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip() == text]
    return hits[nth - 1]


def _codes(report: LintReport, code: str) -> list[Finding]:
    return [f for f in report.findings if f.code == code]


# --- ordered outputs ------------------------------------------------------------------------


def test_copy_paste_error_sending_high_risk_to_a_letter_is_reported() -> None:
    path = TRIAL / "non-monotone" / "tier.toml"
    report = lint_path(path.parent)
    (found,) = _codes(report, "monotonicity")
    # the 'high' rule is the third [[rules]] header of the file
    assert (found.file, found.line) == (str(path), _line_of(path, "[[rules]]", 3))
    assert found.rule_id == "high"
    assert found.severity == "error"
    assert "goes down from 'brief' to 'letter'" in found.message
    assert found.counterexample == (("risk", "moderate -> high"),)
    # and the file is refused at load, not only by the linter
    with pytest.raises(RulesetLoadError, match="goes down"):
        load_ruleset(path)


def test_the_bundled_support_tier_with_the_trial_error_is_reported(tmp_path: Path) -> None:
    """The trial's mistake in the real table: the PCN service rule's outcome set to letter."""
    for f in RULES.glob("*.toml"):
        shutil.copy(f, tmp_path / f.name)
    tier = tmp_path / "support-tier.toml"
    text = tier.read_text()
    start = text.index('id = "pcn-service"')
    at = text.index('outcome = { tier = "pcn-service"', start)
    tier.write_text(text[:at] + 'outcome = { tier = "letter"' + text[at + 32 :])
    report = lint_path(tmp_path)
    found = _codes(report, "monotonicity")
    assert found, report.findings
    pcn_rule_line = _line_of(tier, 'id = "pcn-service"') - 1  # its [[rules]] header
    assert {(f.file, f.line, f.rule_id) for f in found} == {
        (str(tier), pcn_rule_line, "pcn-service")
    }
    # one of them: moving the risk level from moderate to high moves the tier down
    risk = next(f for f in found if "'risk_level'" in f.message)
    assert "from 'Brief GP intervention' to 'Letter'" in risk.message
    assert ("risk_level", "moderate -> high") in risk.counterexample
    # the PCN service tier is then given by no rule
    (unreachable,) = _codes(report, "unreachable")
    assert "'PCN service'" in unreachable.message
    assert unreachable.line == _line_of(tier, "[outputs.tier]")


def test_bundled_ordered_tables_are_monotone() -> None:
    report = lint_path(RULES)
    assert not _codes(report, "monotonicity")
    assert not _codes(report, "unreachable")
    tier = load_ruleset(RULES / "support-tier.toml")
    assert tier.outputs["tier"].ordered
    assert {"risk_level", "factor_high_dose"} <= tier.ordered_inputs


# --- unreachable outputs --------------------------------------------------------------------


def test_a_tier_no_rule_gives_is_reported() -> None:
    path = TRIAL / "unreachable" / "tier.toml"
    (found,) = _codes(lint_path(path.parent), "unreachable")
    assert (found.file, found.line) == (str(path), _line_of(path, "[outputs.tier]"))
    assert "'Group programme' (group-programme)" in found.message
    assert found.severity == "error"


# --- inputs nothing supplies ----------------------------------------------------------------


def test_an_input_the_library_never_supplies_is_an_error() -> None:
    path = TRIAL / "dead-input" / "risk-level.toml"
    found = _codes(lint_path(path.parent), "unsupplied-input")
    assert [(f.file, f.line, f.rule_id) for f in found] == [
        (str(path), _line_of(path, "[[rules]]", 1), "low"),
        (str(path), _line_of(path, "[[rules]]", 2), "high"),
    ]
    assert all("'strong_opioid_days'" in f.message and f.severity == "error" for f in found)


def test_loading_a_folder_with_a_dead_input_is_refused() -> None:
    from opioidcds import load_rulesets  # noqa: PLC0415 - the API under test

    with pytest.raises(RulesetLoadError, match="strong_opioid_days"):
        load_rulesets(TRIAL / "dead-input")


# --- profiles: disabled rules and safety alerts ----------------------------------------------

PROFILE = """kind = "profile"
id = "trial-profile"
version = "0.1.0"
effective_date = 2026-12-05
owner = "tests"
description = "The trial's profile."

[citations]
local = "Local policy."

[rulesets.prescribing-alerts]
{body}
"""


def _with_bundled_alerts(tmp_path: Path, body: str) -> Path:
    shutil.copy(RULES / "prescribing-alerts.toml", tmp_path / "prescribing-alerts.toml")
    profile = tmp_path / "profile.toml"
    profile.write_text(PROFILE.format(body=body))
    return profile


def test_switching_off_every_co_prescription_alert_warns_naming_them(tmp_path: Path) -> None:
    body = "".join(
        f'[[rulesets.prescribing-alerts.disable]]\nrule = "{r}"\nreason = "Local choice."\n\n'
        for r in (
            "opioid-with-benzodiazepine",
            "opioid-with-z-drug",
            "opioid-with-gabapentinoid",
            "long-term-review-due",
        )
    )
    profile = _with_bundled_alerts(tmp_path, body)
    report = lint_path(tmp_path)
    (safety,) = _codes(report, "safety-disabled")
    assert safety.severity == "warning"
    assert (safety.file, safety.line) == (
        str(profile),
        _line_of(profile, 'rule = "opioid-with-benzodiazepine"'),
    )
    assert "3 safety alert(s)" in safety.message
    for title in (
        "Opioid with a benzodiazepine",
        "Opioid with a z-drug",
        "Opioid with a gabapentinoid",
    ):
        assert f"'{title}'" in safety.message
    (other,) = _codes(report, "disabled")
    assert "'Long-term opioid without a recent recorded review'" in other.message
    assert other.line == _line_of(profile, 'rule = "long-term-review-due"')
    assert not report.errors


# --- thresholds: declared plausible ranges --------------------------------------------------


def _threshold(value: str) -> str:
    return (
        "[rulesets.prescribing-alerts.parameters.alert_threshold_mg_per_day]\n"
        f'value = {value}\ncitations = ["local"]\nreason = "Local choice."\n'
    )


@pytest.mark.parametrize("value", ["40", "250", '"-5"', "-5"])
def test_a_threshold_outside_its_plausible_range_is_an_error(tmp_path: Path, value: str) -> None:
    # the Script Switch alert threshold declares 50 to 200 mg/day (prescribing-alerts 2.2.0)
    profile = _with_bundled_alerts(tmp_path, _threshold(value))
    (found,) = _codes(lint_path(tmp_path), "implausible")
    assert (found.file, found.line) == (
        str(profile),
        _line_of(profile, "[rulesets.prescribing-alerts.parameters.alert_threshold_mg_per_day]"),
    )
    assert "must lie between 50 and 200 mg/day" in found.message
    # and applying it is refused, by every command (one function applies profiles)
    with pytest.raises(ProfileError, match="plausible range"):
        bind_profile(
            {"prescribing-alerts": load_ruleset(tmp_path / "prescribing-alerts.toml")},
            load_profile(profile),
        )


def test_a_threshold_inside_its_range_is_accepted(tmp_path: Path) -> None:
    _with_bundled_alerts(tmp_path, _threshold("50"))  # the lower end itself is allowed
    report = lint_path(tmp_path)
    assert not _codes(report, "implausible")
    assert not report.errors


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"1e400"', "must lie between -10^15 and 10^15"),
        ('"' + "9" * 5000 + '"', "at most 20 digits"),
        ("9" * 5000, "too many digits"),
        ('"nan"', "must be finite"),
        ('"0.' + "1" * 25 + '"', "at most 20 significant digits"),
    ],
)
def test_absurd_numbers_are_refused_with_a_clear_message(
    tmp_path: Path, value: str, message: str
) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text(PROFILE.format(body=_threshold(value)))
    with pytest.raises(RulesetLoadError, match=re.escape(message)) as caught:
        load_profile(profile)
    assert caught.value.file == str(profile)


def test_a_negative_threshold_without_a_declared_range_is_refused(tmp_path: Path) -> None:
    # escalation_absolute_mg_per_day declares no plausible range: negative is still refused
    shutil.copy(RULES / "prescribing-alerts.toml", tmp_path / "prescribing-alerts.toml")
    profile = tmp_path / "profile.toml"
    profile.write_text(
        PROFILE.format(
            body="[rulesets.prescribing-alerts.parameters.escalation_absolute_mg_per_day]\n"
            'value = -5\ncitations = ["local"]\nreason = "Local choice."\n'
        )
    )
    (found,) = _codes(lint_path(tmp_path), "implausible")
    assert "cannot be negative" in found.message
