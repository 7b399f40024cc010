"""The restricted condition language: parser, typed tree, compiled closures, traces.

A condition is a tree of ``all`` / ``any`` / ``not`` / ``ref`` nodes whose leaves are short
comparisons written as strings (see ``docs/dsl.md``)::

    mg_per_day > high_dose_mg_per_day
    sex = 'male'
    age between [18, 65)
    sex in ['male', 'female']
    benzodiazepine is unknown

Nothing is ever passed to ``eval``: leaves are tokenised and parsed by a small hand-written
parser, checked against the declared inputs and parameters, and compiled once into closures.

Truth values are Kleene's three: ``True``, ``False`` and ``None`` (unknown). A comparison on an
unknown input is unknown; ``all`` is false if any child is false, else unknown if any child is
unknown; ``any`` dually; ``not`` keeps unknown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final

__all__ = [
    "AllOf",
    "AnyOf",
    "Between",
    "Compare",
    "Condition",
    "ConditionSyntaxError",
    "Const",
    "FieldSpec",
    "FieldType",
    "Known",
    "Member",
    "Not",
    "Operand",
    "Param",
    "Ref",
    "Truth",
    "Values",
    "compile_condition",
    "compile_truths",
    "condition_fields",
    "condition_params",
    "condition_unknowns",
    "empty_intervals",
    "evaluate_partial",
    "field_constants",
    "format_value",
    "parse_leaf",
    "render_condition",
    "trace_condition",
]

Scalar = Decimal | str | bool
"""A value an input or a literal can take: exact number, enumeration member or boolean."""

Values = Sequence[Scalar | None]
"""Input values in declaration order; ``None`` is unknown."""

Truth = bool | None
"""Kleene truth: ``True``, ``False`` or ``None`` for unknown."""


class FieldType(StrEnum):
    """Types an input field may declare."""

    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    ENUM = "enum"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A declared input: name, type, unit, allowed values (enum) or bounds (numbers).

    ``labels`` pairs enum values with their display names (declared in the file, optional);
    ``label`` is the input's own display name (required by the loader; ``None`` only in a
    field built by hand).
    """

    name: str
    type: FieldType
    index: int
    unit: str | None = None
    description: str | None = None
    values: tuple[str, ...] = ()
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    required: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    label: str | None = None

    @property
    def numeric(self) -> bool:
        """True for ``number`` and ``integer`` fields."""
        return self.type in (FieldType.NUMBER, FieldType.INTEGER)


@dataclass(frozen=True, slots=True)
class Const:
    """A literal operand (exact decimal, quoted string or boolean)."""

    value: Scalar


@dataclass(frozen=True, slots=True)
class Param:
    """A reference to a named parameter of the ruleset (a number, overridable by profiles)."""

    name: str


Operand = Const | Param


@dataclass(frozen=True, slots=True)
class Compare:
    """``field op operand`` with op one of ``= != < <= > >=``."""

    field: str
    op: str
    operand: Operand


