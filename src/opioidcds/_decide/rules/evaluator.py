"""Loaded rulesets and the reference evaluator (pure Python, the default engine).

A :class:`Ruleset` is immutable and safe to share between threads. Conditions are compiled once
into closures (:func:`~.conditions.compile_condition`), and every rule of a bound ruleset into
one generated function (:func:`~.conditions.compile_truths`, issue 20); evaluating runs it over
the inputs in declaration order, applies the hit policy, and returns :class:`Decisions`, whose
per-rule :class:`Decision` objects (with traces and citations) are built when asked for.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import partial
from operator import itemgetter
from types import MappingProxyType
from typing import Final

from opioidcds._base import DeferredResultModel, ResultModel
from opioidcds._decide.rules.conditions import (
    Condition,
    FieldSpec,
    FieldType,
    Scalar,
    Truth,
    Values,
    compile_condition,
    compile_truths,
    condition_unknowns,
    empty_intervals,
    trace_condition,
    truth_expressions,
)
from opioidcds._decide.rules.errors import ProfileError, RulesetDefectError, UnknownRuleError
from opioidcds._decide.rules.kinds import HitPolicy, Stage
from opioidcds._decide.rules.profiles import Profile, ProfileExample
from opioidcds._display import words
from opioidcds._errors import InvalidInputError

__all__ = [
    "BoundRuleset",
    "Citation",
    "Decision",
    "DecisionReport",
    "DecisionStatus",
    "Decisions",
    "Extension",
    "OutcomeValue",
    "OutputSpec",
    "Parameter",
    "Rule",
    "RuleExample",
    "Ruleset",
    "TableExample",
    "bind_profile",
    "profile_example_failures",
]

OutcomeValue = str | bool | Decimal | tuple[str, ...]
"""A value of an outcome field: text or enumeration member, boolean, exact number, text list."""

DISABLED: Final = "disabled"
"""Truth placeholder for a rule switched off by a profile (never evaluated)."""

_BIND_CACHE_SIZE: Final = 32  # profiles bound per ruleset kept ready; not clinical


class DecisionStatus(StrEnum):
    """What happened to one rule in one evaluation."""

    FIRED = "fired"
    """The condition holds and the hit policy selected the rule."""
    NOT_FIRED = "not_fired"
    """The condition is false for these inputs."""
    CANNOT_EVALUATE = "cannot_evaluate"
    """Unknown inputs decide whether the rule fires (see ``unknown_inputs``)."""
    OVERRIDDEN = "overridden"
    """A rule ranked above it (priority/first) was selected; its own condition held or was
    unknown."""
    DISABLED = "disabled"
    """Switched off by the profile, with the profile's stated reason."""


@dataclass(frozen=True, slots=True)
class Parameter:
    """A named threshold: exact value, unit, and the citations it comes from."""

    name: str
    value: Decimal
    citations: tuple[str, ...]
    unit: str | None = None
    description: str | None = None
    label: str | None = None
    plausible: tuple[Decimal, Decimal] | None = None
    """The range ``(min, max)`` a profile may set it within, if declared."""
    plausible_citations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Extension:
    """A local extension applied to a ruleset: its id, version, file, and the rules it added."""

    id: str
    version: str
    owner: str
    source: str
    fingerprint: str
    rule_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """A declared outcome field; ``labels`` pairs enum values with their display names."""

    name: str
    type: str
    values: tuple[str, ...] = ()
    max_length: int | None = None
    required: bool = True
    description: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    ordered: bool = False


@dataclass(frozen=True, slots=True)
class RuleExample:
    """An inline example of one rule: inputs and the status the rule must have."""

    given: tuple[tuple[str, Scalar | None], ...]
    expect: DecisionStatus
    description: str | None = None


@dataclass(frozen=True, slots=True)
class TableExample:
    """An inline example of the whole ruleset: inputs and the rules it must select."""

    given: tuple[tuple[str, Scalar | None], ...]
    expect_fired: tuple[str, ...]
    expect_complete: bool | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: id, stage, compiled-once condition, outcome, citations, rationale, examples."""

    id: str
    stage: Stage
    condition: Condition
    outcome: tuple[tuple[str, OutcomeValue], ...]
    citations: tuple[str, ...]
    rationale: str
    title: str | None = None
    priority: int | None = None
    examples: tuple[RuleExample, ...] = ()
    fields: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    line: int | None = None
    safety_critical: bool = False
    source: str | None = None
    """The file the rule is written in when it is not the ruleset's own (a local extension)."""

    @property
    def display(self) -> str:
        """What people read for this rule: its title, else its id in words.

        A rule's ``title`` is optional (the bundled scope and worklist-priority rules have
        none; a local rule may leave it out): without one people read the id with its hyphens
        as spaces ("gabapentinoid from 50 mg"), never the id as written.
        """
        return self.title or words(self.id)


class Citation(ResultModel):
    """A source: its id in the knowledge file and its full text."""

    id: str
    text: str


class Decision(DeferredResultModel):
    """The result of one rule for one evaluation, with everything needed to check it.

    ``trace`` has one line per condition node, e.g. ``"mg_per_day=130 > high_dose_mg_per_day=120
    -> true"`` (written when first read); ``unknown_inputs`` names the unknown inputs that
    could change this rule's result (empty when the result does not depend on an unknown).
    """

    rule_id: str
    title: str | None
    stage: Stage
    status: DecisionStatus
    condition: bool | None
    outcome: dict[str, OutcomeValue]
    citations: tuple[Citation, ...]
    rationale: str
    trace: tuple[str, ...]
    unknown_inputs: tuple[str, ...]
    disabled_reason: str | None
    ruleset_id: str
    ruleset_version: str
    profile_id: str | None
    profile_version: str | None


class DecisionReport(ResultModel):
    """A serialisable summary of :class:`Decisions` (for JSON output and embedding)."""

    ruleset_id: str
    ruleset_version: str
    profile_id: str | None
    profile_version: str | None
    hit_policy: HitPolicy
    complete: bool
    fired: tuple[str, ...]
    unknown_inputs: tuple[str, ...]
    decisions: tuple[Decision, ...]


@dataclass(frozen=True, slots=True)
class _Binding:
    """Parameter values and switched-off rules after applying a profile (or none)."""

    params: Mapping[str, Decimal]
    notes: Mapping[str, str]
    param_citations: Mapping[str, tuple[Citation, ...]]
    disabled: Mapping[str, str]


