"""The file schema of rulesets and profiles (pydantic, strict, unknown keys rejected).

These models check shape and scalar types only; :mod:`opioidcds._decide.rules.loader` then checks
meaning (declared inputs, parameter references, types of comparisons, hit-policy rules).

Numbers: TOML floats are rejected everywhere; write a decimal as a quoted string (``"0.5"``)
or an integer (``120``). Binary floats cannot hold most decimal thresholds exactly.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from opioidcds._decide.rules.kinds import HitPolicy, Stage

__all__ = [
    "MAX_CONDITION_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_LEAVES_PER_RULE",
    "MAX_RULES",
    "HitPolicy",
    "Stage",
]

MAX_FILE_BYTES: Final = 1_048_576
"""Largest ruleset or profile file accepted (1 MiB); larger files are refused unread."""
MAX_RULES: Final = 1_000
"""Most rules in one ruleset."""
MAX_CONDITION_DEPTH: Final = 12
"""Deepest nesting of all/any/not/ref in one condition (after expanding named conditions)."""
MAX_LEAVES_PER_RULE: Final = 256
"""Most leaf comparisons in one rule's condition (after expanding named conditions)."""


MAX_DIGITS: Final = 20
"""Most significant digits of a number in a knowledge file (not clinical: exactness)."""
MAX_MAGNITUDE: Final = Decimal("1e15")
"""Numbers in a knowledge file lie between minus and plus this (not clinical)."""


def _exact_number(value: object) -> object:
    """Accept an int or a decimal string as an exact Decimal; refuse floats and booleans.

    Also refused: ``inf``/``nan``, more than :data:`MAX_DIGITS` significant digits (a number
    such as ``"1e400"`` or one of 5,000 digits is a typing error, and the engine's decimal
    arithmetic keeps 28 digits), and a magnitude above :data:`MAX_MAGNITUDE`.
    """
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    if isinstance(value, float):
        raise ValueError('TOML floats are not accepted: write the number as a string, e.g. "0.5"')
    if isinstance(value, int):
        if len(str(abs(value))) > MAX_DIGITS:
            raise ValueError(f"a number may have at most {MAX_DIGITS} digits")
        number = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 4 * MAX_DIGITS:
            raise ValueError(f"a number may have at most {MAX_DIGITS} digits")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError("expected a decimal number written as a string") from None
    else:
        return value
    if not number.is_finite():
        raise ValueError("the number must be finite")
    if len(number.as_tuple().digits) > MAX_DIGITS:
        raise ValueError(f"a number may have at most {MAX_DIGITS} significant digits")
    if abs(number) > MAX_MAGNITUDE:
        raise ValueError("a number must lie between -10^15 and 10^15")
    return number


ExactNumber = Annotated[Decimal, BeforeValidator(_exact_number)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4_000, strip_whitespace=True)]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
Version = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,31}$")]
EnumValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _./+-]{0,63}$")]
Label = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
"""A display name: what people read instead of an id (``"PCN service"`` for ``pcn-service``)."""
Date = Annotated[dt.date, Field(strict=False)]
RawValue = bool | int | str | list[str]
"""Scalar shapes allowed in outcomes and example inputs (checked further by the loader)."""


class _Doc(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, hide_input_in_errors=True, defer_build=True
    )


class InputDoc(_Doc):
    """``[inputs.NAME]``: a declared input field.

    ``label`` is the input's display name, what people read instead of its name when it is
    unknown ("whether a benzodiazepine is co-prescribed"): the loader requires it (a
    ``description`` is for the ruleset's authors and reviewers). ``labels`` (enums only) gives
    each value its display name; ``values`` is also the order in which the values are shown
    (an ordered category is declared lowest first).
    """

    type: Literal["number", "integer", "boolean", "enum"]
    label: Label | None = None
    unit: Text | None = None
    description: Text | None = None
    values: list[EnumValue] | None = None
    labels: dict[EnumValue, Label] | None = None
    min: ExactNumber | None = None
    max: ExactNumber | None = None
    required: bool = False
    ordered: bool = False
    """The input is ordered (enum: ``values`` lowest first; number: by value; boolean: false
    below true): an ordered output must not go down as it goes up (the linter checks)."""


class PlausibleDoc(_Doc):
    """``plausible = { min = .., max = .., citations = [..] }``: the values a profile may set.

    A profile value outside ``[min, max]`` is refused; the range is clinical knowledge, cited
    (or stated as a local safety default pending clinical review, in the cited text).
    """

    min: ExactNumber
    max: ExactNumber
    citations: list[Slug] = Field(min_length=1)


class ParameterDoc(_Doc):
    """``[parameters.NAME]``: a named numeric threshold with its source.

    ``label`` is its display name ("high dose"), shown instead of the parameter's name;
    ``plausible`` the range a profile may move it within.
    """

    value: ExactNumber
    unit: Text | None = None
    label: Label | None = None
    description: Text | None = None
    citations: list[Slug] = Field(min_length=1)
    plausible: PlausibleDoc | None = None


class OutputDoc(_Doc):
    """``[outputs.NAME]``: a field every rule's outcome may (or must) set.

    ``labels`` (enums only) gives each value its display name, for every human output (the
    JSON keeps the values); ``values`` is also their order (lowest or least serious first).
    """

    type: Literal["text", "enum", "boolean", "number", "text_list"]
    values: list[EnumValue] | None = None
    labels: dict[EnumValue, Label] | None = None
    max_length: int | None = Field(default=None, gt=0, le=4_000)
    required: bool = True
    description: Text | None = None
    ordered: bool = False
    """An ordered enum output (``values`` lowest first): it must not go down as an ordered
    input goes up (the linter checks, with a counter-example)."""