@dataclass(frozen=True, slots=True)
class Member:
    """``field in [...]`` or ``field not in [...]``."""

    field: str
    options: tuple[Operand, ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class Between:
    """``field between [low, high)`` with each end explicitly closed ``[ ]`` or open ``( )``."""

    field: str
    low: Operand
    high: Operand
    low_closed: bool
    high_closed: bool


@dataclass(frozen=True, slots=True)
class Known:
    """``field is known`` (``known=True``) or ``field is unknown``; never unknown itself."""

    field: str
    known: bool


@dataclass(frozen=True, slots=True)
class AllOf:
    """True when every child is true (Kleene conjunction)."""

    children: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """True when some child is true (Kleene disjunction)."""

    children: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """Kleene negation of its child."""

    child: Condition


@dataclass(frozen=True, slots=True)
class Ref:
    """A named condition from the ruleset's ``[conditions]`` table, expanded at load."""

    name: str
    child: Condition


Leaf = Compare | Member | Between | Known
Condition = Compare | Member | Between | Known | AllOf | AnyOf | Not | Ref


class ConditionSyntaxError(ValueError):
    """A leaf string does not follow the grammar (message says what was expected)."""


# --- tokeniser and leaf parser -----------------------------------------------------------------

_TOKEN: Final = re.compile(
    r"""\s*(?:
      (?P<num>-?\d+(?:\.\d+)?)
    | (?P<str>'[^'\\]*'|"[^"\\]*")
    | (?P<op><=|>=|!=|==|=|<|>)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<punct>[\[\]\(\),])
    )""",
    re.VERBOSE,
)
_KEYWORDS: Final = frozenset({"in", "not", "between", "is", "known", "unknown", "true", "false"})
MAX_LEAF_CHARS: Final = 500
"""Longest leaf string accepted (guards the parser against pathological input)."""


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class RawOperand:
    """An operand as written: a literal, or a bare name still to be resolved to a parameter."""

    value: Scalar | None
    name: str | None


@dataclass(frozen=True, slots=True)
class RawLeaf:
    """A parsed, not yet type-checked leaf."""

    field: str
    kind: str  # "compare" | "member" | "between" | "known"
    op: str = ""
    operands: tuple[RawOperand, ...] = ()
    negated: bool = False
    low_closed: bool = True
    high_closed: bool = True
    known: bool = True


def _tokenise(text: str) -> list[_Tok]:
    if len(text) > MAX_LEAF_CHARS:
        raise ConditionSyntaxError(f"condition longer than {MAX_LEAF_CHARS} characters")
    tokens: list[_Tok] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if m is None or m.end() == pos:
            raise ConditionSyntaxError(f"unexpected character at position {pos + 1}")
        kind = m.lastgroup or ""
        tok = m.group(kind)
        if kind == "ident" and tok in _KEYWORDS:
            kind = "kw"
        tokens.append(_Tok(kind, tok))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, what: str) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise ConditionSyntaxError(f"expected {what}, found the end")
        self.i += 1
        return tok

    def expect(self, kind: str, text: str | None, what: str) -> _Tok:
        tok = self.take(what)
        if tok.kind != kind or (text is not None and tok.text != text):
            raise ConditionSyntaxError(f"expected {what}, found '{tok.text}'")
        return tok

    def operand(self) -> RawOperand:
        tok = self.take("a value or a parameter name")
        if tok.kind == "num":
            return RawOperand(Decimal(tok.text), None)
        if tok.kind == "str":
            return RawOperand(tok.text[1:-1], None)
        if tok.kind == "kw" and tok.text in ("true", "false"):
            return RawOperand(tok.text == "true", None)
        if tok.kind == "ident":
            return RawOperand(None, tok.text)
        raise ConditionSyntaxError(f"expected a value or a parameter name, found '{tok.text}'")

    def operand_list(self) -> tuple[RawOperand, ...]:
        self.expect("punct", "[", "'['")
        items = [self.operand()]
        while (tok := self.take("',' or ']'")).text == ",":
            items.append(self.operand())
        if tok.text != "]":
            raise ConditionSyntaxError(f"expected ',' or ']', found '{tok.text}'")
        return tuple(items)

    def leaf(self) -> RawLeaf:
        field = self.expect("ident", None, "an input name").text
        tok = self.take("an operator")
        if tok.kind == "op":
            if tok.text == "==":
                raise ConditionSyntaxError("use '=' for equality, not '=='")
            leaf = RawLeaf(field, "compare", op=tok.text, operands=(self.operand(),))
        elif tok.kind == "kw" and tok.text == "in":
            leaf = RawLeaf(field, "member", operands=self.operand_list())
        elif tok.kind == "kw" and tok.text == "not":
            self.expect("kw", "in", "'in' after 'not'")
            leaf = RawLeaf(field, "member", operands=self.operand_list(), negated=True)
        elif tok.kind == "kw" and tok.text == "between":
            opening = self.take("'[' or '('")
            if opening.text not in ("[", "("):
                raise ConditionSyntaxError("an interval starts with '[' (closed) or '(' (open)")
            low = self.operand()
            self.expect("punct", ",", "','")
            high = self.operand()
            closing = self.take("']' or ')'")
            if closing.text not in ("]", ")"):
                raise ConditionSyntaxError("an interval ends with ']' (closed) or ')' (open)")
            leaf = RawLeaf(
                field,
                "between",
                operands=(low, high),
                low_closed=opening.text == "[",
                high_closed=closing.text == "]",
            )
        elif tok.kind == "kw" and tok.text == "is":
            word = self.take("'known' or 'unknown'")
            if word.text not in ("known", "unknown"):
                raise ConditionSyntaxError(f"expected 'known' or 'unknown', found '{word.text}'")
            leaf = RawLeaf(field, "known", known=word.text == "known")
        else:
            raise ConditionSyntaxError(
                f"expected an operator (= != < <= > >=, in, not in, between, is), "
                f"found '{tok.text}'"
            )
        extra = self.peek()
        if extra is not None:
            raise ConditionSyntaxError(f"unexpected '{extra.text}' after the condition")
        return leaf