class _Sealed:
    """Refuse attribute assignment once ``_sealed`` is set at the end of ``__init__``."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        if getattr(self, "_sealed", False):
            raise AttributeError(f"{type(self).__name__} objects are immutable")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} objects are immutable")


class Ruleset(_Sealed):
    """A loaded, checked, immutable ruleset (build it with :func:`load_ruleset`).

    Evaluate with :meth:`evaluate`; apply a local profile with ``profile=`` or, on hot paths,
    bind once with :meth:`bind` and evaluate the :class:`BoundRuleset`.
    """

    __slots__ = (
        "_bind_cache",
        "_bind_lock",
        "_checker",
        "_default",
        "_sealed",
        "citations",
        "description",
        "effective_date",
        "examples",
        "extensions",
        "fingerprint",
        "hit_policy",
        "hit_policy_reason",
        "id",
        "inputs",
        "lines",
        "named_conditions",
        "ordered_inputs",
        "outputs",
        "owner",
        "parameters",
        "reviewer",
        "rules",
        "runs_for",
        "source",
        "version",
    )

    def __init__(
        self,
        *,
        id: str,
        version: str,
        effective_date: dt.date,
        owner: str,
        reviewer: str | None,
        description: str,
        hit_policy: HitPolicy,
        hit_policy_reason: str | None,
        citations: Mapping[str, str],
        inputs: tuple[FieldSpec, ...],
        parameters: Mapping[str, Parameter],
        outputs: Mapping[str, OutputSpec],
        named_conditions: Mapping[str, Condition],
        rules: tuple[Rule, ...],
        examples: tuple[TableExample, ...],
        source: str,
        fingerprint: str,
        checker: Callable[[BoundRuleset], None] | None = None,
        ordered_inputs: frozenset[str] = frozenset(),
        lines: Mapping[str, int] | None = None,
        extensions: tuple[Extension, ...] = (),
        runs_for: str | None = None,
    ) -> None:
        """Assemble a ruleset from checked parts (the loader does this; not for direct use).

        ``checker`` lints a profiled binding (:meth:`bind` with ``check``) and raises
        :class:`ProfileError` on a defect; the loader passes the linter's, so this module
        needs no import of the linter.
        """
        self.id = id
        self.version = version
        self.effective_date = effective_date
        self.owner = owner
        self.reviewer = reviewer
        self.description = description
        self.hit_policy = hit_policy
        self.hit_policy_reason = hit_policy_reason
        self.citations: Mapping[str, str] = MappingProxyType(dict(citations))
        self.inputs = inputs
        self.parameters: Mapping[str, Parameter] = MappingProxyType(dict(parameters))
        self.outputs: Mapping[str, OutputSpec] = MappingProxyType(dict(outputs))
        self.named_conditions: Mapping[str, Condition] = MappingProxyType(dict(named_conditions))
        self.rules = rules
        self.examples = examples
        self.source = source
        self.fingerprint = fingerprint
        self.ordered_inputs = ordered_inputs
        self.runs_for = runs_for
        """``"every-patient"``: a local ruleset run for every patient on the patient facts."""
        self.extensions = extensions
        """Local extensions merged in (their rules are in :attr:`rules`, marked with their file)."""
        self.lines: Mapping[str, int] = MappingProxyType(dict(lines or {}))
        """Line of each declaration in the file: ``inputs.NAME``, ``outputs.NAME``,
        ``parameters.NAME`` (best effort, for the linter's messages)."""
        self._checker = checker
        self._bind_lock = threading.Lock()
        self._bind_cache: dict[str, BoundRuleset] = {}
        self._default = BoundRuleset(self, None, self._binding(None))
        self._sealed = True

    def __repr__(self) -> str:
        """Show id and version."""
        return f"<Ruleset {self.id} {self.version} ({self.hit_policy}, {len(self.rules)} rules)>"

    def __reduce__(self) -> tuple[Callable[[dict[str, object]], Ruleset], tuple[object, ...]]:
        """Pickle the parts the ruleset was assembled from; unpickling assembles it again.

        The compiled conditions, the lock and the profiles bound are not pickled: they are
        made again from the parts (for the on-disk knowledge cache, ``_knowledge/cache.py``).
        """
        parts: dict[str, object] = {
            "id": self.id,
            "version": self.version,
            "effective_date": self.effective_date,
            "owner": self.owner,
            "reviewer": self.reviewer,
            "description": self.description,
            "hit_policy": self.hit_policy,
            "hit_policy_reason": self.hit_policy_reason,
            "citations": dict(self.citations),
            "inputs": self.inputs,
            "parameters": dict(self.parameters),
            "outputs": dict(self.outputs),
            "named_conditions": dict(self.named_conditions),
            "rules": self.rules,
            "examples": self.examples,
            "source": self.source,
            "fingerprint": self.fingerprint,
            "checker": self._checker,
            "ordered_inputs": self.ordered_inputs,
            "lines": dict(self.lines),
            "extensions": self.extensions,
            "runs_for": self.runs_for,
        }
        return _assemble_ruleset, (parts,)

    @property
    def input_names(self) -> tuple[str, ...]:
        """Declared input names, in declaration order."""
        return tuple(f.name for f in self.inputs)

    def values(self, field: str) -> tuple[str, ...]:
        """The values of the enum output or input ``field``, in their declared order.

        The order is the file's: an ordered category (risk level, support tier, severity) is
        declared lowest first, so ``values(...)[::-1]`` is "most serious first". Empty for a
        field that is not an enum (or not declared).
        """
        spec = self.outputs.get(field)
        if spec is not None:
            return spec.values
        return next((f.values for f in self.inputs if f.name == field), ())

    def label(self, field: str, value: str) -> str:
        """The display name of ``value`` of the enum output or input ``field``.

        Labels are declared beside the values in the ruleset file (``labels = {...}``); every
        human output shows them, the JSON keeps the values. A value without a label is
        returned as it is (``tests/safety/test_human_outputs.py`` checks that no id reaches
        what people read).
        """
        spec = self.outputs.get(field)
        pairs = (
            spec.labels
            if spec is not None
            else next((f.labels for f in self.inputs if f.name == field), ())
        )
        return next((text for v, text in pairs if v == value), value)

    def input_label(self, name: str) -> str:
        """The display name of input ``name``, its ``label``, for human text naming it.

        ``"whether a benzodiazepine is co-prescribed"``: what people read when an input is
        unknown, instead of its name. The loader requires a label on every input; a field
        assembled by hand without one gives its description, else its name in words, as does
        an undeclared name (``"new_item_class"`` -> ``"new item class"``).
        """
        spec = next((f for f in self.inputs if f.name == name), None)
        if spec is not None and spec.label:
            return spec.label
        if spec is not None and spec.description:
            return spec.description
        return words(name)

    def parameter_label(self, name: str) -> str:
        """The display name of parameter ``name`` (its ``label``), else its name."""
        param = self.parameters.get(name)
        return param.label if param is not None and param.label else name

    def rule(self, rule_id: str) -> Rule:
        """Return the rule with this id; raises :class:`UnknownRuleError` (a ``KeyError``)."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise UnknownRuleError(f"ruleset '{self.id}' has no rule '{rule_id}'")

    def _binding(self, profile: Profile | None) -> _Binding:
        params = {name: p.value for name, p in self.parameters.items()}
        cites = {
            name: tuple(Citation(id=c, text=self.citations[c]) for c in p.citations)
            for name, p in self.parameters.items()
        }
        notes: dict[str, str] = {}
        disabled: dict[str, str] = {}
        if profile is not None:
            section = profile.section_for(self.id)
            if section is not None:
                for name, override in section.parameters.items():
                    params[name] = override.value
                    notes[name] = f"profile {profile.id} {profile.version}"
                    cites[name] = tuple(
                        Citation(id=c, text=profile.citations[c]) for c in override.citations
                    )
                disabled = {d.rule: d.reason for d in section.disable}
        return _Binding(
            MappingProxyType(params),
            MappingProxyType(notes),
            MappingProxyType(cites),
            MappingProxyType(disabled),
        )

    def implausible(self, name: str, value: Decimal) -> str | None:
        """Why ``value`` cannot be parameter ``name``'s value in a profile, or ``None``.

        Outside the parameter's declared plausible range, or (with no range declared) below
        zero: every threshold of the DSL is a dose, a count, a duration or a percentage.
        """
        param = self.parameters[name]
        label = self.parameter_label(name)
        label = label if label == name else f"{label} ({name})"
        unit = f" {param.unit}" if param.unit else ""
        if param.plausible is not None:
            low, high = param.plausible
            if not low <= value <= high:
                return (
                    f"{label} must lie between {low} and {high}{unit} (its declared "
                    "plausible range); the profile sets a value outside it"
                )
        elif value < 0:
            return f"{label} cannot be negative"
        return None

    def _check_profile(self, profile: Profile) -> None:
        """Check the profile's section names only parameters and rules this ruleset has.

        Raises:
            ProfileError: unknown parameter or rule, or the section pins another version.

        """
        section = profile.section_for(self.id)
        if section is None:
            return
        where = f"{profile.source}: profile '{profile.id}', ruleset '{self.id}'"
        if section.ruleset_version is not None and section.ruleset_version != self.version:
            raise ProfileError(
                f"{where}: written for version {section.ruleset_version}, "
                f"not {self.version}; review the profile before using it"
            )
        for name, override in section.parameters.items():
            if name not in self.parameters:
                raise ProfileError(f"{where}: unknown parameter '{name}'")
            problem = self.implausible(name, override.value)
            if problem:
                raise ProfileError(f"{where}: {problem}")
        rule_ids = {r.id for r in self.rules}
        for d in section.disable:
            if d.rule not in rule_ids:
                raise ProfileError(f"{where}: cannot disable unknown rule '{d.rule}'")

    def bind(self, profile: Profile | None = None, *, check: bool = True) -> BoundRuleset:
        """Apply ``profile`` (its section for this ruleset, if any) and compile once.

        With ``check`` (the default) the bound table is linted: a profile that opens a gap or
        an overlap in a single-hit table, or breaks an inline example, is refused.

        Raises:
            ProfileError: the profile names an unknown parameter or rule, pins another
                version of this ruleset, or breaks the table (with ``check``).

        """
        if profile is None:
            return self._default
        with self._bind_lock:
            cached = self._bind_cache.get(profile.fingerprint)
        if cached is not None:
            return cached
        self._check_profile(profile)
        binding = self._binding(profile)
        for rule in self.rules:
            for leaf in empty_intervals(rule.condition, binding.params):
                raise ProfileError(
                    f"profile '{profile.id}' makes an empty interval in ruleset '{self.id}' "
                    f"rule '{rule.id}': {leaf}"
                )
        bound = BoundRuleset(self, profile, binding)
        if check:
            if self._checker is None:
                raise ProfileError(
                    f"ruleset '{self.id}' was built without a linter to check profile "
                    f"'{profile.id}' against; load it with load_ruleset"
                )
            self._checker(bound)
        with self._bind_lock:
            if len(self._bind_cache) >= _BIND_CACHE_SIZE:
                self._bind_cache.pop(next(iter(self._bind_cache)))
            self._bind_cache[profile.fingerprint] = bound
        return bound

    def evaluate(self, inputs: Mapping[str, object], profile: Profile | None = None) -> Decisions:
        """Evaluate the rules on ``inputs`` (missing or ``None`` values are unknown).

        Numbers must be ``int``, ``Decimal`` or decimal strings (binary floats are refused);
        booleans ``bool``; enumerations one of the declared strings.

        Raises:
            InvalidInputError: an input is undeclared, of the wrong type, outside its declared
                bounds, or required and missing (names the field, never the value).
            ProfileError: the profile cannot be applied to this ruleset.
            RulesetDefectError: a single-hit table has an overlap or a gap at these inputs.

        """
        return self.bind(profile).evaluate(inputs)


class BoundRuleset(_Sealed):
    """A ruleset with a profile applied and its conditions compiled: evaluate many times."""

    __slots__ = (
        "_citations",
        "_compiled",
        "_evaluations",
        "_last_evaluation",
        "_names",
        "_names_order",
        "_normalise",
        "_order",
        "_plan",
        "_rule_index",
        "_sealed",
        "_truths",
        "binding",
        "profile",
        "ruleset",
    )

    def __init__(self, ruleset: Ruleset, profile: Profile | None, binding: _Binding) -> None:
        """Compile ``ruleset`` under ``binding`` (use :meth:`Ruleset.bind`)."""
        self.ruleset = ruleset
        self.profile = profile
        self.binding = binding
        index = {f.name: f.index for f in ruleset.inputs}
        self._names = frozenset(index)
        self._names_order = tuple(f.name for f in ruleset.inputs)
        self._plan = _Plan.build(ruleset.inputs, ruleset.id)
        # the input checks in one generated call, generated on the second evaluation (as the
        # truths below); normalise_by_field is the reference it is tested against
        # (tests/rules/test_compiled_inputs.py)
        self._normalise: Callable[[Mapping[str, object]], tuple[Scalar | None, ...]] | bool = False
        self._compiled: tuple[Callable[[Values], Truth | str], ...] = tuple(
            _disabled
            if r.id in binding.disabled
            else compile_condition(r.condition, index, binding.params)
            for r in ruleset.rules
        )
        # every rule's truth in one generated call, generated on the second evaluation (issue
        # 20: a cold start evaluates once and need not pay for it); the closures above are
        # the reference it is tested against (tests/rules/test_compiled_truths.py)
        self._truths: Callable[[Values], tuple[Truth | str, ...]] | bool = False
        # checks and truths in one generated call per order of positional inputs, generated
        # on its second use (:meth:`evaluation`)
        self._evaluations: dict[tuple[str, ...], Evaluation | None] = {}
        self._last_evaluation: tuple[tuple[str, ...], Evaluation] | None = None
        n = len(ruleset.rules)
        if ruleset.hit_policy is HitPolicy.PRIORITY:
            self._order = tuple(sorted(range(n), key=lambda i: ruleset.rules[i].priority or 0))
        else:
            self._order = tuple(range(n))
        self._rule_index = {r.id: i for i, r in enumerate(ruleset.rules)}
        self._citations = tuple(self._rule_citations(r) for r in ruleset.rules)
        self._sealed = True

    def _rule_citations(self, rule: Rule) -> tuple[Citation, ...]:
        cites = [Citation(id=c, text=self.ruleset.citations[c]) for c in rule.citations]
        for p in rule.params:
            cites.extend(self.binding.param_citations[p])
        return tuple({(c.id, c.text): c for c in cites}.values())

    @property
    def profile_id(self) -> str | None:
        """Id of the applied profile, or ``None``."""
        return self.profile.id if self.profile else None

    @property
    def profile_version(self) -> str | None:
        """Version of the applied profile, or ``None``."""
        return self.profile.version if self.profile else None

    @property
    def rule_order(self) -> tuple[int, ...]:
        """Rule indices in the order the hit policy considers them."""
        return self._order

    def normalise(self, inputs: Mapping[str, object]) -> tuple[Scalar | None, ...]:
        """Check and convert inputs to values in declaration order (``None`` = unknown).

        The same values and the same errors as :meth:`normalise_by_field`, from one generated
        function from the second call on (issue 20: per-call cost; :func:`compile_inputs`).

        Raises:
            InvalidInputError: see :meth:`Ruleset.evaluate`.

        """
        fast = self._normalise
        if fast is False:  # the first evaluation: the reference (a cold start need not pay)
            object.__setattr__(self, "_normalise", True)  # bypass the seal: state only
            return self.normalise_by_field(inputs)
        if fast is True:  # the second: generate it (two threads may both: equal functions)
            fast = compile_inputs(self.ruleset.inputs, self.ruleset.id, self.normalise_by_field)
            object.__setattr__(self, "_normalise", fast)  # bypass the seal: set once
        return fast(inputs)

    def normalise_by_field(self, inputs: Mapping[str, object]) -> tuple[Scalar | None, ...]:
        """:meth:`normalise`, check by check over the declared fields (the reference).

        Raises:
            InvalidInputError: see :meth:`Ruleset.evaluate`.

        """
        if not isinstance(inputs, Mapping):
            raise InvalidInputError("inputs", "must be a mapping of input names to values")
        if not self._names.issuperset(inputs):
            extra = sorted(str(k) for k in inputs if k not in self._names)
            raise InvalidInputError(extra[0], f"is not an input of ruleset '{self.ruleset.id}'")
        values: list[Scalar | None] = list(map(inputs.get, self._names_order))  # type: ignore[arg-type]
        plan = self._plan
        if plan.booleans is not None and not _BOOL_TYPES.issuperset(
            map(type, plan.booleans(values))
        ):
            self._raise_boolean(values)
        if plan.required is not None and None in plan.required(values):
            self._raise_required(values)
        for i, allowed in plan.enums:
            x = values[i]
            if x is not None and (type(x) is not str or x not in allowed):
                raise InvalidInputError(
                    self._names_order[i], "must be one of the declared values or unknown (None)"
                )
        for i, convert in plan.numbers:
            x = values[i]
            if x is not None:
                values[i] = convert(x)
        return tuple(values)

    def _raise_boolean(self, values: list[Scalar | None]) -> None:
        for f in self.ruleset.inputs:
            x = values[f.index]
            if f.type is FieldType.BOOLEAN and x is not None and x is not True and x is not False:
                raise InvalidInputError(f.name, "must be true, false or unknown (None)")

    def _raise_required(self, values: list[Scalar | None]) -> None:
        for f in self.ruleset.inputs:
            if f.required and values[f.index] is None:
                raise InvalidInputError(f.name, f"is required by ruleset '{self.ruleset.id}'")

    def truths(self, values: tuple[Scalar | None, ...]) -> tuple[Truth | str, ...]:
        """Each rule's condition value (``DISABLED`` for rules the profile switched off)."""
        truths = self._truths
        if truths is False:  # the first evaluation: each rule's closure
            object.__setattr__(self, "_truths", True)  # bypass the seal: state only
            return self.truths_by_rule(values)
        if truths is True:  # the second: generate it (two threads may both: equal functions)
            ruleset, binding = self.ruleset, self.binding
            truths = compile_truths(
                [None if r.id in binding.disabled else r.condition for r in ruleset.rules],
                {f.name: f.index for f in ruleset.inputs},
                binding.params,
                DISABLED,
            )
            object.__setattr__(self, "_truths", truths)  # bypass the seal: set once
        return truths(values)

    def evaluation(self, names: tuple[str, ...]) -> Evaluation:
        """A function of the inputs ``names``, given positionally, to their values and truths.

        ``evaluation(names)(*args)`` returns ``(values, truths)``: ``normalise`` of
        ``dict(zip(names, args))`` and ``truths`` of those values, or raises what
        ``normalise`` raises. From the second request for the same ``names`` on, one
        generated function (:func:`compile_evaluation`: no dictionary, the rules reading the
        checked values from locals; issue 20, round 8); before that (a cold start), the
        reference (:meth:`evaluate_by_field`).
        """
        last = self._last_evaluation
        if last is not None and last[0] is names:  # the same caller's order again: no hash
            return last[1]
        evaluations = self._evaluations
        found = evaluations.get(names)
        if found is not None:
            object.__setattr__(self, "_last_evaluation", (names, found))  # bypass the seal
            return found
        reference = partial(self.evaluate_by_field, names)
        if names not in evaluations:  # the first: the reference (a cold start need not pay)
            evaluations[names] = None
            return reference
        # the second: generate it (two threads may both: equal functions)
        ruleset, binding = self.ruleset, self.binding
        found = compile_evaluation(
            ruleset.inputs,
            ruleset.id,
            names,
            [None if r.id in binding.disabled else r.condition for r in ruleset.rules],
            binding.params,
            reference,
        )
        evaluations[names] = found
        object.__setattr__(self, "_last_evaluation", (names, found))  # bypass the seal: state
        return found

    def evaluate_by_field(
        self, names: Sequence[str], *args: object
    ) -> tuple[tuple[Scalar | None, ...], tuple[Truth | str, ...]]:
        """:meth:`evaluation`'s reference: ``normalise_by_field`` and ``truths_by_rule``.

        The inputs ``names`` given positionally (``args``, in that order).

        Raises:
            InvalidInputError: see :meth:`Ruleset.evaluate`.
        """
        values = self.normalise_by_field(dict(zip(names, args, strict=True)))
        return values, self.truths_by_rule(values)

    def truths_by_rule(self, values: tuple[Scalar | None, ...]) -> tuple[Truth | str, ...]:
        """:meth:`truths`, by calling each rule's own compiled condition in turn (the reference)."""
        return tuple([f(values) for f in self._compiled])

    def evaluate(self, inputs: Mapping[str, object]) -> Decisions:
        """Evaluate on ``inputs``; see :meth:`Ruleset.evaluate` for types and errors."""
        values = self.normalise(inputs)
        return self.decide(values, self.truths(values))

    def decide(
        self, values: tuple[Scalar | None, ...], truths: tuple[Truth | str, ...]
    ) -> Decisions:
        """Apply the hit policy to per-rule condition values (shared by every backend).

        Raises:
            RulesetDefectError: two rules hold in a ``unique`` table, or no rule holds and
                none is undetermined in a single-hit table.

        """
        policy = self.ruleset.hit_policy
        if policy is _COLLECT_POLICY:  # the alerts' policy: every status read from its truth
            return Decisions(self, values, truths, None)
        statuses: tuple[DecisionStatus, ...] | None = None  # unique: derived on read
        if policy is HitPolicy.UNIQUE:
            n_true = truths.count(True)
            if n_true > 1:
                ids = ", ".join(
                    r.id for r, t in zip(self.ruleset.rules, truths, strict=True) if t is True
                )
                raise RulesetDefectError(
                    f"ruleset '{self.ruleset.id}': unique table has overlapping rules {ids}"
                )
            if not n_true and None not in truths:
                raise RulesetDefectError(
                    f"ruleset '{self.ruleset.id}': no rule applies (a gap in a unique table)"
                )
        else:  # first or priority: the order decides
            statuses = self._ordered(truths)
        return Decisions(self, values, truths, statuses)

    def _ordered(self, truths: tuple[Truth | str, ...]) -> tuple[DecisionStatus, ...]:
        out: list[DecisionStatus] = [DecisionStatus.NOT_FIRED] * len(truths)
        decided = undetermined = False
        for i in self._order:
            t = truths[i]
            if t == DISABLED:
                out[i] = DecisionStatus.DISABLED
            elif decided:
                out[i] = DecisionStatus.NOT_FIRED if t is False else DecisionStatus.OVERRIDDEN
            elif t is True:
                decided = True
                out[i] = DecisionStatus.CANNOT_EVALUATE if undetermined else DecisionStatus.FIRED
            elif t is None:
                undetermined = True
                out[i] = DecisionStatus.CANNOT_EVALUATE
        if not decided and not undetermined:
            raise RulesetDefectError(
                f"ruleset '{self.ruleset.id}': no rule applies (a gap in a "
                f"{self.ruleset.hit_policy} table)"
            )
        return tuple(out)

    def citations_of(self, i: int) -> tuple[Citation, ...]:
        """Citations of rule ``i`` and of the parameters it reads (as bound), de-duplicated."""
        return self._citations[i]

    def rule_index(self, rule_id: str) -> int:
        """Position of a rule in the ruleset; raises :class:`UnknownRuleError` if unknown."""
        try:
            return self._rule_index[rule_id]
        except KeyError:
            raise UnknownRuleError(f"ruleset '{self.ruleset.id}' has no rule '{rule_id}'") from None


_COLLECT_POLICY: Final = HitPolicy.COLLECT
"""Looked up once: :meth:`BoundRuleset.decide` runs on every check (issue 20, round 7)."""

_COLLECT: Final[Mapping[Truth | str, DecisionStatus]] = MappingProxyType(
    {
        True: DecisionStatus.FIRED,
        False: DecisionStatus.NOT_FIRED,
        None: DecisionStatus.CANNOT_EVALUATE,
        DISABLED: DecisionStatus.DISABLED,
    }
)


class Decisions(_Sealed):
    """The result of evaluating a ruleset once.

    Says which rules fired, which could not be evaluated and why, under which ruleset and
    profile versions.

    Per-rule :class:`Decision` objects (trace, citations, outcome) are built on access; the
    object itself is immutable.
    """

    __slots__ = ("_bound", "_given_statuses", "_sealed", "_truths", "_values")
    _bound: BoundRuleset
    _values: tuple[Scalar | None, ...]
    _truths: tuple[Truth | str, ...]
    _given_statuses: tuple[DecisionStatus, ...] | None

    def __init__(
        self,
        bound: BoundRuleset,
        values: tuple[Scalar | None, ...],
        truths: tuple[Truth | str, ...],
        statuses: tuple[DecisionStatus, ...] | None,
    ) -> None:
        """Hold the evaluation's values (use :meth:`BoundRuleset.decide`).

        ``statuses`` is ``None`` when each status follows from its rule's truth value alone
        (``collect`` and ``unique``); it is then derived when first read, and kept.
        """
        init = object.__setattr__  # bypass the seal check: this is the hot path
        init(self, "_bound", bound)
        init(self, "_values", values)
        init(self, "_truths", truths)
        init(self, "_given_statuses", statuses)
        init(self, "_sealed", True)

    @property
    def _statuses(self) -> tuple[DecisionStatus, ...]:
        statuses = self._given_statuses
        if statuses is None:  # derived from the truths on first read, and kept (equal tuples
            # if two threads derive them at once)
            statuses = tuple([_COLLECT[t] for t in self._truths])
            object.__setattr__(self, "_given_statuses", statuses)
        return statuses

    def __repr__(self) -> str:
        """Show ruleset, profile and the fired rule ids."""
        return (
            f"<Decisions {self.ruleset_id} {self.ruleset_version} profile={self.profile_id} "
            f"fired={list(self.fired_ids)} complete={self.complete}>"
        )

    @property
    def ruleset(self) -> Ruleset:
        """The ruleset evaluated (its rules' titles, its inputs' labels)."""
        return self._bound.ruleset

    @property
    def ruleset_id(self) -> str:
        """Id of the ruleset evaluated."""
        return self._bound.ruleset.id

    @property
    def ruleset_version(self) -> str:
        """Version of the ruleset evaluated."""
        return self._bound.ruleset.version

    @property
    def profile_id(self) -> str | None:
        """Id of the profile applied, or ``None``."""
        return self._bound.profile_id

    @property
    def profile_version(self) -> str | None:
        """Version of the profile applied, or ``None``."""
        return self._bound.profile_version

    @property
    def hit_policy(self) -> HitPolicy:
        """The ruleset's hit policy."""
        return self._bound.ruleset.hit_policy

    @property
    def statuses(self) -> Mapping[str, DecisionStatus]:
        """Rule id -> status, for every rule, in file order."""
        return MappingProxyType(
            {r.id: s for r, s in zip(self._bound.ruleset.rules, self._statuses, strict=True)}
        )

    @property
    def conditions(self) -> Mapping[str, bool | None]:
        """Rule id -> condition value (``None`` unknown); disabled rules are left out."""
        out: dict[str, bool | None] = {}
        for r, t in zip(self._bound.ruleset.rules, self._truths, strict=True):
            if not isinstance(t, str):
                out[r.id] = t
        return MappingProxyType(out)

    @property
    def fired_ids(self) -> tuple[str, ...]:
        """Ids of the rules that fired, in file order."""
        rules = self._bound.ruleset.rules
        return tuple(rules[i].id for i, s in enumerate(self._statuses) if s is DecisionStatus.FIRED)

    @property
    def complete(self) -> bool:
        """True when no unknown input could change the result.

        ``collect``: no rule is "cannot evaluate". Single-hit tables: a rule was selected.
        """
        if self.hit_policy is HitPolicy.COLLECT:
            return DecisionStatus.CANNOT_EVALUATE not in self._statuses
        return DecisionStatus.FIRED in self._statuses

    @property
    def fired(self) -> tuple[Decision, ...]:
        """Decisions of the rules that fired, in file order."""
        return tuple(
            self._decision(i) for i, s in enumerate(self._statuses) if s is DecisionStatus.FIRED
        )

    @property
    def cannot_evaluate(self) -> tuple[Decision, ...]:
        """Decisions of the rules whose result depends on unknown inputs."""
        return tuple(
            self._decision(i)
            for i, s in enumerate(self._statuses)
            if s is DecisionStatus.CANNOT_EVALUATE
        )

    @property
    def outcome(self) -> Mapping[str, OutcomeValue] | None:
        """Single-hit tables: the selected rule's outcome, or ``None`` when undetermined.

        For ``collect`` rulesets use :attr:`fired`.
        """
        fired = [i for i, s in enumerate(self._statuses) if s is DecisionStatus.FIRED]
        if self.hit_policy is HitPolicy.COLLECT or not fired:
            return None
        return MappingProxyType(dict(self._bound.ruleset.rules[fired[0]].outcome))

    @property
    def unknown_inputs(self) -> tuple[str, ...]:
        """Unknown inputs that could change the result (sorted; empty when complete)."""
        if self.complete:
            return ()
        names: set[str] = set()
        for d in self.cannot_evaluate:
            names.update(d.unknown_inputs)
        return tuple(sorted(names))

    @property
    def decisions(self) -> tuple[Decision, ...]:
        """One decision per rule, in file order."""
        return tuple(self._decision(i) for i in range(len(self._statuses)))

    def __getitem__(self, rule_id: str) -> Decision:
        """Return the decision of one rule; raises :class:`UnknownRuleError` if unknown."""
        return self._decision(self._bound.rule_index(rule_id))

    def report(self) -> DecisionReport:
        """Return a serialisable summary with every decision and its trace."""
        # built from already-typed values: construct without re-validating (hot path)
        return DecisionReport.model_construct(
            ruleset_id=self.ruleset_id,
            ruleset_version=self.ruleset_version,
            profile_id=self.profile_id,
            profile_version=self.profile_version,
            hit_policy=self.hit_policy,
            complete=self.complete,
            fired=self.fired_ids,
            unknown_inputs=self.unknown_inputs,
            decisions=self.decisions,
        )

    @property
    def fired_indices(self) -> tuple[int, ...]:
        """Positions (in file order) of the rules that fired."""
        return tuple([i for i, s in enumerate(self._statuses) if s is DecisionStatus.FIRED])

    @property
    def cannot_evaluate_indices(self) -> tuple[int, ...]:
        """Positions (in file order) of the rules whose result depends on unknown inputs."""
        cannot = DecisionStatus.CANNOT_EVALUATE
        return tuple([i for i, s in enumerate(self._statuses) if s is cannot])

    def _named(self) -> dict[str, Scalar | None]:
        return {f.name: self._values[f.index] for f in self._bound.ruleset.inputs}

    def trace_of(self, i: int) -> tuple[str, ...]:
        """The trace of rule ``i`` (its :attr:`Decision.trace`), written now."""
        bound = self._bound
        if self._statuses[i] is DecisionStatus.DISABLED:
            return (f"disabled by profile {bound.profile_id}",)
        binding = bound.binding
        _, lines, _ = trace_condition(
            bound.ruleset.rules[i].condition, self._named(), binding.params, binding.notes
        )
        return tuple(lines)

    def unknowns_of(self, i: int) -> tuple[str, ...]:
        """The unknown inputs that could change rule ``i`` (its :attr:`Decision.unknown_inputs`).

        Empty unless the rule is "cannot evaluate"; worked out without writing its trace.
        """
        if self._statuses[i] is not DecisionStatus.CANNOT_EVALUATE:
            return ()
        bound = self._bound
        _, unknown = condition_unknowns(
            bound.ruleset.rules[i].condition, self._named(), bound.binding.params
        )
        return unknown or self._blocking_unknowns(i)

    def _decision(self, i: int) -> Decision:
        bound = self._bound
        rs = bound.ruleset
        rule = rs.rules[i]
        status = self._statuses[i]
        binding = bound.binding
        truth: bool | None = None
        unknown: tuple[str, ...] = ()
        if status is not DecisionStatus.DISABLED:
            truth, unknown = condition_unknowns(rule.condition, self._named(), binding.params)
            if status is DecisionStatus.CANNOT_EVALUATE and not unknown:
                unknown = self._blocking_unknowns(i)
        # built from already-typed values, its trace written when read (hot path)
        return Decision.deferred(
            {
                "rule_id": rule.id,
                "title": rule.title,
                "stage": rule.stage,
                "status": status,
                "condition": truth,
                "outcome": dict(rule.outcome),
                "citations": bound.citations_of(i),
                "rationale": rule.rationale,
                "unknown_inputs": unknown if status is DecisionStatus.CANNOT_EVALUATE else (),
                "disabled_reason": binding.disabled.get(rule.id),
                "ruleset_id": rs.id,
                "ruleset_version": rs.version,
                "profile_id": bound.profile_id,
                "profile_version": bound.profile_version,
            },
            set(_DECISION_FIELDS),
            _DecisionTrace(self, i),
        )

    def _blocking_unknowns(self, i: int) -> tuple[str, ...]:
        """For a rule that holds but waits on a higher-ranked unknown rule: those unknowns."""
        bound = self._bound
        rs = bound.ruleset
        named = self._named()
        names: dict[str, None] = {}
        for j in bound.rule_order:
            if j == i:
                break
            if self._truths[j] is None:
                _, unknown = condition_unknowns(rs.rules[j].condition, named, bound.binding.params)
                names.update(dict.fromkeys(unknown))
        return tuple(names)


_DECISION_FIELDS: Final = frozenset(Decision.model_fields)


class _DecisionTrace:
    """Writes the trace of one rule of one evaluation when its :class:`Decision` is read."""

    __slots__ = ("_decisions", "_index")

    def __init__(self, decisions: Decisions, index: int) -> None:
        self._decisions = decisions
        self._index = index

    def __call__(self) -> Mapping[str, tuple[str, ...]]:
        """``{"trace": lines}``."""
        return {"trace": self._decisions.trace_of(self._index)}


# --- input conversion ---------------------------------------------------------------------------


def _disabled(_values: Values) -> Truth | str:
    return DISABLED


_BOOL_TYPES: Final = frozenset({bool, type(None)})

Picker = Callable[[Sequence[Scalar | None]], tuple[Scalar | None, ...]]


def _picker(indices: list[int]) -> Picker | None:
    """Return a C-speed getter of several positions as a tuple (``None`` if there are none)."""
    if not indices:
        return None
    if len(indices) == 1:
        only = indices[0]
        return lambda v: (v[only],)
    return itemgetter(*indices)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to check inputs fast: which positions are booleans, required, enums, numbers."""

    booleans: Picker | None
    required: Picker | None
    enums: tuple[tuple[int, frozenset[str]], ...]
    numbers: tuple[tuple[int, Converter], ...]

    @staticmethod
    def build(fields: tuple[FieldSpec, ...], ruleset_id: str) -> _Plan:
        return _Plan(
            booleans=_picker([f.index for f in fields if f.type is FieldType.BOOLEAN]),
            required=_picker([f.index for f in fields if f.required]),
            enums=tuple((f.index, frozenset(f.values)) for f in fields if f.type is FieldType.ENUM),
            numbers=tuple((f.index, _converter(f, ruleset_id)) for f in fields if f.numeric),
        )


Converter = Callable[[object], Scalar | None]


def _converter(spec: FieldSpec, ruleset_id: str) -> Converter:
    name = spec.name
    required = spec.required

    def missing() -> Scalar | None:
        if required:
            raise InvalidInputError(name, f"is required by ruleset '{ruleset_id}'")
        return None

    if spec.type is FieldType.BOOLEAN:

        def conv_bool(x: object) -> Scalar | None:
            if x is None:
                return missing()
            if x is True or x is False:
                return x
            raise InvalidInputError(name, "must be true, false or unknown (None)")

        return conv_bool
    if spec.type is FieldType.ENUM:
        allowed = frozenset(spec.values)

        def conv_enum(x: object) -> Scalar | None:
            if x is None:
                return missing()
            if type(x) is str and x in allowed:
                return x
            raise InvalidInputError(name, "must be one of the declared values or unknown (None)")

        return conv_enum
    lo, hi = spec.minimum, spec.maximum
    integer = spec.type is FieldType.INTEGER

    def conv_number(x: object) -> Scalar | None:
        if x is None:
            return missing()
        t = type(x)
        if t is Decimal:
            d: Decimal = x  # type: ignore[assignment]
        elif t is int:
            d = Decimal(x)  # type: ignore[arg-type]
        elif t is str:
            try:
                d = Decimal(x.strip())  # type: ignore[attr-defined]
            except InvalidOperation:
                raise InvalidInputError(name, "is not a decimal number") from None
        elif t is float:
            raise InvalidInputError(
                name, "binary floats are not accepted: pass an int, a Decimal or a decimal string"
            )
        else:
            raise InvalidInputError(name, "must be a number (int, Decimal or decimal string)")
        if not d.is_finite():
            raise InvalidInputError(name, "must be a finite number")
        if integer and d != d.to_integral_value():
            raise InvalidInputError(name, "must be a whole number")
        if lo is not None and d < lo:
            raise InvalidInputError(name, "is below the declared minimum")
        if hi is not None and d > hi:
            raise InvalidInputError(name, "is above the declared maximum")
        return d

    return conv_number


Normalise = Callable[[Mapping[str, object]], tuple[Scalar | None, ...]]


def compile_inputs(fields: Sequence[FieldSpec], ruleset_id: str, reference: Normalise) -> Normalise:
    """Compile the checks of a ruleset's inputs into one function (issue 20: per-call cost).

    The function returns what ``reference`` (:meth:`BoundRuleset.normalise_by_field`) returns
    and raises what it raises: for a ``dict`` of declared names whose booleans are ``True``,
    ``False`` or ``None``, whose enums are declared values or ``None`` and whose required
    inputs are given, it reads each value once and converts the numbers in declaration order
    with the same converters (a finite ``Decimal`` within the declared bounds, and whole for an
    integer, is kept as it is, as the converter keeps it); any other input is handed to
    ``reference``, which raises the error it always raised (the reference checks booleans,
    then required inputs, then enums, then numbers, so a number's error can only come after
    every other check passed, in either). No text of the rules file reaches the source:
    input names, option sets and bounds are passed as objects (``n3``, ``e3``, ``lo3``).
    The function is pure: safe to call from many threads.
    """
    scope: dict[str, object] = {
        "Decimal": Decimal,
        "dict": dict,
        "names": frozenset(f.name for f in fields),
        "reference": reference,
    }
    ordered = sorted(fields, key=lambda f: f.index)
    reads = []
    for f in ordered:
        scope[f"n{f.index}"] = f.name
        reads.append(f"    v{f.index} = get(n{f.index})\n")
    checks, numbers = _input_checks(ordered, ruleset_id, scope, "reference(inputs)")
    order = "".join(f"v{f.index}, " for f in ordered)
    source = (
        "def normalise(inputs):\n"
        "    if type(inputs) is not dict or not names.issuperset(inputs):\n"
        "        return reference(inputs)\n"
        "    get = inputs.get\n" + "".join(reads + checks + numbers) + f"    return ({order})\n"
    )
    exec(compile(source, "<ruleset inputs>", "exec"), scope)  # noqa: S102 - generated here
    fn: Normalise = scope["normalise"]  # type: ignore[assignment]
    return fn


def _input_checks(
    ordered: Sequence[FieldSpec], ruleset_id: str, scope: dict[str, object], bail: str
) -> tuple[list[str], list[str]]:
    """The source lines of the input checks over the locals ``v0``, ``v1``, ... (by position).

    ``(checks, conversions)``: the checks (one ``if``) return ``bail`` (an expression handing
    the input to the reference) if a boolean is not ``True``, ``False`` or ``None``, an enum is
    not a declared value or ``None``, or a required input is ``None``; the conversions
    then convert each number that is not a finite ``Decimal`` within the declared bounds (and
    whole, for an integer) with the reference's own converter (which raises its error). The
    objects they read (option sets ``opts3``, bounds ``lo3``/``hi3``, converters ``conv3``)
    are put in ``scope``; no text of the rules file reaches the source.
    """
    checks: list[str] = []
    numbers: list[str] = []
    for f in ordered:
        v = f"v{f.index}"
        # a required input's check refuses None with the rest (None is neither True, False
        # nor a str); another's lets it through
        known = "" if f.required else f"{v} is not None and "
        bad: list[str] = []
        if f.type is FieldType.BOOLEAN:
            bad.append(f"({known}{v} is not True and {v} is not False)")
        elif f.type is FieldType.ENUM:
            scope[f"opts{f.index}"] = frozenset(f.values)
            bad.append(f"({known}(type({v}) is not str or {v} not in opts{f.index}))")
        elif f.required:
            bad.append(f"{v} is None")
        if f.numeric:
            scope[f"conv{f.index}"] = _converter(f, ruleset_id)
            kept = [f"type({v}) is Decimal", f"{v}.is_finite()"]
            if f.type is FieldType.INTEGER:
                kept.append(f"{v} == {v}.to_integral_value()")
            if f.minimum is not None:
                scope[f"lo{f.index}"] = f.minimum
                kept.append(f"{v} >= lo{f.index}")
            if f.maximum is not None:
                scope[f"hi{f.index}"] = f.maximum
                kept.append(f"{v} <= hi{f.index}")
            numbers.append(
                f"    if {v} is not None and not ({' and '.join(kept)}):\n"
                f"        {v} = conv{f.index}({v})\n"
            )
        checks.extend(bad)
    refused = f"    if {' or '.join(checks)}:\n        return {bail}\n" if checks else ""
    return [refused], numbers


Evaluation = Callable[..., tuple[tuple[Scalar | None, ...], tuple[Truth | str, ...]]]
"""A function of a ruleset's inputs given positionally: their values and each rule's truth."""


def compile_evaluation(  # noqa: PLR0917 - what the generated function is made of
    fields: Sequence[FieldSpec],
    ruleset_id: str,
    names: Sequence[str],
    conditions: Sequence[Condition | None],
    params: Mapping[str, Decimal],
    reference: Evaluation,
) -> Evaluation:
    """Compile a ruleset's input checks and rules into one function of positional inputs.

    The function takes one argument per entry of ``names`` (input names, in the caller's
    order) and returns what ``reference(*args)`` returns: the values of
    ``dict(zip(names, args))`` in declaration order, checked and converted as
    :meth:`BoundRuleset.normalise_by_field` does, and each rule's condition value as
    :meth:`BoundRuleset.truths_by_rule` gives it (``DISABLED`` for a rule given as ``None``),
    or the error the reference raises. Inputs it accepts at once (the checks of
    :func:`compile_inputs`, no dictionary built) are checked and converted in locals, and
    the rules read those locals (:func:`~.conditions.truth_expressions`); any other input is
    handed to ``reference``. A ``names`` that repeats a name, names an undeclared input or
    leaves a required one out is always handed to it (it raises). Issue 20 (round 8): the
    prescribing check derives its inputs straight into this call. No text of a rules file or
    of ``names`` reaches the source: each argument is named by its input's position (``v3``);
    option sets, bounds and constants are passed as objects. Pure: safe to call from many
    threads.
    """
    declared = {f.name: f for f in fields}
    given = {name: j for j, name in enumerate(names)}
    if (
        len(given) != len(names)
        or not given.keys() <= declared.keys()
        or any(f.required and f.name not in given for f in fields)
    ):
        return reference
    scope: dict[str, object] = {"Decimal": Decimal, "reference": reference}
    ordered = sorted(fields, key=lambda f: f.index)
    # each argument is named by the position of its input (``v3``): no copy into locals
    args = "".join(f"v{declared[name].index}, " for name in names)
    reads = [f"    v{f.index} = None\n" for f in ordered if f.name not in given]
    checks, numbers = _input_checks(ordered, ruleset_id, scope, f"reference({args})")
    parts, constants = truth_expressions(
        conditions, {f.name: f.index for f in fields}, params, DISABLED, locals_=True
    )
    scope.update(constants)
    order = "".join(f"v{f.index}, " for f in ordered)
    rules = "".join(f"        {p},\n" for p in parts)
    source = (
        f"def evaluate({args}):\n"
        + "".join(reads + checks + numbers)
        + f"    return ({order}), (\n{rules}    )\n"
    )
    exec(compile(source, "<ruleset evaluation>", "exec"), scope)  # noqa: S102 - generated here
    fn: Evaluation = scope["evaluate"]  # type: ignore[assignment]
    return fn


def bind_profile(
    rulesets: Mapping[str, Ruleset], profile: Profile | None
) -> Mapping[str, BoundRuleset]:
    """Apply ``profile`` to every ruleset of ``rulesets`` at once (the one place pins are checked).

    Every command and the Python API go through here (through
    :meth:`opioidcds.Knowledge.bound`), so a profile is refused the same way whichever
    ruleset a command reads: each ruleset the profile names must be present and at the version
    it pins, even a ruleset the command itself never evaluates (a profile reviewed against
    other rules is not applied in part).

    Raises:
        ProfileError: the profile names a ruleset that is not there, pins another version of
            one, names an unknown parameter or rule, or breaks a table.

    """
    if profile is not None:
        missing = sorted(set(profile.sections) - set(rulesets))
        if missing:
            raise ProfileError(
                f"{profile.source}: profile '{profile.id}' changes ruleset '{missing[0]}', "
                "which is not loaded; check the profile against the rules it was written for"
            )
    bound = MappingProxyType({rid: rs.bind(profile) for rid, rs in rulesets.items()})
    if profile is not None:
        failed = profile_example_failures(bound, profile)
        if failed:
            example, why = failed[0]
            where = f"{profile.source}:{example.line}" if example.line else profile.source
            raise ProfileError(
                f"{where}: profile '{profile.id}': its own example fails ({why}); "
                "correct the profile or the example"
            )
    return bound


def profile_example_failures(
    bound: Mapping[str, BoundRuleset], profile: Profile
) -> list[tuple[ProfileExample, str]]:
    """The profile's own examples (``[[examples]]``) that fail, each with what went wrong.

    Each example is evaluated on its ruleset with the profile applied (``bound``: ruleset id ->
    the profiled ruleset); ``expect_fired`` must equal the rules fired, ``expect_outcome``
    must match the selected rule's outcome field by field. A ruleset not in ``bound`` fails.
    """
    failures: list[tuple[ProfileExample, str]] = []
    for n, ex in enumerate(profile.examples, start=1):
        target = bound.get(ex.ruleset_id)
        if target is None:
            failures.append((ex, f"example {n}: ruleset '{ex.ruleset_id}' is not loaded"))
            continue
        try:
            d = target.evaluate(dict(ex.given))
        except (InvalidInputError, RulesetDefectError) as exc:
            failures.append((ex, f"example {n}: {exc}"))
            continue
        if ex.expect_fired is not None and set(d.fired_ids) != set(ex.expect_fired):
            failures.append(
                (
                    ex,
                    f"example {n} on ruleset '{ex.ruleset_id}': expected fired "
                    f"{sorted(ex.expect_fired)}, got {sorted(d.fired_ids)}",
                )
            )
        for rule_id, expected in ex.expect_status or ():
            status = d.statuses.get(rule_id)
            if status != expected:
                failures.append(
                    (
                        ex,
                        f"example {n} on ruleset '{ex.ruleset_id}': expected rule '{rule_id}' "
                        f"{expected}, got {status or 'no such rule'}",
                    )
                )
        if ex.expect_outcome is not None:
            got = d.outcome
            wrong = [
                k
                for k, v in ex.expect_outcome
                if got is None or _outcome_text(got.get(k)) != _outcome_text(v)
            ]
            if wrong:
                shown = (
                    "undetermined"
                    if got is None
                    else ", ".join(f"{k} = {_outcome_text(got.get(k))}" for k in wrong)
                )
                failures.append(
                    (
                        ex,
                        f"example {n} on ruleset '{ex.ruleset_id}': expected "
                        + ", ".join(f"{k} = {_outcome_text(v)}" for k, v in ex.expect_outcome)
                        + f", got {shown}",
                    )
                )
    return failures


def _outcome_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "; ".join(str(v) for v in value)
    return str(value)


def _assemble_ruleset(parts: dict[str, object]) -> Ruleset:
    """A :class:`Ruleset` from the parts :meth:`Ruleset.__reduce__` pickled."""
    return Ruleset(**parts)  # type: ignore[arg-type]
