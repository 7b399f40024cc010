"""Load ruleset and profile files: size cap, TOML, strict schema, meaning, then checks.

Every problem is a :class:`~opioidcds.RulesetLoadError` listing file, rule id and
line; nothing from a bad file is ever used. Only TOML is read (stdlib ``tomllib``): YAML is
not offered, so no YAML tag can construct objects.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from pydantic import ValidationError

from opioidcds._decide.rules.checks import (
    profile_example_findings,
    profile_findings,
    unsupplied_findings,
)
from opioidcds._decide.rules.conditions import (
    AllOf,
    AnyOf,
    Between,
    Compare,
    Condition,
    ConditionSyntaxError,
    Const,
    FieldSpec,
    FieldType,
    Known,
    Member,
    Not,
    Operand,
    Param,
    RawLeaf,
    RawOperand,
    Ref,
    Scalar,
    condition_fields,
    condition_params,
    empty_intervals,
    parse_leaf,
)
from opioidcds._decide.rules.errors import LoadProblem, ProfileError, RulesetLoadError
from opioidcds._decide.rules.evaluator import (
    BoundRuleset,
    DecisionStatus,
    Extension,
    OutcomeValue,
    OutputSpec,
    Parameter,
    Rule,
    RuleExample,
    Ruleset,
    TableExample,
)
from opioidcds._decide.rules.facts import FACTS_FILE, FactCatalogue, fact_findings, facts_from
from opioidcds._decide.rules.linter import (
    Finding,
    LintReport,
    Severity,
    advice_findings,
    lint_bound,
    require_clean,
)
from opioidcds._decide.rules.profiles import (
    DisabledRule,
    ParameterOverride,
    Profile,
    ProfileExample,
    ProfileSection,
    freeze_sections,
)
from opioidcds._decide.rules.schema import (
    MAX_CONDITION_DEPTH,
    MAX_FILE_BYTES,
    MAX_LEAVES_PER_RULE,
    ExtensionDoc,
    HitPolicy,
    ProfileDoc,
    RulesetDoc,
)
from opioidcds._decide.rules.supplied import CATALOGUE_FILE, SuppliedInputs, supplied_from
from opioidcds._knowledge.paths import knowledge_dir

__all__ = [
    "extend_ruleset",
    "lint_path",
    "load_local_rules",
    "load_profile",
    "load_ruleset",
    "load_rulesets",
    "read_knowledge_file",
]


# --- reading ------------------------------------------------------------------------------------


_ASSIGNED_KEY: Final = re.compile(r'^\s*"?([^"\s=]+(?: [^"\s=]+)*)"?\s*=')
_HEADER: Final = re.compile(r"^\s*\[")


@lru_cache(maxsize=4096)
def _header_pattern(key: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*\[\[?[^\]]*\b{re.escape(key)}\]")


class _Lines:
    """Best-effort line numbers: tomllib keeps no positions, so search the text."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.rule_starts = self._headers("rules")
        self.example_starts = self._headers("examples")
        # Lines that could hold a key: an assignment's key, or a table header. Indexed once,
        # so locating a key reads the few candidate lines, not the whole file each time.
        self._assigned: dict[str, list[int]] = {}
        self._header_lines: list[int] = []
        for i, line in enumerate(self.lines):
            m = _ASSIGNED_KEY.match(line)
            if m is not None:
                self._assigned.setdefault(m.group(1), []).append(i)
            if _HEADER.match(line):
                self._header_lines.append(i)

    def _headers(self, name: str) -> list[int]:
        pat = re.compile(rf"^\s*\[\[\s*{name}\s*\]\]")
        return [i for i, line in enumerate(self.lines) if pat.match(line)]

    def _key_in(self, key: str, start: int, end: int) -> int | None:
        """1-based line of the first ``key = ...`` or table header ending in ``key`` in range."""
        end = min(end, len(self.lines))
        found: int | None = None
        rows = self._assigned.get(key, ())
        j = bisect.bisect_left(rows, start)
        if j < len(rows) and rows[j] < end:
            found = rows[j]
        header = _header_pattern(key)
        for i in self._header_lines[bisect.bisect_left(self._header_lines, start) :]:
            if i >= end or (found is not None and i > found):
                break
            if header.match(self.lines[i]):
                found = i
                break
        return None if found is None else found + 1

    def first(self, pattern: str) -> int | None:
        """1-based line of the first line matching regular expression ``pattern``."""
        pat = re.compile(pattern)
        return next((i + 1 for i, line in enumerate(self.lines) if pat.search(line)), None)

    def rule_line(self, index: int, key: str | None = None) -> int | None:
        """Line of rule ``index`` (of ``key`` inside it, if found)."""
        if index >= len(self.rule_starts):
            return None
        start = self.rule_starts[index]
        end = self.rule_starts[index + 1] if index + 1 < len(self.rule_starts) else len(self.lines)
        if key is not None:
            found = self._key_in(key, start, end)
            if found is not None:
                return found
        return start + 1

    def locate(self, loc: Sequence[int | str]) -> int | None:
        """Line for a pydantic error location such as ``("inputs", "age", "type")``."""
        if not loc:
            return None
        if loc[0] == "rules" and len(loc) > 1 and isinstance(loc[1], int):
            key = next((str(k) for k in loc[2:3] if isinstance(k, str)), None)
            return self.rule_line(loc[1], key)
        if loc[0] == "examples" and len(loc) > 1 and isinstance(loc[1], int):
            idx = loc[1]
            return self.example_starts[idx] + 1 if idx < len(self.example_starts) else None
        for key in reversed([str(k) for k in loc if isinstance(k, str)]):
            found = self._key_in(key, 0, len(self.lines))
            if found is not None:
                return found
        return None


@dataclass(frozen=True, slots=True)
class _Source:
    path: str
    text: str
    data: dict[str, Any]
    lines: _Lines
    fingerprint: str