def parse_leaf(text: str) -> RawLeaf:
    """Parse one leaf string; raises :class:`ConditionSyntaxError` saying what was expected."""
    try:
        return _Parser(_tokenise(text)).leaf()
    except InvalidOperation:  # pragma: no cover - the regex only admits valid decimals
        raise ConditionSyntaxError("invalid number") from None


# --- walking the tree --------------------------------------------------------------------------


def _walk(node: Condition) -> Iterator[Condition]:
    yield node
    if isinstance(node, AllOf | AnyOf):
        for child in node.children:
            yield from _walk(child)
    elif isinstance(node, Not | Ref):
        yield from _walk(node.child)


def condition_fields(node: Condition) -> tuple[str, ...]:
    """Names of the inputs a condition reads, in first-use order."""
    seen: dict[str, None] = {}
    for n in _walk(node):
        if isinstance(n, Compare | Member | Between | Known):
            seen.setdefault(n.field, None)
    return tuple(seen)


def _operands(node: Leaf) -> tuple[Operand, ...]:
    if isinstance(node, Compare):
        return (node.operand,)
    if isinstance(node, Member):
        return node.options
    if isinstance(node, Between):
        return (node.low, node.high)
    return ()


def condition_params(node: Condition) -> tuple[str, ...]:
    """Names of the parameters a condition reads, in first-use order."""
    seen: dict[str, None] = {}
    for n in _walk(node):
        if isinstance(n, Compare | Member | Between | Known):
            for op in _operands(n):
                if isinstance(op, Param):
                    seen.setdefault(op.name, None)
    return tuple(seen)


def field_constants(node: Condition, params: Mapping[str, Decimal]) -> dict[str, set[Scalar]]:
    """Every constant each field is compared with (parameters resolved): the linter's cut points."""
    out: dict[str, set[Scalar]] = {}
    for n in _walk(node):
        if isinstance(n, Compare | Member | Between | Known):
            bucket = out.setdefault(n.field, set())
            for op in _operands(n):
                bucket.add(_resolve(op, params))
    return out


def empty_intervals(node: Condition, params: Mapping[str, Decimal]) -> list[str]:
    """Render every ``between`` whose interval is empty once parameters are resolved."""
    out = []
    for n in _walk(node):
        if isinstance(n, Between):
            lo, hi = _resolve(n.low, params), _resolve(n.high, params)
            if lo > hi or (lo == hi and not (n.low_closed and n.high_closed)):  # type: ignore[operator]
                out.append(_render_leaf(n, params, {}, n.field))
    return out


def _resolve(op: Operand, params: Mapping[str, Decimal]) -> Scalar:
    return op.value if isinstance(op, Const) else params[op.name]


# --- leaf semantics (shared by the trace, the partial evaluator and the linter) -----------------


def _leaf_truth(node: Leaf, x: Scalar | None, params: Mapping[str, Decimal]) -> Truth:
    if isinstance(node, Known):
        return (x is not None) == node.known
    if x is None:
        return None
    if isinstance(node, Compare):
        c = _resolve(node.operand, params)
        return _compare(node.op, x, c)
    if isinstance(node, Member):
        hit = any(x == _resolve(o, params) for o in node.options)
        return hit != node.negated
    lo = _resolve(node.low, params)
    hi = _resolve(node.high, params)
    above = x >= lo if node.low_closed else x > lo  # type: ignore[operator]
    below = x <= hi if node.high_closed else x < hi  # type: ignore[operator]
    return bool(above and below)


def _compare(op: str, x: Scalar, c: Scalar) -> bool:
    if op == "=":
        return x == c
    if op == "!=":
        return x != c
    if op == "<":
        return x < c  # type: ignore[operator]
    if op == "<=":
        return x <= c  # type: ignore[operator]
    if op == ">":
        return x > c  # type: ignore[operator]
    return x >= c  # type: ignore[operator]


