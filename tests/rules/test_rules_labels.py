"""Display labels declared beside enum values and parameters (issue 19): loaded, checked, read.

People read labels ("PCN service"); the JSON keeps the values ("pcn-service"). A ruleset's
``values`` list is also the order the categories are shown in.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opioidcds import RulesetLoadError, default_knowledge, load_ruleset

from .dsl_helpers import MINIMAL, write

LABELLED = MINIMAL.replace(
    'values = ["red", "green"]',
    'values = ["red", "green"]\nlabels = { red = "Red light", green = "Green light" }',
).replace("[parameters.limit]\n", '[parameters.limit]\nlabel = "upper limit"\n')


def test_labels_are_read_and_values_keep_their_order(tmp_path: Path) -> None:
    rs = load_ruleset(write(tmp_path, LABELLED))
    assert rs.label("colour", "red") == "Red light"
    assert rs.label("colour", "green") == "Green light"
    assert rs.values("colour") == ("red", "green")
    assert rs.parameter_label("limit") == "upper limit"


def test_without_labels_the_value_and_name_are_returned(tmp_path: Path) -> None:
    rs = load_ruleset(write(tmp_path, MINIMAL))
    assert rs.label("colour", "red") == "red"
    assert rs.parameter_label("limit") == "limit"
    assert rs.values("x") == ()


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ('{ red = "Red" }', "no label for value(s): green"),
        ('{ red = "Red", green = "Green", blue = "Blue" }', "labels for undeclared values: blue"),
    ],
)
def test_partial_or_unknown_labels_are_load_errors(
    tmp_path: Path, labels: str, message: str
) -> None:
    text = MINIMAL.replace(
        'values = ["red", "green"]', f'values = ["red", "green"]\nlabels = {labels}'
    )
    with pytest.raises(RulesetLoadError, match=re.escape(message)):
        load_ruleset(write(tmp_path, text))


def test_labels_only_for_enums(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        '[inputs.flag]\ntype = "boolean"', '[inputs.flag]\ntype = "boolean"\nlabels = { a = "A" }'
    )
    with pytest.raises(RulesetLoadError, match="'labels' is only for enums"):
        load_ruleset(write(tmp_path, text))


def test_bundled_rulesets_label_what_people_read() -> None:
    kb = default_knowledge()
    tier = kb.rulesets["support-tier"]
    assert [tier.label("tier", v) for v in tier.values("tier")] == [
        "Out of scope",
        "Letter",
        "Brief GP intervention",
        "PCN service",
        "Specialist MDT",
    ]
    level = kb.rulesets["risk-level"]
    # ordered lowest first in the file, so reversed is most serious first
    assert [level.label("level", v) for v in level.values("level")[::-1]] == [
        "Very high",
        "High",
        "Moderate",
        "Low",
    ]
    for rs in kb.rulesets.values():
        for name in rs.parameters:
            assert rs.parameter_label(name) != name, f"{rs.id}: parameter {name} has no label"


SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def test_every_bundled_input_has_a_label_people_can_read() -> None:
    # the label is what a prescriber reads when the input is unknown ("To check them, record
    # ..."): every input of every bundled ruleset has one, in words, never its own name
    kb = default_knowledge()
    for rs in kb.rulesets.values():
        for field in rs.inputs:
            assert field.label, f"{rs.id}: input {field.name} has no label"
            assert rs.input_label(field.name) == field.label
            assert SNAKE.findall(field.label) == [], f"{rs.id}: {field.name}"  # no names
            assert len(field.label) <= 100  # the schema's Label


def test_an_input_without_a_label_is_a_load_error_saying_how_to_add_one(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        '[inputs.flag]\ntype = "boolean"\nlabel = "the flag"\n', '[inputs.flag]\ntype = "boolean"\n'
    )
    assert text != MINIMAL
    path = write(tmp_path, text)
    with pytest.raises(RulesetLoadError) as caught:
        load_ruleset(path)
    (problem,) = caught.value.problems
    assert problem.message.startswith(
        "input 'flag': no 'label': add one under [inputs.flag], the short name people read "
        "when it is unknown"
    )
    lines = path.read_text(encoding="utf-8").splitlines()
    assert problem.line is not None
    assert lines[problem.line - 1] == "[inputs.flag]"


def test_an_undeclared_input_is_named_in_words(tmp_path: Path) -> None:
    # never the name as written (a ruleset built by hand may also lack a label)
    rs = load_ruleset(write(tmp_path, MINIMAL))
    assert rs.input_label("flag") == "the flag"
    assert rs.input_label("not_declared") == "not declared"