def _problem(
    file: str, message: str, rule_id: str | None = None, line: int | None = None
) -> RulesetLoadError:
    return RulesetLoadError([LoadProblem(file, message, rule_id, line)])


def _find_floats(data: object, path: str = "") -> str | None:
    if isinstance(data, float):
        return path or "(top)"
    if isinstance(data, dict):
        for k, v in data.items():
            found = _find_floats(v, f"{path}.{k}" if path else str(k))
            if found:
                return found
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found = _find_floats(v, f"{path}[{i}]")
            if found:
                return found
    return None


def read_knowledge_file(path: str | Path) -> tuple[str, dict[str, Any]]:
    """Read a TOML knowledge file with the size cap; return (kind, parsed data).

    Raises:
        RulesetLoadError: missing, too large, not UTF-8, malformed TOML, TOML floats, or no
            ``kind``.

    """
    src = _knowledge_source(Path(path))
    return str(src.data["kind"]), src.data


def read_data_file(path: str | Path) -> dict[str, Any]:
    """Read any TOML knowledge data file with the loader's checks (size cap, UTF-8, no floats).

    Raises:
        RulesetLoadError: missing, too large, not UTF-8, malformed TOML or TOML floats.
    """
    return _read(Path(path)).data


def _knowledge_source(path: Path) -> _Source:
    """Read and parse a knowledge file once; its ``kind`` must be one this loader knows.

    Raises:
        RulesetLoadError: as :func:`read_knowledge_file`.
    """
    src = _read(path)
    kind = src.data.get("kind")
    if kind not in ("ruleset", "profile", "extension"):
        raise _problem(
            src.path,
            '\'kind\' must be "ruleset", "profile" or "extension"',
            None,
            src.lines.locate(("kind",)),
        )
    return src