# --- compiled closures (the reference evaluator's fast path) ----------------------------------

Compiled = Callable[[Values], Truth]


def compile_condition(
    node: Condition, index: Mapping[str, int], params: Mapping[str, Decimal]
) -> Compiled:
    """Compile a checked condition into a closure over input values in declaration order.

    Parameters are bound now, so a profile's overrides need a fresh compile (done once per
    profile by :meth:`Ruleset.bind`). The closure is pure: safe to call from many threads.
    """
    if isinstance(node, Ref):
        return compile_condition(node.child, index, params)
    if isinstance(node, Not):
        inner = compile_condition(node.child, index, params)

        def not_(v: Values) -> Truth:
            r = inner(v)
            return None if r is None else not r

        return not_
    if isinstance(node, AllOf | AnyOf):
        kids = tuple(compile_condition(c, index, params) for c in node.children)
        if len(kids) == 1:
            return kids[0]
        stop = isinstance(node, AnyOf)  # the value that decides the whole node
        if len(kids) == 2:
            first, second = kids

            def pair(v: Values) -> Truth:
                a = first(v)
                if a is stop:
                    return stop
                b = second(v)
                if b is stop:
                    return stop
                return None if (a is None or b is None) else not stop

            return pair

        def junction(v: Values) -> Truth:
            unknown = False
            for kid in kids:
                r = kid(v)
                if r is stop:
                    return stop
                if r is None:
                    unknown = True
            return None if unknown else not stop

        return junction
    return _compile_leaf(node, index[node.field], params)


def _compile_leaf(  # noqa: PLR0911 - one closure per operator, for speed
    node: Leaf, i: int, params: Mapping[str, Decimal]
) -> Compiled:
    if isinstance(node, Known):
        want = node.known

        def known(v: Values) -> Truth:
            return (v[i] is not None) is want

        return known
    if isinstance(node, Compare):
        c = _resolve(node.operand, params)
        op = node.op
        if op == ">":

            def gt(v: Values) -> Truth:
                x = v[i]
                return None if x is None else x > c  # type: ignore[operator]

            return gt
        if op == ">=":

            def ge(v: Values) -> Truth:
                x = v[i]
                return None if x is None else x >= c  # type: ignore[operator]

            return ge
        if op == "<":

            def lt(v: Values) -> Truth:
                x = v[i]
                return None if x is None else x < c  # type: ignore[operator]

            return lt
        if op == "<=":

            def le(v: Values) -> Truth:
                x = v[i]
                return None if x is None else x <= c  # type: ignore[operator]

            return le
        if isinstance(c, bool):
            # inputs of a boolean field are True/False/None: the value is its own truth
            if (op == "=") == c:

                def is_value(v: Values) -> Truth:
                    return v[i]  # type: ignore[return-value]

                return is_value

            def is_not_value(v: Values) -> Truth:
                x = v[i]
                return None if x is None else not x

            return is_not_value
        if op == "=":

            def eq(v: Values) -> Truth:
                x = v[i]
                return None if x is None else x == c

            return eq

        def ne(v: Values) -> Truth:
            x = v[i]
            return None if x is None else x != c

        return ne
    if isinstance(node, Member):
        options = frozenset(_resolve(o, params) for o in node.options)
        negated = node.negated

        def member(v: Values) -> Truth:
            x = v[i]
            return None if x is None else (x in options) is not negated

        return member
    lo = _resolve(node.low, params)
    hi = _resolve(node.high, params)
    lc, hc = node.low_closed, node.high_closed

    def between(v: Values) -> Truth:
        x = v[i]
        if x is None:
            return None
        above = x >= lo if lc else x > lo  # type: ignore[operator]
        return bool(above and (x <= hi if hc else x < hi))  # type: ignore[operator]

    return between


# --- one function per ruleset (the per-call path) -----------------------------------------------