class RuleExampleDoc(_Doc):
    """``[[rules.examples]]``: inputs and the status this rule must then have."""

    given: dict[str, RawValue | None] = Field(default_factory=dict)
    expect: Literal["fired", "not_fired", "cannot_evaluate", "overridden"]
    description: Text | None = None


class TableExampleDoc(_Doc):
    """``[[examples]]``: inputs and the rules the whole table must then select."""

    given: dict[str, RawValue | None] = Field(default_factory=dict)
    expect_fired: list[Slug]
    expect_complete: bool | None = None
    description: Text | None = None


class RuleDoc(_Doc):
    """``[[rules]]``: one rule."""

    id: Slug
    title: Text | None = None
    stage: Annotated[Stage, Field(strict=False)]
    when: str | dict[str, Any]
    outcome: dict[str, RawValue] = Field(default_factory=dict)
    citations: list[Slug] = Field(min_length=1)
    rationale: Text
    priority: int | None = Field(default=None, ge=1, le=1_000_000)
    examples: list[RuleExampleDoc] = Field(default_factory=list)
    safety_critical: bool = False
    """A safety alert: a profile that disables it is warned about by name."""


class RulesetDoc(_Doc):
    """A whole ruleset file (``kind = "ruleset"``)."""

    kind: Literal["ruleset"]
    id: Slug
    version: Version
    effective_date: Date
    owner: Text
    reviewer: Text | None = None
    description: Text
    hit_policy: Annotated[HitPolicy, Field(strict=False)]
    hit_policy_reason: Text | None = None
    runs_for: Literal["every-patient"] | None = None
    """A local ruleset the library runs for every patient (assess, screen), on the patient
    facts (``inputs/patient-facts.toml``); ``None``: run only by the code that reads it."""
    citations: dict[Slug, Text] = Field(min_length=1)
    inputs: dict[Name, InputDoc] = Field(min_length=1)
    parameters: dict[Name, ParameterDoc] = Field(default_factory=dict)
    outputs: dict[Name, OutputDoc] = Field(default_factory=dict)
    conditions: dict[Name, str | dict[str, Any]] = Field(default_factory=dict)
    rules: list[RuleDoc] = Field(min_length=1, max_length=MAX_RULES)
    examples: list[TableExampleDoc] = Field(default_factory=list)


class ExtensionDoc(_Doc):
    """A local extension (``kind = "extension"``): rules added to a bundled ruleset, unforked.

    ``extends`` names the ruleset and ``extends_version`` the version it was written for (a
    pin: refused on any other). It may add citations, parameters, named conditions, rules and
    whole-table examples; it reads the ruleset's own inputs and outputs (an extension cannot
    invent an input the library does not supply, nor a new outcome field).
    """

    kind: Literal["extension"]
    id: Slug
    version: Version
    effective_date: Date
    owner: Text
    reviewer: Text | None = None
    description: Text
    extends: Slug
    extends_version: Version
    citations: dict[Slug, Text] = Field(min_length=1)
    parameters: dict[Name, ParameterDoc] = Field(default_factory=dict)
    conditions: dict[Name, str | dict[str, Any]] = Field(default_factory=dict)
    rules: list[RuleDoc] = Field(min_length=1, max_length=MAX_RULES)
    examples: list[TableExampleDoc] = Field(default_factory=list)


class ParameterOverrideDoc(_Doc):
    """A profile's new value for one parameter, with its source and reason."""

    value: ExactNumber
    citations: list[Slug] = Field(min_length=1)
    reason: Text


class DisableDoc(_Doc):
    """A profile's switching off of one rule, with the reason."""

    rule: Slug
    reason: Text


class ProfileSectionDoc(_Doc):
    """``[rulesets.ID]`` in a profile: what changes for one ruleset."""

    ruleset_version: Version | None = None
    parameters: dict[Name, ParameterOverrideDoc] = Field(default_factory=dict)
    disable: list[DisableDoc] = Field(default_factory=list)


class ProfileExampleDoc(_Doc):
    """``[[examples]]`` in a profile: inputs of one ruleset and the decision it must then make.

    ``expect_fired`` lists the rules that must fire (all of them); ``expect_outcome`` the
    outcome of a single-hit table (``{ tier = "pcn-service" }``); ``expect_status`` the status
    of named rules (``{ high-dose = "fired" }``). At least one is given.
    """

    ruleset: Slug
    given: dict[str, RawValue | None] = Field(default_factory=dict)
    expect_fired: list[Slug] | None = None
    expect_outcome: dict[str, RawValue] | None = None
    expect_status: (
        dict[Slug, Literal["fired", "not_fired", "cannot_evaluate", "overridden", "disabled"]]
        | None
    ) = None
    description: Text | None = None


class ProfileDoc(_Doc):
    """A whole profile file (``kind = "profile"``)."""

    kind: Literal["profile"]
    id: Slug
    version: Version
    effective_date: Date
    owner: Text
    reviewer: Text | None = None
    description: Text
    citations: dict[Slug, Text] = Field(min_length=1)
    rulesets: dict[Slug, ProfileSectionDoc] = Field(min_length=1)
    examples: list[ProfileExampleDoc] = Field(default_factory=list)