def _read(path: Path) -> _Source:
    name = str(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        raise _problem(name, "YAML is not accepted; rulesets and profiles are TOML files")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _problem(name, f"file larger than {MAX_FILE_BYTES} bytes; refused unread")
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _problem(name, f"cannot read the file ({exc.strerror or 'I/O error'})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise _problem(name, f"file larger than {MAX_FILE_BYTES} bytes; refused")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _problem(name, "not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise _problem(
            name, f"malformed TOML: {exc}", None, int(m.group(1)) if m else None
        ) from None
    except RecursionError:
        raise _problem(name, "malformed TOML: nested too deeply") from None
    except ValueError:  # an integer beyond Python's digit limit for conversion
        raise _problem(
            name, "malformed TOML: a number has too many digits (at most 20 are accepted)"
        ) from None
    lines = _Lines(text)
    floating = _find_floats(data)
    if floating:
        raise _problem(
            name,
            f'{floating}: TOML floats are not accepted; write decimals as strings, e.g. "0.5"',
            None,
            lines.locate(tuple(floating.replace("[", ".").replace("]", "").split("."))),
        )
    return _Source(name, text, data, lines, hashlib.sha256(raw).hexdigest())


def _schema_problems(src: _Source, exc: ValidationError) -> RulesetLoadError:
    problems = []
    rules = src.data.get("rules")
    for err in exc.errors(include_input=False, include_url=False, include_context=False):
        loc = tuple(err["loc"])
        rule_id = None
        if (
            len(loc) > 1
            and loc[0] == "rules"
            and isinstance(loc[1], int)
            and isinstance(rules, list)
            and loc[1] < len(rules)
            and isinstance(rules[loc[1]], dict)
        ):
            rid = rules[loc[1]].get("id")
            rule_id = rid if isinstance(rid, str) else f"#{loc[1] + 1}"
        path = ".".join(str(p) for p in loc) or "(file)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        problems.append(LoadProblem(src.path, f"{path}: {msg}", rule_id, src.lines.locate(loc)))
    return RulesetLoadError(problems)


# --- rulesets -----------------------------------------------------------------------------------


def load_ruleset(path: str | Path, *, check: bool = True) -> Ruleset:
    """Load, validate and compile one ruleset file.

    With ``check`` (the default) single-hit tables must have no gap (and ``unique`` tables no
    overlap) over the declared input domains, and every inline example must pass; use
    ``check=False`` only to lint a broken file (``opioidcds rules check`` does).

    Raises:
        RulesetLoadError: any problem, listed with file, rule id and line.

    """
    return _ruleset_of(_read(Path(path)), check=check)


def _ruleset_of(src: _Source, *, check: bool) -> Ruleset:
    """:func:`load_ruleset` of a file already read (each file is read and parsed once)."""
    if src.data.get("kind") != "ruleset":
        raise _problem(src.path, "'kind' must be \"ruleset\"", None, src.lines.locate(("kind",)))
    try:
        doc = RulesetDoc.model_validate(src.data)
    except ValidationError as exc:
        raise _schema_problems(src, exc) from None
    ruleset = _Builder(src, doc).build()
    if check:
        report = lint_bound(ruleset.bind(None))
        if report.errors:
            raise RulesetLoadError(
                [LoadProblem(src.path, f.message, f.rule_id, f.line) for f in report.errors]
            )
    return ruleset


def load_rulesets(folder: str | Path, *, check: bool = True) -> dict[str, Ruleset]:
    """Load every ruleset (``kind = "ruleset"``) under ``folder``, keyed by id.

    Raises:
        RulesetLoadError: a file is invalid, or two files share a ruleset id.

    """
    out: dict[str, Ruleset] = {}
    for file in sorted(Path(folder).rglob("*.toml")):
        src = _knowledge_source(file)
        if src.data.get("kind") != "ruleset":
            continue
        rs = _ruleset_of(src, check=check)
        if rs.id in out:
            raise _problem(str(file), f"ruleset id '{rs.id}' also used by {out[rs.id].source}")
        out[rs.id] = rs
    if check:
        dead = unsupplied_findings(out, bundled_supplied_inputs(), _family_rules(out))
        if dead:
            raise RulesetLoadError(
                [LoadProblem(f.file, f.message, f.rule_id, f.line) for f in dead]
            )
    return out


@cache
def bundled_supplied_inputs() -> SuppliedInputs:
    """The bundled catalogue of supplied inputs (``inputs/supplied-inputs.toml``), read once.

    Raises:
        RulesetLoadError: the bundled file is invalid (a packaging defect).
    """
    path = knowledge_dir("inputs") / CATALOGUE_FILE
    return supplied_from(path, _read(path).data)


@cache
def bundled_patient_facts() -> FactCatalogue:
    """The bundled catalogue of patient facts (``inputs/patient-facts.toml``), read once.

    Raises:
        RulesetLoadError: the bundled file is invalid (a packaging defect).
    """
    path = knowledge_dir("inputs") / FACTS_FILE
    return facts_from(path, _read(path).data)


def _fact_problems(rulesets: Mapping[str, Ruleset]) -> list[Finding]:
    """:func:`fact_findings` for ``rulesets``, with the family read from the rulesets in force."""
    facts = bundled_patient_facts()
    family: frozenset[str] = frozenset()
    if facts.family_rules_of is not None:
        family_rs = _family_rules(rulesets).get(facts.family_rules_of)
        family = frozenset(r.id for r in family_rs.rules) if family_rs is not None else family
    return fact_findings(rulesets, facts, family)


def _family_rules(rulesets: Mapping[str, Ruleset]) -> dict[str, Ruleset]:
    """The rulesets whose rule ids name families of inputs: the checked ones, else bundled."""
    wanted = {
        e.family_rules_of
        for e in bundled_supplied_inputs().entries.values()
        if e.family_rules_of is not None
    }
    out = {rid: rulesets[rid] for rid in wanted if rid in rulesets}
    for rid in wanted - set(out):
        out[rid] = load_ruleset(knowledge_dir("rules") / f"{rid}.toml")
    return out


# --- local rules: extensions and whole rulesets beside the bundled ones ------------------------

_ADDABLE = ("citations", "parameters", "conditions")


def extend_ruleset(base: Ruleset, paths: Sequence[str | Path], *, check: bool = True) -> Ruleset:
    """``base`` with the rules of the local extensions at ``paths`` added (none forked).

    Each extension (``kind = "extension"``) names the ruleset it extends and pins its version;
    it may add citations, parameters, named conditions, rules and table examples, never
    redefine one. The result keeps the ruleset's id and version (a profile's pin on it still
    holds), lists the extensions (:attr:`Ruleset.extensions`), marks each added rule with its
    file, and has a fingerprint of every file. With ``check`` it is linted like a bundled one.

    Raises:
        RulesetLoadError: an invalid extension, another ruleset or version than pinned, a
            redefined id, or (with ``check``) a lint error, each with its file and line.
    """
    base_src = _read(Path(base.source))
    merged: dict[str, Any] = dict(base_src.data)
    text = base_src.text
    segments: list[tuple[int, str]] = []
    extensions: list[Extension] = []
    prints = [base_src.fingerprint]
    for path in paths:
        src = _read(Path(path))
        if src.data.get("kind") != "extension":
            raise _problem(
                src.path, "'kind' must be \"extension\"", None, src.lines.locate(("kind",))
            )
        try:
            doc = ExtensionDoc.model_validate(src.data)
        except ValidationError as exc:
            raise _schema_problems(src, exc) from None
        if doc.extends != base.id or doc.extends_version != base.version:
            raise _problem(
                src.path,
                f"extends {doc.extends} {doc.extends_version}, but the ruleset loaded is "
                f"{base.id} {base.version}; review the extension against it",
                None,
                src.lines.locate(("extends_version",)),
            )
        problems = [
            LoadProblem(
                src.path,
                f"{key[:-1] if key != 'citations' else 'citation'} '{name}' is already in "
                f"ruleset '{base.id}': an extension adds, it never redefines",
                None,
                src.lines.locate((key, name)),
            )
            for key in _ADDABLE
            for name in src.data.get(key, {})
            if name in merged.get(key, {})
        ]
        if problems:
            raise RulesetLoadError(problems)
        for key in _ADDABLE:
            merged[key] = {**merged.get(key, {}), **src.data.get(key, {})}
        merged["rules"] = [*merged.get("rules", []), *src.data["rules"]]
        merged["examples"] = [*merged.get("examples", []), *src.data.get("examples", [])]
        segments.append((len(text.splitlines()) + 2, src.path))
        text = f"{text}\n{src.text}" if text.endswith("\n") else f"{text}\n\n{src.text}"
        extensions.append(
            Extension(
                doc.id,
                doc.version,
                doc.owner,
                src.path,
                src.fingerprint,
                tuple(r.id for r in doc.rules),
            )
        )
        prints.append(src.fingerprint)
    fingerprint = hashlib.sha256("+".join(prints).encode()).hexdigest()
    joined = _Source(base_src.path, text, merged, _Lines(text), fingerprint)
    try:
        rdoc = RulesetDoc.model_validate(merged)
    except ValidationError as exc:  # pragma: no cover - each part was validated above
        raise _schema_problems(joined, exc) from None
    ruleset = _Builder(joined, rdoc, tuple(segments), tuple(extensions)).build()
    if check:
        report = lint_bound(ruleset.bind(None))
        if report.errors:
            raise RulesetLoadError(
                [LoadProblem(f.file, f.message, f.rule_id, f.line) for f in report.errors]
            )
    return ruleset


def load_local_rules(
    folder: str | Path, rulesets: Mapping[str, Ruleset], *, check: bool = True
) -> dict[str, Ruleset]:
    """``rulesets`` with a local folder's rules beside them (``--rules DIR``).

    A local ruleset (``kind = "ruleset"``) with a new id is added; one with a bundled id is
    refused (add rules with an extension instead of a forked copy). Extensions
    (``kind = "extension"``) are merged into the ruleset they extend, in file-name order.
    Profiles in the folder are left to ``--profile`` (``rules check`` checks them).

    Raises:
        RulesetLoadError: an invalid file, a bundled id reused, an extension of a ruleset not
            loaded, or (with ``check``) a lint error or an input nothing supplies.
    """
    root = Path(folder)
    if not root.is_dir():
        raise _problem(str(root), "not a folder: give the folder of your local rules")
    out = dict(rulesets)
    extending: dict[str, list[Path]] = {}
    for file in sorted(root.rglob("*.toml")):
        src = _read(file)
        kind = src.data.get("kind")
        if kind == "extension":
            target = src.data.get("extends")
            extending.setdefault(str(target), []).append(file)
        elif kind == "ruleset":
            rs = load_ruleset(file, check=check)
            if rs.id not in out and rs.runs_for is None:
                raise _problem(
                    str(file),
                    f"local ruleset '{rs.id}' does not say when it runs: add "
                    'runs_for = "every-patient" (evaluated for every patient on the patient '
                    "facts, docs/local-rules.md); no command would run it otherwise",
                    None,
                    src.lines.locate(("id",)),
                )
            if rs.id in out:
                raise _problem(
                    str(file),
                    f"ruleset id '{rs.id}' is already loaded ({out[rs.id].source}): add rules "
                    'to it with an extension (kind = "extension") instead of a copy',
                    None,
                    src.lines.locate(("id",)),
                )
            out[rs.id] = rs
        elif kind != "profile":
            raise _problem(
                str(file),
                '\'kind\' must be "ruleset", "extension" or "profile"',
                None,
                src.lines.locate(("kind",)),
            )
    for target, files in sorted(extending.items()):
        base = out.get(target)
        if base is None:
            raise _problem(
                str(files[0]), f"extends ruleset '{target}', which is not loaded", None, None
            )
        out[target] = extend_ruleset(base, files, check=check)
    if check:
        dead = unsupplied_findings(out, bundled_supplied_inputs(), _family_rules(out))
        dead.extend(_fact_problems(out))
        if dead:
            raise RulesetLoadError(
                [LoadProblem(f.file, f.message, f.rule_id, f.line) for f in dead]
            )
    return out


_JUNCTIONS = ("all", "any", "not", "ref")


class _Builder:
    def __init__(
        self,
        src: _Source,
        doc: RulesetDoc,
        segments: tuple[tuple[int, str], ...] = (),
        extensions: tuple[Extension, ...] = (),
    ) -> None:
        self.src = src
        self.doc = doc
        self.problems: list[LoadProblem] = []
        self.fields: dict[str, FieldSpec] = {}
        self.named_cache: dict[str, Condition] = {}
        self.segments = segments  # merged text: (first line, file) of each extension's part
        self.extensions = extensions

    def at(self, line: int | None) -> tuple[str, int | None]:
        """The file and line of merged ``line`` (a ruleset merged with local extensions)."""
        for start, path in reversed(self.segments):
            if line is not None and line >= start:
                return path, line - start + 1
        return self.src.path, line

    def fail(self, message: str, rule_id: str | None = None, line: int | None = None) -> None:
        path, local = self.at(line)
        self.problems.append(LoadProblem(path, message, rule_id, local))

    def build(self) -> Ruleset:
        doc = self.doc
        lines = self.src.lines
        self._inputs()
        for name, p in doc.parameters.items():
            if name in doc.inputs:
                self.fail(
                    f"parameter '{name}' has the name of an input",
                    None,
                    lines.locate(("parameters", name)),
                )
            for c in p.citations:
                if c not in doc.citations:
                    self.fail(
                        f"parameter '{name}': unknown citation '{c}'",
                        None,
                        lines.locate(("parameters", name, "citations")),
                    )
            self._plausible(name)
        outputs = self._outputs()
        named: dict[str, Condition] = {}
        for name in doc.conditions:
            cond = self._named(name, (), None, None)
            if cond is not None:
                named[name] = cond
        rules = self._rules(outputs)
        defaults = {n: p.value for n, p in doc.parameters.items()}
        for r in rules:
            for leaf in empty_intervals(r.condition, defaults):
                self.fail(f"empty interval with the parameters' values: {leaf}", r.id, r.line)
        examples = self._table_examples({r.id for r in rules})
        self._policy()
        if self.problems:
            raise RulesetLoadError(self.problems)
        return Ruleset(
            id=doc.id,
            version=doc.version,
            effective_date=doc.effective_date,
            owner=doc.owner,
            reviewer=doc.reviewer,
            description=doc.description,
            hit_policy=doc.hit_policy,
            hit_policy_reason=doc.hit_policy_reason,
            citations=doc.citations,
            inputs=tuple(self.fields.values()),
            parameters={
                n: Parameter(
                    n,
                    p.value,
                    tuple(p.citations),
                    p.unit,
                    p.description,
                    p.label,
                    (p.plausible.min, p.plausible.max) if p.plausible else None,
                    tuple(p.plausible.citations) if p.plausible else (),
                )
                for n, p in doc.parameters.items()
            },
            outputs=outputs,
            named_conditions=named,
            rules=tuple(rules),
            examples=examples,
            source=self.src.path,
            fingerprint=self.src.fingerprint,
            checker=require_clean,
            ordered_inputs=frozenset(n for n, i in doc.inputs.items() if i.ordered),
            lines=self._declaration_lines(),
            extensions=self.extensions,
            runs_for=doc.runs_for,
        )

    def _declaration_lines(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for kind in ("inputs", "outputs", "parameters"):
            for name in getattr(self.doc, kind):
                line = self.src.lines.locate((kind, name))
                if line is not None:
                    out[f"{kind}.{name}"] = line
        return out

    def _plausible(self, name: str) -> None:
        p = self.doc.parameters[name]
        if p.plausible is None:
            return
        line = self.src.lines.locate(("parameters", name, "plausible"))
        low, high = p.plausible.min, p.plausible.max
        if low > high:
            self.fail(f"parameter '{name}': plausible 'min' is above 'max'", None, line)
        elif not low <= p.value <= high:
            self.fail(f"parameter '{name}': its value is outside its plausible range", None, line)
        for c in p.plausible.citations:
            if c not in self.doc.citations:
                self.fail(f"parameter '{name}': plausible: unknown citation '{c}'", None, line)

    def _inputs(self) -> None:
        for i, (name, spec) in enumerate(self.doc.inputs.items()):
            line = self.src.lines.locate(("inputs", name))
            ftype = FieldType(spec.type)
            numeric = ftype in (FieldType.NUMBER, FieldType.INTEGER)
            if ftype is FieldType.ENUM:
                if not spec.values:
                    self.fail(
                        f"input '{name}': an enum needs a non-empty 'values' list", None, line
                    )
                elif len(set(spec.values)) != len(spec.values):
                    self.fail(f"input '{name}': repeated enum value", None, line)
            elif spec.values is not None:
                self.fail(f"input '{name}': 'values' is only for enum inputs", None, line)
            self._labels(f"input '{name}'", spec.values, spec.labels, line)
            if spec.label is None:
                self.fail(
                    f"input '{name}': no 'label': add one under [inputs.{name}], the short "
                    "name people read when it is unknown, instead of the input's name (e.g. "
                    'label = "whether a benzodiazepine is co-prescribed")',
                    None,
                    line,
                )
            if not numeric and (spec.min is not None or spec.max is not None):
                self.fail(f"input '{name}': 'min'/'max' are only for numeric inputs", None, line)
            if spec.min is not None and spec.max is not None and spec.min > spec.max:
                self.fail(f"input '{name}': 'min' is above 'max'", None, line)
            if ftype is FieldType.INTEGER:
                for bound in (spec.min, spec.max):
                    if bound is not None and bound != bound.to_integral_value():
                        self.fail(f"input '{name}': integer bounds must be whole", None, line)
            self.fields[name] = FieldSpec(
                name=name,
                type=ftype,
                index=i,
                unit=spec.unit,
                description=spec.description,
                values=tuple(spec.values or ()),
                minimum=spec.min,
                maximum=spec.max,
                required=spec.required,
                labels=tuple((spec.labels or {}).items()),
                label=spec.label,
            )

    def _labels(
        self,
        what: str,
        values: list[str] | None,
        labels: dict[str, str] | None,
        line: int | None,
    ) -> None:
        """Labels are for enums, name declared values only, and cover every value if given."""
        if labels is None:
            return
        if not values:
            self.fail(f"{what}: 'labels' is only for enums (with 'values')", None, line)
            return
        unknown = sorted(set(labels) - set(values))
        if unknown:
            self.fail(f"{what}: labels for undeclared values: {', '.join(unknown)}", None, line)
        missing = [v for v in values if v not in labels]
        if missing:
            self.fail(f"{what}: no label for value(s): {', '.join(missing)}", None, line)

    def _outputs(self) -> dict[str, OutputSpec]:
        out = {}
        for name, spec in self.doc.outputs.items():
            line = self.src.lines.locate(("outputs", name))
            if spec.type == "enum" and not spec.values:
                self.fail(f"output '{name}': an enum needs a non-empty 'values' list", None, line)
            if spec.type != "enum" and spec.values is not None:
                self.fail(f"output '{name}': 'values' is only for enum outputs", None, line)
            if spec.max_length is not None and spec.type not in ("text", "text_list"):
                self.fail(f"output '{name}': 'max_length' is only for text outputs", None, line)
            self._labels(f"output '{name}'", spec.values, spec.labels, line)
            out[name] = OutputSpec(
                name,
                spec.type,
                tuple(spec.values or ()),
                spec.max_length,
                spec.required,
                spec.description,
                tuple((spec.labels or {}).items()),
                spec.ordered,
            )
            if spec.ordered and spec.type != "enum":
                self.fail(f"output '{name}': 'ordered' is only for enum outputs", None, line)
        return out

    # -- conditions --

    def _named(
        self, name: str, stack: tuple[str, ...], rule_id: str | None, line: int | None
    ) -> Condition | None:
        if name in stack:
            cycle = " -> ".join((*stack[stack.index(name) :], name))
            self.fail(f"cyclic reference between named conditions: {cycle}", rule_id, line)
            return None
        if name not in self.doc.conditions:
            self.fail(f"reference to unknown named condition '{name}'", rule_id, line)
            return None
        if name in self.named_cache:
            return self.named_cache[name]
        cond = self._condition(
            self.doc.conditions[name],
            1 + len(stack),
            (*stack, name),
            rule_id,
            line if stack else self.src.lines.locate(("conditions", name)),
        )
        if cond is not None:
            self.named_cache[name] = cond
        return cond

    def _condition(  # noqa: PLR0911 - one return per shape of condition
        self,
        raw: object,
        depth: int,
        stack: tuple[str, ...],
        rule_id: str | None,
        line: int | None,
    ) -> Condition | None:
        if depth > MAX_CONDITION_DEPTH:
            self.fail(f"condition nested deeper than {MAX_CONDITION_DEPTH} levels", rule_id, line)
            return None
        if isinstance(raw, str):
            return self._leaf(raw, rule_id, line)
        if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in _JUNCTIONS:
            self.fail(
                "a condition is a string or a table with exactly one of all/any/not/ref",
                rule_id,
                line,
            )
            return None
        key, value = next(iter(raw.items()))
        if key == "ref":
            if not isinstance(value, str):
                self.fail("'ref' takes the name of a named condition", rule_id, line)
                return None
            child = self._named(value, stack, rule_id, line)
            return None if child is None else Ref(value, child)
        if key == "not":
            inner = self._condition(value, depth + 1, stack, rule_id, line)
            return None if inner is None else Not(inner)
        if not isinstance(value, list) or not value:
            self.fail(f"'{key}' takes a non-empty list of conditions", rule_id, line)
            return None
        kids = [self._condition(v, depth + 1, stack, rule_id, line) for v in value]
        if any(k is None for k in kids):
            return None
        children = tuple(k for k in kids if k is not None)
        return AllOf(children) if key == "all" else AnyOf(children)

    def _leaf(self, text: str, rule_id: str | None, line: int | None) -> Condition | None:
        try:
            raw = parse_leaf(text)
        except ConditionSyntaxError as exc:
            self.fail(f"condition {text!r}: {exc}", rule_id, line)
            return None
        spec = self.fields.get(raw.field)
        if spec is None:
            self.fail(f"condition {text!r}: undeclared input '{raw.field}'", rule_id, line)
            return None
        try:
            return self._typed(raw, spec)
        except ValueError as exc:
            self.fail(f"condition {text!r}: {exc}", rule_id, line)
            return None

    def _operand(self, op: RawOperand, spec: FieldSpec) -> Operand:
        if op.name is not None:
            if op.name in self.doc.parameters:
                if not spec.numeric:
                    raise ValueError(
                        f"type mismatch: {spec.type} input '{spec.name}' compared with numeric "
                        f"parameter '{op.name}'"
                    )
                return Param(op.name)
            if op.name in self.fields:
                raise ValueError(
                    f"'{op.name}' is an input: compare an input with a literal or a parameter"
                )
            raise ValueError(f"unknown parameter '{op.name}'")
        value = op.value
        if spec.numeric and not isinstance(value, Decimal):
            raise ValueError(f"type mismatch: number input '{spec.name}' compared with {value!r}")
        if spec.type is FieldType.BOOLEAN and not isinstance(value, bool):
            raise ValueError(f"type mismatch: boolean input '{spec.name}' needs true or false")
        if spec.type is FieldType.ENUM:
            if not isinstance(value, str):
                raise ValueError(f"type mismatch: enum input '{spec.name}' needs a quoted value")
            if value not in spec.values:
                raise ValueError(f"'{value}' is not a declared value of input '{spec.name}'")
        assert value is not None  # noqa: S101 - the parser gives a value or a name
        return Const(value)

    def _typed(self, raw: RawLeaf, spec: FieldSpec) -> Condition:
        if raw.kind == "known":
            return Known(raw.field, raw.known)
        operands = tuple(self._operand(o, spec) for o in raw.operands)
        if raw.kind == "compare":
            if not spec.numeric and raw.op not in ("=", "!="):
                raise ValueError(f"'{raw.op}' needs a numeric input; '{spec.name}' is {spec.type}")
            return Compare(raw.field, raw.op, operands[0])
        if raw.kind == "member":
            return Member(raw.field, operands, raw.negated)
        if not spec.numeric:
            raise ValueError(f"'between' needs a numeric input; '{spec.name}' is {spec.type}")
        low, high = operands
        if isinstance(low, Const) and isinstance(high, Const):
            lo, hi = low.value, high.value
            assert isinstance(lo, Decimal)  # noqa: S101 - checked by _operand
            assert isinstance(hi, Decimal)  # noqa: S101 - checked by _operand
            if lo > hi or (lo == hi and not (raw.low_closed and raw.high_closed)):
                raise ValueError("empty interval")
        return Between(raw.field, low, high, raw.low_closed, raw.high_closed)

    # -- rules --

    def _rules(self, outputs: Mapping[str, OutputSpec]) -> list[Rule]:
        rules: list[Rule] = []
        seen: set[str] = set()
        for i, r in enumerate(self.doc.rules):
            line = self.src.lines.rule_line(i)
            if r.id in seen:
                self.fail(f"duplicate rule id '{r.id}'", r.id, line)
            seen.add(r.id)
            for c in r.citations:
                if c not in self.doc.citations:
                    self.fail(
                        f"unknown citation '{c}'", r.id, self.src.lines.rule_line(i, "citations")
                    )
            cond = self._condition(r.when, 1, (), r.id, self.src.lines.rule_line(i, "when"))
            if cond is not None:
                leaves = sum(1 for _ in _leaves(cond))
                if leaves > MAX_LEAVES_PER_RULE:
                    self.fail(
                        f"condition has more than {MAX_LEAVES_PER_RULE} comparisons", r.id, line
                    )
            outcome = self._outcome(
                r.outcome, outputs, r.id, self.src.lines.rule_line(i, "outcome")
            )
            examples = []
            for ex in r.examples:
                given = self._given(ex.given, r.id, self.src.lines.rule_line(i, "examples"))
                examples.append(RuleExample(given, DecisionStatus(ex.expect), ex.description))
            if cond is None:
                continue
            rules.append(
                Rule(
                    id=r.id,
                    stage=r.stage,
                    condition=cond,
                    outcome=outcome,
                    citations=tuple(r.citations),
                    rationale=r.rationale,
                    title=r.title,
                    priority=r.priority,
                    examples=tuple(examples),
                    fields=condition_fields(cond),
                    params=condition_params(cond),
                    line=self.at(line)[1],
                    safety_critical=r.safety_critical,
                    source=self.at(line)[0] if self.segments else None,
                )
            )
        return rules

    def _outcome(
        self,
        raw: Mapping[str, object],
        outputs: Mapping[str, OutputSpec],
        rule_id: str,
        line: int | None,
    ) -> tuple[tuple[str, OutcomeValue], ...]:
        out: list[tuple[str, OutcomeValue]] = []
        for key, value in raw.items():
            spec = outputs.get(key)
            if spec is None:
                self.fail(f"outcome '{key}' is not a declared output", rule_id, line)
                continue
            converted = _output_value(spec, value)
            if converted is None:
                self.fail(f"outcome '{key}': not a valid {spec.type}", rule_id, line)
                continue
            out.append((key, converted))
        for name, spec in outputs.items():
            if spec.required and name not in raw:
                self.fail(f"outcome misses required output '{name}'", rule_id, line)
        return tuple(out)

    def _given(
        self, given: Mapping[str, object], rule_id: str | None, line: int | None
    ) -> tuple[tuple[str, Scalar | None], ...]:
        out: list[tuple[str, Scalar | None]] = []
        for name, raw_value in given.items():
            value = raw_value
            spec = self.fields.get(name)
            if spec is None:
                self.fail(f"example gives undeclared input '{name}'", rule_id, line)
                continue
            if spec.numeric and isinstance(value, int) and not isinstance(value, bool):
                value = Decimal(value)
            elif spec.numeric and isinstance(value, str):
                try:
                    value = Decimal(value)
                except ArithmeticError:
                    self.fail(f"example input '{name}' is not a decimal number", rule_id, line)
                    continue
            ok = value is None or (
                (spec.numeric and isinstance(value, Decimal) and value.is_finite())
                or (spec.type is FieldType.BOOLEAN and isinstance(value, bool))
                or (spec.type is FieldType.ENUM and value in spec.values)
            )
            if not ok:
                self.fail(f"example input '{name}' does not match its declared type", rule_id, line)
                continue
            out.append((name, value))  # type: ignore[arg-type]  # checked just above
        return tuple(out)

    def _table_examples(self, rule_ids: set[str]) -> tuple[TableExample, ...]:
        out = []
        for i, ex in enumerate(self.doc.examples):
            line = self.src.lines.locate(("examples", i))
            for rid in ex.expect_fired:
                if rid not in rule_ids:
                    self.fail(f"example {i + 1} expects unknown rule '{rid}'", None, line)
            given = self._given(ex.given, None, line)
            out.append(
                TableExample(given, tuple(ex.expect_fired), ex.expect_complete, ex.description)
            )
        return tuple(out)

    def _policy(self) -> None:
        doc = self.doc
        top = self.src.lines.locate(("hit_policy",))
        if doc.hit_policy is HitPolicy.FIRST and not doc.hit_policy_reason:
            self.fail("hit policy 'first' needs a stated 'hit_policy_reason'", None, top)
        priorities: dict[int, str] = {}
        for i, r in enumerate(doc.rules):
            line = self.src.lines.rule_line(i, "priority")
            if doc.hit_policy is HitPolicy.PRIORITY:
                if r.priority is None:
                    self.fail("hit policy 'priority' needs a 'priority' on every rule", r.id, line)
                elif r.priority in priorities:
                    self.fail(
                        f"priority {r.priority} also used by rule '{priorities[r.priority]}'",
                        r.id,
                        line,
                    )
                else:
                    priorities[r.priority] = r.id
            elif r.priority is not None:
                self.fail("'priority' is only for hit policy 'priority'", r.id, line)


def _leaves(node: Condition) -> list[Condition]:
    if isinstance(node, AllOf | AnyOf):
        return [leaf for c in node.children for leaf in _leaves(c)]
    if isinstance(node, Not | Ref):
        return _leaves(node.child)
    return [node]


def _output_value(spec: OutputSpec, value: object) -> OutcomeValue | None:  # noqa: PLR0911
    if spec.type == "boolean":
        return value if isinstance(value, bool) else None
    if spec.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | str):
            return None
        try:
            number = Decimal(value)
        except ArithmeticError:
            return None
        return number if number.is_finite() else None
    if spec.type == "text_list":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            return None
        if spec.max_length is not None and any(len(v) > spec.max_length for v in value):
            return None
        return tuple(value)
    if not isinstance(value, str) or not value.strip():
        return None
    if spec.type == "enum" and value not in spec.values:
        return None
    if spec.max_length is not None and len(value) > spec.max_length:
        return None
    return value


# --- profiles -----------------------------------------------------------------------------------


def load_profile(path: str | Path) -> Profile:
    """Load and validate a profile file (``kind = "profile"``).

    References to the rulesets' own parameters and rules are checked when the profile is
    applied (:meth:`Ruleset.bind`) and by ``opioidcds rules check``.

    Raises:
        RulesetLoadError: malformed file, unknown keys, missing reasons or citations.

    """
    src = _read(Path(path))
    if src.data.get("kind") != "profile":
        raise _problem(src.path, "'kind' must be \"profile\"", None, src.lines.locate(("kind",)))
    try:
        doc = ProfileDoc.model_validate(src.data)
    except ValidationError as exc:
        raise _schema_problems(src, exc) from None
    problems: list[LoadProblem] = []
    sections: dict[str, ProfileSection] = {}
    for rsid, sec in doc.rulesets.items():
        problems.extend(
            LoadProblem(
                src.path,
                f"ruleset '{rsid}' parameter '{pname}': unknown citation '{c}'",
                None,
                src.lines.locate(("rulesets", rsid, "parameters", pname)),
            )
            for pname, override in sec.parameters.items()
            for c in override.citations
            if c not in doc.citations
        )
        disabled = [d.rule for d in sec.disable]
        if len(set(disabled)) != len(disabled):
            problems.append(
                LoadProblem(src.path, f"ruleset '{rsid}': a rule is disabled twice", None, None)
            )
        header = rf"^\s*\[\[?\s*rulesets\.\"?{re.escape(rsid)}\"?\.%s"
        sections[rsid] = ProfileSection(
            ruleset_id=rsid,
            ruleset_version=sec.ruleset_version,
            parameters={
                n: ParameterOverride(
                    o.value,
                    tuple(o.citations),
                    o.reason,
                    src.lines.first(header % rf"parameters\.{re.escape(n)}\s*\]"),
                )
                for n, o in sec.parameters.items()
            },
            disable=tuple(
                DisabledRule(
                    d.rule, d.reason, src.lines.first(rf'^\s*rule\s*=\s*"{re.escape(d.rule)}"')
                )
                for d in sec.disable
            ),
        )
    examples = []
    for i, ex in enumerate(doc.examples):
        line = src.lines.example_starts[i] + 1 if i < len(src.lines.example_starts) else None
        if ex.ruleset not in doc.rulesets:
            problems.append(
                LoadProblem(
                    src.path,
                    f"example {i + 1}: names ruleset '{ex.ruleset}', which the "
                    "profile does not change (an example shows what the profile changes)",
                    None,
                    line,
                )
            )
        if ex.expect_fired is None and ex.expect_outcome is None and ex.expect_status is None:
            problems.append(
                LoadProblem(
                    src.path,
                    f"example {i + 1}: give 'expect_fired', 'expect_outcome' or 'expect_status'",
                    None,
                    line,
                )
            )
        examples.append(
            ProfileExample(
                ex.ruleset,
                tuple(ex.given.items()),
                tuple(ex.expect_fired) if ex.expect_fired is not None else None,
                tuple(ex.expect_outcome.items()) if ex.expect_outcome is not None else None,
                ex.description,
                line,
                tuple(ex.expect_status.items()) if ex.expect_status is not None else None,
            )
        )
    if problems:
        raise RulesetLoadError(problems)
    return Profile(
        id=doc.id,
        version=doc.version,
        effective_date=doc.effective_date,
        owner=doc.owner,
        reviewer=doc.reviewer,
        description=doc.description,
        citations=MappingProxyType(dict(doc.citations)),
        sections=freeze_sections(sections),
        source=src.path,
        fingerprint=src.fingerprint,
        examples=tuple(examples),
    )


# --- checking a folder ----------------------------------------------------------------------


def lint_path(path: str | Path) -> LintReport:
    """Lint every ``*.toml`` knowledge file under ``path`` (a file or a folder).

    Rulesets are linted as written; each profile is applied to the rulesets it names (which
    must be found under the same path) and the result linted again.
    """
    root = Path(path)
    files = [root] if root.is_file() else sorted(root.rglob("*.toml"))
    findings: list[Finding] = []
    rulesets: dict[str, Ruleset] = {}
    profiles = []
    extending: dict[str, list[Path]] = {}
    for file in files:
        try:
            kind, data = read_knowledge_file(file)
            if kind == "extension":
                extending.setdefault(str(data.get("extends")), []).append(file)
                continue
            if kind == "ruleset":
                rs = load_ruleset(file, check=False)
                if rs.id in rulesets:
                    findings.append(
                        Finding(
                            Severity.ERROR,
                            "duplicate",
                            f"ruleset id '{rs.id}' also in {rulesets[rs.id].source}",
                            str(file),
                        )
                    )
                    continue
                rulesets[rs.id] = rs
                findings.extend(lint_bound(rs.bind(None)).findings)
            else:
                profiles.append(load_profile(file))
        except RulesetLoadError as exc:
            findings.extend(
                Finding(Severity.ERROR, "load", p.message, p.file, p.rule_id, p.line)
                for p in exc.problems
            )
    for target, ext_files in sorted(extending.items()):
        findings.extend(_lint_extensions(target, ext_files, rulesets))
    findings.extend(
        unsupplied_findings(rulesets, bundled_supplied_inputs(), _family_rules(rulesets))
    )
    findings.extend(_fact_problems(rulesets))
    # a local profile may name bundled rulesets: those checked here (merged) come first
    in_force = {**_bundled_rulesets(), **rulesets} if profiles else rulesets
    for profile in profiles:
        findings.extend(_lint_profile(profile, in_force))
    return LintReport(tuple(findings), tuple(str(f) for f in files))


@cache
def _bundled_rulesets() -> Mapping[str, Ruleset]:
    return MappingProxyType(load_rulesets(knowledge_dir("rules")))


def _lint_extensions(target: str, files: list[Path], rulesets: dict[str, Ruleset]) -> list[Finding]:
    """Lint the extensions of ruleset ``target`` merged into it (checked here, else bundled).

    Only what the extensions bring is reported (the ruleset's own findings are its own);
    ``rulesets[target]`` becomes the merged ruleset for the checks that follow.
    """
    base = rulesets.get(target) or _bundled_rulesets().get(target)
    if base is None:
        return [
            Finding(
                Severity.ERROR,
                "extension",
                f"extends ruleset '{target}', which is neither checked here nor bundled",
                str(files[0]),
            )
        ]
    try:
        merged = extend_ruleset(base, files, check=False)
    except RulesetLoadError as exc:
        return [
            Finding(Severity.ERROR, "load", p.message, p.file, p.rule_id, p.line)
            for p in exc.problems
        ]
    own = {str(f) for f in lint_bound(base.bind(None)).findings}
    rulesets[target] = merged
    return [f for f in lint_bound(merged.bind(None)).findings if str(f) not in own]


def _lint_profile(profile: Profile, rulesets: Mapping[str, Ruleset]) -> list[Finding]:
    """A profile against the checked rulesets: names, pins, thresholds, disables, examples."""
    findings = profile_findings(profile, rulesets)
    implausible = {
        rid
        for rid, section in profile.sections.items()
        if rid in rulesets
        and any(
            n in rulesets[rid].parameters and rulesets[rid].implausible(n, o.value)
            for n, o in section.parameters.items()
        )
    }
    bound: dict[str, BoundRuleset] = {}
    for rsid in profile.sections:
        target = rulesets.get(rsid)
        if target is None:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "profile",
                    f"profile '{profile.id}' names ruleset '{rsid}', "
                    "which is not under the checked path",
                    profile.source,
                )
            )
            continue
        if rsid in implausible:  # reported with its line above; not applied
            continue
        try:
            bound[rsid] = target.bind(profile, check=False)
        except ProfileError as exc:
            findings.append(Finding(Severity.ERROR, "profile", str(exc), profile.source))
            continue
        findings.extend(
            Finding(
                f.severity,
                f.code,
                f"{f.message} (with profile '{profile.id}')",
                profile.source,
                f.rule_id,
                None,
                f.counterexample,
            )
            for f in lint_bound(bound[rsid]).findings
        )
    for b in bound.values():  # wording the profile's values contradict (issue 23)
        findings.extend(
            advice_findings(b, Severity.ERROR, f" (with profile '{profile.id}' {profile.version})")
        )
    if len(bound) == len(profile.sections):
        findings.extend(profile_example_findings(profile, bound))
    return findings