def compile_truths(
    conditions: Sequence[Condition | None],
    index: Mapping[str, int],
    params: Mapping[str, Decimal],
    disabled: str,
) -> Callable[[Values], tuple[Truth | str, ...]]:
    """Compile every rule's condition into one function giving all their truths at once.

    The same values as calling :func:`compile_condition`'s closure of each condition in turn
    (``disabled`` for a rule given as ``None``): the same Kleene logic, the same order of
    evaluation, the same short circuits (a junction stops at the first child that decides it),
    written as one Python expression per rule in one function, so that a ruleset costs one
    call rather than one per node (issue 20: per-call cost). The conditions stay the source
    of truth: the function is generated from them when a ruleset is bound, never by hand.
    The function is pure: safe to call from many threads.
    """
    parts, constants = truth_expressions(conditions, index, params, disabled)
    body = "".join(f"        {p},\n" for p in parts)
    source = f"def truths(v):\n    return (\n{body}    )\n"
    scope: dict[str, Any] = dict(constants)
    exec(compile(source, "<ruleset truths>", "exec"), scope)  # noqa: S102 - generated here
    fn: Callable[[Values], tuple[Truth | str, ...]] = scope["truths"]
    return fn


def truth_expressions(
    conditions: Sequence[Condition | None],
    index: Mapping[str, int],
    params: Mapping[str, Decimal],
    disabled: str,
    *,
    locals_: bool = False,
) -> tuple[list[str], dict[str, object]]:
    """Each rule's condition as one Python expression, and the constants they read by name.

    What :func:`compile_truths` writes into its function: the input at position ``i`` read as
    ``v[i]``, or, with ``locals_``, as the local name ``v{i}`` (a generated function that
    holds the values in locals: :func:`~.evaluator.compile_evaluation`). Constants are named
    ``c1``, ``c2``, ... and intermediate values ``t1``, ``x2``, ...: no text of a rules file
    reaches the source (see :class:`_TruthWriter`).
    """
    writer = _TruthWriter(index, params, locals_=locals_)
    off = writer.constant(disabled)  # by name, as every constant
    return [off if c is None else writer.expr(c) for c in conditions], writer.constants


_PYTHON_OPERATORS: Final = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
"""The DSL's comparison operators and the Python operator each is written as (the only ones)."""


class _TruthWriter:
    """Writes conditions as Python expressions (see :func:`compile_truths`).

    No text of a rules file reaches the source: constants (parameters resolved, option sets,
    whatever their text) are named ``c1``, ``c2``, ... in the function's globals and passed as
    objects; inputs are read by position (``v[3]``, or the local ``v3`` with ``locals_``);
    operators come from :data:`_PYTHON_OPERATORS` only; each intermediate value gets a name of
    its own (``t1``, ``x2``, ...), assigned where it is computed (``:=``) and read only after.
    """

    def __init__(
        self, index: Mapping[str, int], params: Mapping[str, Decimal], *, locals_: bool = False
    ) -> None:
        self._index = index
        self._params = params
        self._locals = locals_
        self.constants: dict[str, object] = {}
        self._names = 0

    def _name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def constant(self, value: object) -> str:
        """The name under which ``value`` is passed to the generated function."""
        name = self._name("c")
        self.constants[name] = value
        return name

    def expr(self, node: Condition) -> str:
        """``node`` as an expression over ``v`` (the input values in declaration order)."""
        if isinstance(node, Ref):
            return self.expr(node.child)
        if isinstance(node, Not):
            t = self._name("t")
            return f"(None if ({t} := {self.expr(node.child)}) is None else not {t})"
        if isinstance(node, AllOf | AnyOf):
            if len(node.children) == 1:
                return self.expr(node.children[0])
            stop = isinstance(node, AnyOf)  # the value that decides the whole node
            names = [self._name("t") for _ in node.children]
            decided = " or ".join(
                f"({t} := {self.expr(c)}) is {stop}"
                for t, c in zip(names, node.children, strict=True)
            )
            unknown = " or ".join(f"{t} is None" for t in names)
            return f"({stop} if {decided} else (None if {unknown} else {not stop}))"
        return self._leaf(node)

    def _leaf(self, node: Leaf) -> str:
        at = int(self._index[node.field])  # a position: an int, never a name
        v = f"v{at}" if self._locals else f"v[{at}]"
        if isinstance(node, Known):
            return f"({v} is not None)" if node.known else f"({v} is None)"
        x = self._name("x")
        if isinstance(node, Compare):
            c = _resolve(node.operand, self._params)
            if node.op in {"=", "!="} and isinstance(c, bool):
                # a boolean field's value is its own truth (True/False/None)
                return (
                    v if (node.op == "=") == c else f"(None if ({x} := {v}) is None else not {x})"
                )
            op = _PYTHON_OPERATORS.get(node.op)
            if op is None:  # never written into the source: only the fixed list below is
                raise ConditionSyntaxError(f"unknown comparison operator {node.op!r}")
            return f"(None if ({x} := {v}) is None else {x} {op} {self.constant(c)})"
        if isinstance(node, Member):
            options = self.constant(frozenset(_resolve(o, self._params) for o in node.options))
            test = "not in" if node.negated else "in"
            return f"(None if ({x} := {v}) is None else {x} {test} {options})"
        lo = self.constant(_resolve(node.low, self._params))
        hi = self.constant(_resolve(node.high, self._params))
        above = f"{x} >= {lo}" if node.low_closed else f"{x} > {lo}"
        below = f"{x} <= {hi}" if node.high_closed else f"{x} < {hi}"
        return f"(None if ({x} := {v}) is None else bool({above} and {below}))"


