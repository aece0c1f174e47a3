"""Mapping files: loading and validating them, and evaluating them against a record.

A mapping file (see ``transform/README.md``) names the output stream and its key, and holds
``variables`` (named expressions), a ``filter`` (which records qualify), ``reject`` rules
(records that cannot be written, with the reason) and ``fields`` (the output record).

One module (over 400 lines): for now; loading, the static checks against the input schema and
the evaluation all walk the same compiled mapping; the record helpers and the path analysis
could move out.
"""

from __future__ import annotations

import ast
import difflib
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from simpleeval import (
    DEFAULT_OPERATORS,
    AttributeDoesNotExist,
    EvalWithCompoundTypes,
    InvalidExpression,
)
from singer_sdk.exceptions import ConfigValidationError

from mapper_intercom_salesforce.functions import (
    date,
    datetime,
    to_int,
    to_number,
)
from mapper_intercom_salesforce.text import truncate

README_HINT = "see transform/README.md, 'Mapping files'"

FIELD_TYPES: dict[str, dict[str, t.Any]] = {
    "string": {"type": ["string", "null"]},
    "integer": {"type": ["integer", "null"]},
    "number": {"type": ["number", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "date": {"type": ["string", "null"], "format": "date"},
    "datetime": {"type": ["string", "null"], "format": "date-time"},
    "object": {"type": ["object", "null"]},
}
_SOURCE_KEYS = ("value", "path", "expr")
_FIELD_KEYS = frozenset(
    {*_SOURCE_KEYS, "default", "type", "max_length", "omit_if_null", "properties", "description"}
)
_TOP_KEYS = frozenset({"stream", "key", "description", "variables", "filter", "reject", "fields"})
_COMPARISONS = ("equals", "in", "present")
_FILTER_KINDS = ("everyone", "tag", "custom_attribute", "path", "role", "expr", "any", "all", "not")


class MappingError(ConfigValidationError):
    """A mapping file that cannot be used; ``errors`` lists every problem found."""


class Obj:
    """Read-only view of a JSON object for expressions: ``contact.custom_attributes.x``.

    A key that is absent reads as None, so expressions need no guards for optional
    Intercom fields. Keys that are not identifiers can be read with ``obj["key"]``.
    """

    __slots__ = ("_data",)

    def __init__(self, data: t.Mapping[str, t.Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> t.Any:
        return wrap(self._data.get(name))

    def __getitem__(self, name: str) -> t.Any:
        return wrap(self._data.get(name))

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __iter__(self) -> t.Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        return unwrap(self) == unwrap(other)

    def __hash__(self) -> int:
        return id(self._data)

    def __repr__(self) -> str:
        return f"Obj({self._data!r})"


def wrap(value: t.Any) -> t.Any:
    """Wrap mappings (also inside lists) as ``Obj`` for attribute access."""
    if isinstance(value, dict):
        return Obj(value)
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return [wrap(item) for item in value]
    return value


def unwrap(value: t.Any) -> t.Any:
    """Turn ``Obj`` values (also nested) back into plain JSON values."""
    if isinstance(value, Obj):
        return {key: unwrap(item) for key, item in value._data.items()}
    if isinstance(value, dict):
        return {key: unwrap(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [unwrap(item) for item in value]
    return value


def get_path(record: t.Mapping[str, t.Any] | None, path: str) -> t.Any:
    """Follow a dotted path (``custom_attributes.job_title``, ``companies.data.0.id``)."""
    current: t.Any = record
    for part in path.split("."):
        if isinstance(current, Obj):
            current = current._data
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else None
        else:
            return None
        if current is None:
            return None
    return current


def get_value(obj: t.Any, path: str, default: t.Any = None) -> t.Any:
    """Expression function ``get(obj, "a.b.0.c", default)``: a deep lookup that never fails."""
    value = get_path(unwrap(obj) if isinstance(obj, Obj) else obj, str(path))
    return default if value is None else wrap(value)


def tag_names(record: t.Mapping[str, t.Any]) -> list[str]:
    """Return the tag names of a contact (``tags.data``) or a conversation (``tags.tags``)."""
    tags = record.get("tags")
    if isinstance(tags, dict):
        items = tags.get("data") if "data" in tags else tags.get("tags")
    else:
        items = tags
    return [str(i["name"]) for i in items or () if isinstance(i, dict) and i.get("name")]


class RecordRejected(Exception):
    """A record that cannot be written (``kind`` 'rejected') or did not qualify ('filtered').

    ``mapping_error`` is true when the mapping itself failed for the record (an expression
    raised, or its value does not fit the field's type): a configuration error, not bad data.
    """

    def __init__(self, reason: str, kind: str = "rejected", *, mapping_error: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.mapping_error = mapping_error


# One step of an attribute path: the key (or list index) and how it is written.
_Step = tuple[str | int, str]


@dataclass
class _PathUse:
    """An attribute path a mapping reads: ``contact.location.city`` in a field or a filter."""

    where: str
    root: str
    steps: list[_Step]
    source: str

    def shown(self, count: int) -> str:
        return self.root + "".join(written for _, written in self.steps[:count])


@dataclass
class _Expr:
    text: str
    node: ast.AST
    where: str
    chains: list[tuple[str, list[_Step]]] = field(default_factory=list)


@dataclass
class FieldSpec:
    """One output field of a mapping file."""

    name: str
    kind: str  # "value", "path" or "expr"
    source: t.Any
    default: t.Any = None
    type: str = "string"
    max_length: int | None = None
    omit_if_null: bool = False
    properties: dict[str, str] = field(default_factory=dict)

    def json_schema(self) -> dict[str, t.Any]:
        """Return this field's JSON Schema."""
        schema = dict(FIELD_TYPES[self.type])
        if self.max_length and self.type == "string":
            schema["maxLength"] = self.max_length
        if self.properties:
            schema["properties"] = {
                name: dict(FIELD_TYPES[kind]) for name, kind in self.properties.items()
            }
        return schema


@dataclass
class _Filter:
    kind: str
    arg: t.Any = None
    comparison: str | None = None
    expected: t.Any = None
    children: list[_Filter] = field(default_factory=list)


class _Problems:
    """Collects the problems of one mapping file so they can all be reported at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, where: str, problem: str) -> None:
        self.items.append(f"{self.path}: {where}: {problem}")


def _bound_names(node: ast.AST) -> set[str]:
    bound: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.comprehension):
            for target in ast.walk(sub.target):
                if isinstance(target, ast.Name):
                    bound.add(target.id)
    return bound


def _names_used(node: ast.AST) -> set[str]:
    """Names an expression reads, leaving out those its comprehensions bind."""
    bound = _bound_names(node)
    return {
        sub.id
        for sub in ast.walk(node)
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in bound
    }


def _chain(node: ast.AST) -> tuple[str, list[_Step]] | None:
    """Return the root name and steps of ``a.b["c"][0]``, or None for anything else.

    A step computed at run time (``a[key]``) ends what can be known: only the steps before
    it are returned.
    """
    steps: list[_Step] = []
    current = node
    while isinstance(current, (ast.Attribute, ast.Subscript)):
        if isinstance(current, ast.Attribute):
            steps.append((current.attr, f".{current.attr}"))
        else:
            key = current.slice
            if (
                isinstance(key, ast.Constant)
                and isinstance(key.value, (str, int))
                and not isinstance(key.value, bool)
            ):
                steps.append((key.value, f"[{key.value!r}]"))
            else:
                steps = []
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    return current.id, steps[::-1]


def _field_options(
    spec: dict[str, t.Any], where: str, problems: _Problems
) -> tuple[str, int | None, dict[str, str]] | None:
    """A field's type, max_length and properties, or None (reported) when one is not valid."""
    type_name = spec.get("type", "string")
    if type_name not in FIELD_TYPES:
        problems.add(where, f"type {type_name!r} is not one of {', '.join(FIELD_TYPES)}")
        return None
    max_length = spec.get("max_length")
    if max_length is not None and (
        not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1
    ):
        problems.add(where, "'max_length' must be a positive whole number")
        return None
    properties = spec.get("properties") or {}
    if not isinstance(properties, dict) or any(
        kind not in FIELD_TYPES for kind in properties.values()
    ):
        problems.add(where, f"'properties' maps names to one of {', '.join(FIELD_TYPES)}")
        return None
    return type_name, max_length, dict(properties)


def _output_values(raw: list[t.Any], spec: FieldSpec) -> list[t.Any]:
    """The distinct values ``spec`` writes for ``raw``; none when one cannot be coerced."""
    values: list[t.Any] = []
    try:
        for value in raw:
            if value is None or (isinstance(value, str) and not value.strip()):
                value = spec.default
            value = _coerce(value, spec)
            if value is None and spec.omit_if_null:
                continue
            if value not in values:
                values.append(value)
    except (ValueError, TypeError):
        return []
    return values


def _path_steps(path: str) -> list[_Step]:
    return [(int(p) if p.lstrip("-").isdigit() else p, f".{p}") for p in path.split(".")]


def _attribute_chains(node: ast.AST) -> list[tuple[str, list[_Step]]]:
    """Every attribute path an expression reads: ``contact.location.city``, ``get(x, "a.b")``."""
    inner = {
        id(sub.value) for sub in ast.walk(node) if isinstance(sub, (ast.Attribute, ast.Subscript))
    }
    bound = _bound_names(node)
    chains: list[tuple[str, list[_Step]]] = []
    for sub in ast.walk(node):
        found = None
        if isinstance(sub, (ast.Attribute, ast.Subscript)) and id(sub) not in inner:
            found = _chain(sub)
        elif (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Name)
            and sub.func.id == "get"
            and len(sub.args) >= 2
            and isinstance(sub.args[1], ast.Constant)
            and isinstance(sub.args[1].value, str)
        ):
            base = _chain(sub.args[0])
            if base is not None:
                found = (base[0], base[1] + _path_steps(sub.args[1].value))
        if found is not None and found[1] and found[0] not in bound:
            chains.append(found)
    return chains


def _resolve(schema: t.Any, steps: list[_Step], start: int = 0) -> tuple[int, list[str]] | None:
    """Follow ``steps`` through a JSON Schema.

    Returns:
        None when the path can exist, else the index of the first step the schema does not
        have and the keys valid at that place.
    """
    node = schema
    for index in range(start, len(steps)):
        key = steps[index][0]
        if not isinstance(node, dict):
            return None
        branches = node.get("anyOf") or node.get("oneOf")
        if isinstance(branches, list) and "properties" not in node and "items" not in node:
            results = [_resolve(b, steps, index) for b in branches if isinstance(b, dict)]
            if not results or any(result is None for result in results):
                return None
            deepest = max(result[0] for result in results if result)
            valid = {k for r in results if r and r[0] == deepest for k in r[1]}
            return deepest, sorted(valid)
        types = node.get("type")
        types = [types] if isinstance(types, str) else list(types or ())
        if "object" in types or "properties" in node:
            properties = node.get("properties")
            if not properties or node.get("patternProperties"):
                return None  # a free-form object (custom_attributes) takes any key
            if str(key) in properties:
                node = properties[str(key)]
                continue
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                # A map whose values have a schema: any key, values as described.
                if not extra:
                    return None
                node = extra
                continue
            # ``additionalProperties: true`` beside declared properties is the Singer SDK's
            # default on every object, so it cannot mean "any key is expected here".
            return index, sorted(properties)
        if ("array" in types or "items" in node) and isinstance(key, int):
            node = node.get("items") if isinstance(node.get("items"), dict) else {}
            continue
        return None  # a scalar or an untyped value: methods and the like are not checked
    return None


class Mapping:
    """A loaded and validated mapping file, ready to turn input records into output records."""

    def __init__(
        self,
        path: Path,
        *,
        record_name: str,
        context_names: t.Iterable[str],
        functions: dict[str, t.Callable[..., t.Any]],
        settings: t.Mapping[str, t.Any] | None = None,
        settings_schema: dict[str, t.Any] | None = None,
    ) -> None:
        """Load and validate a mapping file.

        Args:
            path: The YAML file.
            record_name: The name expressions use for the input record (``contact``).
            context_names: The other names the mapper provides to expressions.
            functions: The functions expressions may call.
            settings: The mapper's settings (``settings.*``): fields computed from them alone
                are constants, listed as ``enum`` in the output schema.
            settings_schema: The JSON Schema of ``settings``; paths into it are checked here.

        Raises:
            MappingError: When the file is missing, not YAML, or has any invalid entry.
        """
        self.path = path
        self.record_name = record_name
        self._path_uses: list[_PathUse] = []
        self.functions = {**functions, "get": get_value}
        self._evaluator = EvalWithCompoundTypes(
            operators=_operators(), functions=dict(self.functions), names={}
        )
        self._known = {record_name, "record", *context_names, *self._evaluator.functions}
        problems = _Problems(path)
        document = self._read(path)
        self.document = document
        unknown = sorted(set(document) - _TOP_KEYS)
        if unknown:
            problems.add(
                "top level",
                f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_TOP_KEYS))}",
            )
        self.stream = self._required_text(document, "stream", problems)
        self.key = self._required_text(document, "key", problems)
        self.variables = self._load_variables(document.get("variables"), problems)
        self.filter = (
            None
            if document.get("filter") is None
            else self._load_filter(document["filter"], "filter", problems)
        )
        self.rejects = self._load_rejects(document.get("reject"), problems)
        self.fields = self._load_fields(document.get("fields"), problems)
        if self.key and self.fields and self.key not in self.fields:
            problems.add("key", f"the key field {self.key!r} is not among the fields")
        if settings_schema is not None:
            for line in self.path_problems({"settings": settings_schema}, "mapper's settings"):
                problems.items.append(line)
        if problems.items:
            count = len(problems.items)
            msg = (
                f"Mapping file {path} has {count} problem(s); fix them and run again "
                f"({README_HINT})."
            )
            raise MappingError(msg, errors=[msg, *problems.items])
        self.uses_now = any("now" in _names_used(expr.node) for expr in self._expressions())
        self.constants = self._constants(settings) if settings is not None else {}

    # Loading -----------------------------------------------------------------------------

    @staticmethod
    def _read(path: Path) -> dict[str, t.Any]:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            msg = (
                f"Mapping file {path} cannot be read ({exc.strerror or exc}); "
                "check the lead_mapping/task_mapping/mappings_dir settings."
            )
            raise MappingError(msg, errors=[msg]) from exc
        try:
            document = _safe_load(text)
        except yaml.YAMLError as exc:
            msg = f"Mapping file {path} is not valid YAML: {exc}; fix the syntax and run again."
            raise MappingError(msg, errors=[msg]) from exc
        if not isinstance(document, dict):
            msg = (
                f"Mapping file {path} must hold a YAML mapping with 'stream', 'key' and "
                f"'fields' ({README_HINT})."
            )
            raise MappingError(msg, errors=[msg])
        return document

    @staticmethod
    def _required_text(document: dict[str, t.Any], key: str, problems: _Problems) -> str:
        value = document.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.add(key, f"'{key}' is required and must be a name such as 'Lead'")
            return ""
        return value.strip()

    def _compile(
        self, text: t.Any, where: str, problems: _Problems, extra_names: t.Iterable[str] = ()
    ) -> _Expr | None:
        if not isinstance(text, str) or not text.strip():
            problems.add(where, "the expression must be a non-empty string")
            return None
        try:
            node = self._evaluator.parse(text)
        except SyntaxError as exc:
            problems.add(
                where, f"expression {text!r} is not valid: {exc.msg} (column {exc.offset})"
            )
            return None
        for sub in ast.walk(node):
            if isinstance(sub, (ast.operator, ast.cmpop, ast.boolop, ast.unaryop)):
                if type(sub) not in self._evaluator.operators and not isinstance(
                    sub, (ast.And, ast.Or)
                ):
                    problems.add(
                        where,
                        f"expression {text!r} uses the operator {type(sub).__name__}, "
                        "which mapping expressions do not support",
                    )
                    return None
            elif isinstance(sub, ast.expr) and not isinstance(
                sub, (ast.Starred, *self._evaluator.nodes)
            ):
                problems.add(
                    where,
                    f"expression {text!r} uses {type(sub).__name__}, which mapping "
                    "expressions do not support",
                )
                return None
            elif isinstance(sub, ast.Attribute) and sub.attr.startswith("_"):
                problems.add(where, f"expression {text!r} reads a private attribute")
                return None
        unknown = sorted(_names_used(node) - self._known - set(extra_names))
        if unknown:
            names = (self._known | set(extra_names)) - set(self._evaluator.functions)
            known = ", ".join(sorted(names))
            problems.add(
                where,
                f"expression {text!r} uses unknown name(s) {', '.join(unknown)}; "
                f"names available here: {known}; functions: {', '.join(sorted(self.functions))}",
            )
            return None
        chains = _attribute_chains(node)
        for root, steps in chains:
            self._path_uses.append(_PathUse(where, root, steps, text))
        return _Expr(text=text, node=node, where=where, chains=chains)

    def _load_variables(self, raw: t.Any, problems: _Problems) -> list[tuple[str, _Expr]]:
        if raw is None:
            return []
        if not isinstance(raw, dict):
            problems.add("variables", "must be a mapping of name: expression")
            return []
        variables: list[tuple[str, _Expr]] = []
        for name, text in raw.items():
            where = f"variable {name!r}"
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
                problems.add(where, "a variable name must be an identifier such as 'email'")
                continue
            if name in self._evaluator.functions:
                problems.add(where, f"{name!r} is a function name; choose another name")
                continue
            if name in (self.record_name, "record", "settings"):
                problems.add(where, f"{name!r} is provided by the mapper; choose another name")
                continue
            # A variable sees the ones defined above it, not those below: evaluation is in order.
            expr = self._compile(text, where, problems)
            if expr is not None:
                variables.append((name, expr))
            self._known.add(name)
        return variables

    def _load_filter(self, raw: t.Any, where: str, problems: _Problems) -> _Filter:
        kind = self._filter_kind(raw, where, problems)
        if kind is None:
            return _Filter("everyone")
        arg = raw[kind]
        if kind in ("any", "all"):
            if not isinstance(arg, list) or not arg:
                problems.add(where, f"'{kind}' takes a non-empty list of filters")
                return _Filter("everyone")
            children = [
                self._load_filter(item, f"{where}.{kind}[{index}]", problems)
                for index, item in enumerate(arg)
            ]
            return _Filter(kind, children=children)
        if kind == "not":
            return _Filter(kind, children=[self._load_filter(arg, f"{where}.not", problems)])
        if kind == "everyone":
            if arg is not True:
                problems.add(where, "write 'everyone: true' to let every record qualify")
            return _Filter(kind)
        if kind == "expr":
            expr = self._compile(arg, f"{where}.expr", problems)
            return _Filter(kind, arg=expr)
        if kind == "tag":
            names = arg if isinstance(arg, list) else [arg]
            if not names or not all(isinstance(n, str) and n.strip() for n in names):
                problems.add(where, "'tag' takes a tag name or a list of tag names")
            return _Filter(kind, arg={str(n).strip().lower() for n in names})
        return self._load_named_filter(kind, raw, where, problems)

    @staticmethod
    def _filter_kind(raw: t.Any, where: str, problems: _Problems) -> str | None:
        """The one filter kind ``raw`` names, or None (reported) when it names none or several."""
        if not isinstance(raw, dict):
            problems.add(
                where, f"a filter must be a mapping with one of {', '.join(_FILTER_KINDS)}"
            )
            return None
        kinds = [key for key in raw if key in _FILTER_KINDS]
        if len(kinds) != 1:
            problems.add(
                where,
                f"a filter needs exactly one of {', '.join(_FILTER_KINDS)}; found "
                f"{', '.join(map(str, raw)) or 'nothing'}",
            )
            return None
        kind = kinds[0]
        extra = sorted(set(raw) - {kind, *_COMPARISONS})
        if extra:
            problems.add(where, f"unknown key(s) {', '.join(map(str, extra))} in a '{kind}' filter")
        return kind

    def _load_named_filter(
        self, kind: str, raw: dict[str, t.Any], where: str, problems: _Problems
    ) -> _Filter:
        """A filter on one named value (role, path, attribute), with its comparison."""
        arg = raw[kind]
        if not isinstance(arg, str) or not arg.strip():
            problems.add(where, f"'{kind}' takes a name, e.g. '{kind}: qualification'")
            return _Filter("everyone")
        comparisons = [key for key in _COMPARISONS if key in raw]
        if len(comparisons) > 1:
            problems.add(where, f"use only one of {', '.join(_COMPARISONS)}")
        if kind == "role":
            return _Filter(kind, comparison="equals", expected=arg.strip())
        comparison = comparisons[0] if comparisons else "present"
        expected = raw.get(comparison, True)
        steps: list[_Step] = (
            _path_steps(arg.strip())
            if kind == "path"
            else [("custom_attributes", ".custom_attributes"), (arg.strip(), f".{arg.strip()}")]
        )
        self._path_uses.append(_PathUse(where, self.record_name, steps, f"{kind}: {arg.strip()}"))
        if comparison == "in" and not isinstance(expected, list):
            problems.add(where, "'in' takes a list of values")
        if comparison == "present" and not isinstance(expected, bool):
            problems.add(where, "'present' takes true or false")
        return _Filter(kind, arg=arg.strip(), comparison=comparison, expected=expected)

    def _load_rejects(self, raw: t.Any, problems: _Problems) -> list[tuple[_Expr, str]]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            problems.add("reject", "must be a list of {when: expression, reason: text}")
            return []
        rules: list[tuple[_Expr, str]] = []
        for index, rule in enumerate(raw):
            where = f"reject[{index}]"
            if not isinstance(rule, dict) or set(rule) != {"when", "reason"}:
                problems.add(where, "a rule needs exactly 'when' (expression) and 'reason' (text)")
                continue
            if not isinstance(rule["reason"], str) or not rule["reason"].strip():
                problems.add(where, "'reason' must be a sentence saying why the record is rejected")
                continue
            expr = self._compile(rule["when"], f"{where}.when", problems)
            if expr is not None:
                rules.append((expr, rule["reason"].strip()))
        return rules

    def _load_fields(self, raw: t.Any, problems: _Problems) -> dict[str, FieldSpec]:
        if not isinstance(raw, dict) or not raw:
            problems.add("fields", "'fields' is required: a mapping of output field: definition")
            return {}
        fields: dict[str, FieldSpec] = {}
        for name, spec in raw.items():
            loaded = self._load_field(name, spec, problems)
            if loaded is not None:
                fields[name] = loaded
        return fields

    def _load_field(self, name: t.Any, spec: t.Any, problems: _Problems) -> FieldSpec | None:
        """One output field's definition, or None (reported) when it is not valid."""
        where = f"field {name!r}"
        if not isinstance(name, str) or not name.strip():
            problems.add(where, "field names must be non-empty text")
            return None
        if not isinstance(spec, dict):
            # Shorthand: a bare scalar is a constant.
            if isinstance(spec, (list, tuple)):
                problems.add(where, "a field is a constant or a mapping with value/path/expr")
                return None
            return FieldSpec(name=name, kind="value", source=spec)
        unknown = sorted(set(spec) - _FIELD_KEYS)
        if unknown:
            problems.add(
                where,
                f"unknown key(s) {', '.join(map(str, unknown))}; allowed: "
                f"{', '.join(sorted(_FIELD_KEYS))}",
            )
        sources = [key for key in _SOURCE_KEYS if key in spec]
        if len(sources) != 1:
            problems.add(where, "give exactly one of 'value', 'path' or 'expr'")
            return None
        kind = sources[0]
        source = spec[kind]
        if kind == "path" and (not isinstance(source, str) or not source.strip()):
            problems.add(where, "'path' must be a dotted path such as custom_attributes.job")
            return None
        if kind == "path":
            self._path_uses.append(
                _PathUse(where, self.record_name, _path_steps(source.strip()), source.strip())
            )
        if kind == "expr":
            source = self._compile(source, where, problems)
            if source is None:
                return None
        options = _field_options(spec, where, problems)
        if options is None:
            return None
        type_name, max_length, properties = options
        return FieldSpec(
            name=name,
            kind=kind,
            source=source.strip() if kind == "path" else source,
            default=spec.get("default"),
            type=type_name,
            max_length=max_length,
            omit_if_null=bool(spec.get("omit_if_null", False)),
            properties=properties,
        )

    def _expressions(self) -> t.Iterator[_Expr]:
        yield from (expr for _, expr in self.variables)
        yield from (expr for expr, _ in self.rejects)
        yield from (spec.source for spec in self.fields.values() if spec.kind == "expr")
        stack = [self.filter] if self.filter else []
        while stack:
            node = stack.pop()
            if node.kind == "expr" and node.arg is not None:
                yield node.arg
            stack.extend(node.children)

    # Output schema -------------------------------------------------------------------------

    def json_schema(self) -> dict[str, t.Any]:
        """Return the JSON Schema of the output stream.

        A field whose value is the same for every record (a constant, or computed from
        ``settings`` only) has ``enum: [value]``, so a target can check it before any record.
        """
        properties = {}
        for name, spec in self.fields.items():
            schema = spec.json_schema()
            if name in self.constants:
                values = self.constants[name]
                if None not in values:
                    schema["type"] = [kind for kind in schema["type"] if kind != "null"]
                schema["enum"] = values
            properties[name] = schema
        return {"type": "object", "properties": properties}

    def _constants(self, settings: t.Mapping[str, t.Any]) -> dict[str, list[t.Any]]:
        """Return the values of the fields that can only take values known at start-up.

        That is a constant, an expression of ``settings``, literals and functions only, or an
        ``x if c else y`` whose branches are such (``"Completed" if ... else "Open"``).
        """
        names: dict[str, t.Any] = {"settings": wrap(dict(settings))}
        allowed = {"settings", *self._evaluator.functions} - {"now"}
        for name, expr in self.variables:
            if _names_used(expr.node) <= allowed:
                try:
                    names[name] = self._eval(expr, names)
                except RecordRejected:
                    continue
                allowed.add(name)
        constants: dict[str, list[t.Any]] = {}
        for name, spec in self.fields.items():
            if spec.kind == "value":
                raw: list[t.Any] | None = [spec.source]
            elif spec.kind == "expr":
                raw = self._possible_values(spec.source, spec.source.node, names, allowed)
            else:
                raw = None
            values = _output_values(raw, spec) if raw is not None else []
            if values:
                constants[name] = values
        return constants

    def _possible_values(
        self, expr: _Expr, node: ast.AST, names: dict[str, t.Any], allowed: set[str]
    ) -> list[t.Any] | None:
        if isinstance(node, ast.Expr):
            node = node.value
        if isinstance(node, ast.IfExp):
            body = self._possible_values(expr, node.body, names, allowed)
            orelse = self._possible_values(expr, node.orelse, names, allowed)
            return None if body is None or orelse is None else body + orelse
        if not _names_used(node) <= allowed:
            return None
        self._evaluator.names = names
        try:
            return [unwrap(self._evaluator.eval(expr.text, previously_parsed=node))]
        except Exception:  # noqa: BLE001 - it fails for every record too, and says so there
            return None

    # Input schema --------------------------------------------------------------------------

    def path_problems(self, roots: t.Mapping[str, t.Any], source: str) -> list[str]:
        """Check every attribute path the mapping reads from ``roots`` against their schemas.

        Args:
            roots: Name (``contact``) -> the JSON Schema of that value.
            source: What the schemas describe, for the message ("contacts stream's records").

        Returns:
            One message per path the schema does not have, naming the closest valid one.
        """
        shadowed = {name for name, _ in self.variables}
        lines: list[str] = []
        seen: set[tuple[str, str]] = set()
        for use in self._path_uses:
            if use.root not in roots or use.root in shadowed:
                continue
            failed = _resolve(roots[use.root], use.steps)
            if failed is None:
                continue
            index, valid = failed
            wrong = use.shown(index + 1)
            if (use.where, wrong) in seen:
                continue
            seen.add((use.where, wrong))
            key = str(use.steps[index][0])
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            prefix = use.shown(index)
            if close:
                hint = f"did you mean {prefix}.{close[0]}?"
            else:
                listed = ", ".join(valid[:30]) + (", ..." if len(valid) > 30 else "")
                hint = f"valid attributes of {prefix}: {listed}."
            lines.append(
                f"Mapping file {self.path}, {use.where}: {wrong} does not exist in the "
                f"{source} (in {use.source!r}); {hint} Fix the mapping file and run again "
                f"({README_HINT})."
            )
        return lines

    def check_input_schema(self, roots: t.Mapping[str, t.Any], stream: str) -> None:
        """Stop with a MappingError when the mapping reads a path ``stream``'s schema lacks.

        Raises:
            MappingError: Listing every unknown path, before any record is mapped.
        """
        lines = self.path_problems(roots, f"schema of the {stream} stream")
        if not lines:
            return
        if len(lines) == 1:
            raise MappingError(lines[0], errors=lines)
        msg = (
            f"Mapping file {self.path} reads {len(lines)} attributes that the {stream} stream "
            f"does not have; no record was mapped. Fix them and run again ({README_HINT})."
        )
        raise MappingError(msg, errors=[msg, *lines])

    # Evaluation ----------------------------------------------------------------------------

    def _eval(self, expr: _Expr, names: dict[str, t.Any]) -> t.Any:
        self._evaluator.names = names
        try:
            return self._evaluator.eval(expr.text, previously_parsed=expr.node)
        except RecordRejected:
            raise
        except (
            InvalidExpression,
            ArithmeticError,
            LookupError,
            TypeError,
            ValueError,
            AttributeError,
        ) as exc:
            cause = str(exc)
            if isinstance(exc, (AttributeDoesNotExist, AttributeError, TypeError)):
                cause = _null_step(expr, names) or cause
            reason = (
                f"mapping {self.path.name}, {expr.where}: expression {expr.text!r} failed "
                f"for this record: {cause}"
            )
            raise RecordRejected(reason, mapping_error=True) from exc

    def _matches(self, node: _Filter, record: dict[str, t.Any], names: dict[str, t.Any]) -> bool:
        kind = node.kind
        if kind == "everyone":
            return True
        if kind == "any":
            return any(self._matches(child, record, names) for child in node.children)
        if kind == "all":
            return all(self._matches(child, record, names) for child in node.children)
        if kind == "not":
            return not self._matches(node.children[0], record, names)
        if kind == "expr":
            return bool(self._eval(node.arg, names))
        if kind == "tag":
            return any(name.strip().lower() in node.arg for name in tag_names(record))
        if kind == "role":
            return str(record.get("role") or "").lower() == node.expected.lower()
        if kind == "custom_attribute":
            value = (record.get("custom_attributes") or {}).get(node.arg)
        else:
            value = get_path(record, node.arg)
        if node.comparison == "present":
            present = value is not None and value != ""
            return present == node.expected
        if node.comparison == "in":
            return any(_same(value, item) for item in node.expected)
        return _same(value, node.expected)

    def evaluate(self, record: dict[str, t.Any], context: dict[str, t.Any]) -> dict[str, t.Any]:
        """Turn one input record into one output record.

        Args:
            record: The input record (an Intercom object).
            context: The other names expressions may read (settings, lookups).

        Returns:
            The output record, fields in mapping-file order.

        Raises:
            RecordRejected: When the record does not pass the filter ('filtered'), matches a
                reject rule, or an expression fails for it ('rejected').
        """
        wrapped = wrap(record)
        names: dict[str, t.Any] = {key: wrap(value) for key, value in context.items()}
        names[self.record_name] = wrapped
        names["record"] = wrapped
        for name, expr in self.variables:
            names[name] = self._eval(expr, names)
        if self.filter is not None and not self._matches(self.filter, record, names):
            raise RecordRejected(f"does not match the filter of {self.path.name}", kind="filtered")
        for expr, reason in self.rejects:
            if self._eval(expr, names):
                raise RecordRejected(reason)
        output: dict[str, t.Any] = {}
        for name, spec in self.fields.items():
            if spec.kind == "value":
                value = spec.source
            elif spec.kind == "path":
                value = get_path(record, spec.source)
            else:
                value = unwrap(self._eval(spec.source, names))
            if value is None or (isinstance(value, str) and not value.strip()):
                value = spec.default
            try:
                value = _coerce(value, spec)
            except (ValueError, TypeError) as exc:
                reason = f"mapping {self.path.name}, field {name!r}: {exc}"
                raise RecordRejected(reason, mapping_error=True) from exc
            if value is None and spec.omit_if_null:
                continue
            output[name] = value
        if output.get(self.key) in (None, ""):
            raise RecordRejected(
                f"the key field {self.key!r} of {self.path.name} is empty for this record"
            )
        return output


def _null_step(expr: _Expr, names: t.Mapping[str, t.Any]) -> str | None:
    """Name the step of a path that was null when the expression read past it."""
    for root, steps in expr.chains:
        if root not in names:
            continue
        current = unwrap(names[root])
        for index, (key, _) in enumerate(steps):
            if current is None:
                shown = root + "".join(written for _, written in steps[:index])
                following = steps[index][1].lstrip(".")
                return (
                    f"{shown} is null here (the record has no such value), so {following!r} "
                    f"cannot be read from it; guard it ('{shown}.{following} if {shown} else "
                    f"None') or use get({root}, ...)"
                )
            if isinstance(current, dict):
                current = current.get(str(key))
            elif isinstance(current, list) and isinstance(key, int):
                current = current[key] if -len(current) <= key < len(current) else None
            else:
                break
    return None


def _none_safe(compare: t.Callable[[t.Any, t.Any], bool]) -> t.Callable[[t.Any, t.Any], bool]:
    def apply(left: t.Any, right: t.Any) -> bool:
        # Intercom leaves unknown attributes out; an ordering test on a missing value is
        # simply false rather than an error that would reject the record.
        if left is None or right is None:
            return False
        return compare(left, right)

    return apply


def _operators() -> dict[type, t.Callable[..., t.Any]]:
    operators = dict(DEFAULT_OPERATORS)
    for node in (ast.Gt, ast.GtE, ast.Lt, ast.LtE):
        operators[node] = _none_safe(DEFAULT_OPERATORS[node])
    return operators


def _same(actual: t.Any, expected: t.Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, (int, float)) and not isinstance(actual, str):
        return actual == expected
    return actual is not None and str(actual) == str(expected)


def _coerce(value: t.Any, spec: FieldSpec) -> t.Any:
    if value is None:
        return None
    kind = spec.type
    if kind == "string":
        text = value if isinstance(value, str) else str(value)
        return truncate(text, spec.max_length) if spec.max_length else text
    if kind == "integer":
        return to_int(value)
    if kind == "number":
        return to_number(value)
    if kind == "boolean":
        if isinstance(value, str):
            return value.strip().lower() in ("true", "yes", "1")
        return bool(value)
    if kind == "date":
        return date(value)
    if kind == "datetime":
        return datetime(value)
    if not isinstance(value, dict):
        msg = f"expected an object, got {type(value).__name__}"
        raise TypeError(msg)
    return value


def _safe_load(text: str) -> t.Any:
    """``yaml.safe_load``, with libyaml's parser where PyYAML has it.

    That one reads the mapping files about 50 times faster (30 ms each at start-up before). A
    document it refuses is read again by the pure-Python parser, so the error (and any document
    only that one accepts) is PyYAML's usual one.
    """
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is not None:
        try:
            return yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)
        except yaml.YAMLError:
            pass
    return yaml.safe_load(text)