# --- partial evaluation for the linter ----------------------------------------------------------

PENDING: Final = "pending"
"""Partial-evaluation result: depends on an input not yet assigned."""

PartialTruth = bool | None | str


def evaluate_partial(  # noqa: PLR0911 - one return per node kind
    node: Condition, assigned: Mapping[str, Scalar | None], params: Mapping[str, Decimal]
) -> PartialTruth:
    """Evaluate with some inputs not yet chosen: ``True``/``False``/``None`` or ``PENDING``.

    ``True`` and ``False`` hold for every completion (Kleene logic is sound); ``None`` means
    unknown because an input assigned *as unknown* makes it so; ``PENDING`` means the value
    still depends on an unassigned input.
    """
    if isinstance(node, Ref):
        return evaluate_partial(node.child, assigned, params)
    if isinstance(node, Not):
        r = evaluate_partial(node.child, assigned, params)
        return (not r) if isinstance(r, bool) else r
    if isinstance(node, AllOf | AnyOf):
        stop = isinstance(node, AnyOf)
        pending = unknown = False
        for child in node.children:
            r = evaluate_partial(child, assigned, params)
            if r is stop:
                return stop
            if r == PENDING:
                pending = True
            elif r is None:
                unknown = True
        if pending:
            return PENDING
        return None if unknown else not stop
    if node.field not in assigned:
        return PENDING
    return _leaf_truth(node, assigned[node.field], params)


# --- trace and rendering -------------------------------------------------------------------------


def format_value(x: Scalar | None) -> str:
    """Render an input value for traces: ``unknown``, ``true``/``false``, plain decimals."""
    if x is None:
        return "unknown"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, Decimal):
        return _fmt_decimal(x)
    return x


def _fmt_decimal(x: Decimal) -> str:
    return format(x, "f")


def _fmt_truth(t: Truth) -> str:
    return "unknown" if t is None else ("true" if t else "false")


def _fmt_operand(
    op: Operand, params: Mapping[str, Decimal] | None, notes: Mapping[str, str]
) -> str:
    if isinstance(op, Const):
        return f"'{op.value}'" if isinstance(op.value, str) else format_value(op.value)
    if params is None:
        return op.name
    note = notes.get(op.name)
    shown = f"{op.name}={format_value(params[op.name])}"
    return f"{shown} ({note})" if note else shown


def _render_leaf(
    node: Leaf, params: Mapping[str, Decimal] | None, notes: Mapping[str, str], lhs: str
) -> str:
    if isinstance(node, Known):
        return f"{lhs} is {'known' if node.known else 'unknown'}"
    if isinstance(node, Compare):
        return f"{lhs} {node.op} {_fmt_operand(node.operand, params, notes)}"
    if isinstance(node, Member):
        opts = ", ".join(_fmt_operand(o, params, notes) for o in node.options)
        return f"{lhs} {'not in' if node.negated else 'in'} [{opts}]"
    lo = _fmt_operand(node.low, params, notes)
    hi = _fmt_operand(node.high, params, notes)
    return (
        f"{lhs} between {'[' if node.low_closed else '('}{lo}, {hi}"
        f"{']' if node.high_closed else ')'}"
    )


def render_condition(
    node: Condition,
    indent: str = "",
    params: Mapping[str, Decimal] | None = None,
    notes: Mapping[str, str] | None = None,
) -> list[str]:
    """Render a condition as readable indented lines (used by ``rules explain``).

    With ``params``, parameter references show their values (``high_dose=120``) and ``notes``
    (e.g. which profile set them).
    """
    sub = indent + "  "
    if isinstance(node, Ref):
        return [f"{indent}{node.name}:", *render_condition(node.child, sub, params, notes)]
    if isinstance(node, Not):
        return [f"{indent}NOT", *render_condition(node.child, sub, params, notes)]
    if isinstance(node, AllOf | AnyOf):
        if len(node.children) == 1:
            return render_condition(node.children[0], indent, params, notes)
        head = "ALL of" if isinstance(node, AllOf) else "ANY of"
        lines = [f"{indent}{head}:"]
        for child in node.children:
            lines.extend(render_condition(child, sub, params, notes))
        return lines
    return [indent + _render_leaf(node, params, notes or {}, node.field)]


def trace_condition(
    node: Condition,
    values: Mapping[str, Scalar | None],
    params: Mapping[str, Decimal],
    notes: Mapping[str, str],
    indent: str = "",
) -> tuple[Truth, list[str], tuple[str, ...]]:
    """Evaluate every node (no short cut) and explain it.

    Returns the truth value, one trace line per node (``"mg_per_day=130 >
    high_dose_mg_per_day=120 -> true"``) and the unknown inputs that could change the value
    (empty unless the value is unknown).
    """
    if isinstance(node, Ref):
        rt, rlines, runknown = trace_condition(node.child, values, params, notes, indent + "  ")
        return rt, [f"{indent}{node.name} -> {_fmt_truth(rt)}", *rlines], runknown
    if isinstance(node, Not):
        ct, clines, cunknown = trace_condition(node.child, values, params, notes, indent + "  ")
        nt = None if ct is None else not ct
        return nt, [f"{indent}not -> {_fmt_truth(nt)}", *clines], cunknown
    if isinstance(node, AllOf | AnyOf):
        results = [trace_condition(c, values, params, notes, indent + "  ") for c in node.children]
        t, unknown = _junction(node, [(r[0], r[2]) for r in results])
        head = "all" if isinstance(node, AllOf) else "any"
        lines = [f"{indent}{head} -> {_fmt_truth(t)}"]
        for r in results:
            lines.extend(r[1])
        return t, lines, unknown
    x = values.get(node.field)
    t = _leaf_truth(node, x, params)
    lhs = f"{node.field}={format_value(x)}"
    line = f"{indent}{_render_leaf(node, params, notes, lhs)} -> {_fmt_truth(t)}"
    return t, [line], ((node.field,) if t is None else ())


def condition_unknowns(
    node: Condition, values: Mapping[str, Scalar | None], params: Mapping[str, Decimal]
) -> tuple[Truth, tuple[str, ...]]:
    """What :func:`trace_condition` returns besides the text: truth value and unknown inputs.

    Every node is evaluated (no short cut), as for the trace, so the unknown inputs are the
    same; no text is written (issue 20: traces are written when read).
    """
    if isinstance(node, Ref):
        return condition_unknowns(node.child, values, params)
    if isinstance(node, Not):
        ct, cunknown = condition_unknowns(node.child, values, params)
        return (None if ct is None else not ct), cunknown
    if isinstance(node, AllOf | AnyOf):
        return _junction(node, [condition_unknowns(c, values, params) for c in node.children])
    t = _leaf_truth(node, values.get(node.field), params)
    return t, ((node.field,) if t is None else ())


def _junction(
    node: AllOf | AnyOf, results: list[tuple[Truth, tuple[str, ...]]]
) -> tuple[Truth, tuple[str, ...]]:
    """Kleene ``all``/``any`` of the children's truth values, and the unknowns that decide it.

    The unknown inputs are those of the unknown children, when the whole is unknown.
    """
    stop = isinstance(node, AnyOf)
    truths = [r[0] for r in results]
    if stop in truths:
        return stop, ()
    if None not in truths:
        return not stop, ()
    unknown: dict[str, None] = {}
    for t, names in results:
        if t is None:
            unknown.update(dict.fromkeys(names))
    return None, tuple(unknown)
