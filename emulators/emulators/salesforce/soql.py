"""SOQL: a lark grammar for the subset the emulator supports, and an evaluator over the store."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, VisitError

from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.schema import Field, SObject
from emulators.salesforce.store import Store, parse_datetime

GRAMMAR = r"""
start: _SELECT select_list _FROM NAME where_clause? order_clause? limit_clause? offset_clause?

select_list: _COUNT "(" ")"            -> count_all
           | path ("," path)*          -> field_list
path: NAME ("." NAME)*

where_clause: _WHERE expr
?expr: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr               -> negation
         | atom
?atom: "(" expr ")"
     | path OP value                   -> compare
     | path _IN "(" value ("," value)* ")"         -> in_list
     | path _NOT _IN "(" value ("," value)* ")"    -> not_in_list
     | path _LIKE value                -> like

value: STRING                          -> string
     | SIGNED_NUMBER                   -> number
     | _NULL                           -> null
     | TRUE                            -> true
     | FALSE                           -> false
     | DATETIME                        -> datetime
     | DATE                            -> date
     | DATE_LITERAL                    -> date_literal

order_clause: _ORDER _BY order_item ("," order_item)*
order_item: path DIRECTION? NULLS?
limit_clause: _LIMIT INT
offset_clause: _OFFSET INT

OP: "=" | "!=" | "<>" | "<=" | ">=" | "<" | ">"
DIRECTION.2: /(asc|desc)\b/i
NULLS.2: /nulls\s+(first|last)\b/i
_SELECT.2: /select\b/i
_FROM.2: /from\b/i
_WHERE.2: /where\b/i
_AND.2: /and\b/i
_OR.2: /or\b/i
_NOT.2: /not\b/i
_IN.2: /in\b/i
_LIKE.2: /like\b/i
_NULL.2: /null\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
_ORDER.2: /order\b/i
_BY.2: /by\b/i
_LIMIT.2: /limit\b/i
_OFFSET.2: /offset\b/i
_COUNT.2: /count\b/i
DATETIME.4: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})/
DATE.3: /\d{4}-\d{2}-\d{2}/
DATE_LITERAL.3: /DATE_WORDS/i
STRING: /'(\\.|[^'\\])*'/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
%import common.SIGNED_NUMBER
%import common.INT
%import common.WS
%ignore WS
"""

DATE_WORDS = (
    r"(today|yesterday|tomorrow|(this|last|next)_(week|month|year)|(last|next)_n_days:\d+)\b"
)
GRAMMAR = GRAMMAR.replace("DATE_WORDS", DATE_WORDS)
_PARSER = Lark(GRAMMAR, parser="lalr", maybe_placeholders=False)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"',
            "\\": "\\", "_": "\\_", "%": "\\%"}


@dataclass
class DateRange:
    """A date literal such as TODAY or LAST_N_DAYS:7, as [start, end) in UTC."""

    start: dt.date
    end: dt.date


@dataclass
class Path:
    """A field path: relationship hops then a final field name."""

    text: str
    hops: list[Field]
    final: Field
    final_name: str


@dataclass
class Query:
    """A parsed, checked SOQL query."""

    sobject: SObject
    count: bool
    paths: list[Path]
    where: Callable[[dict[str, Any]], bool] | None
    order: list[tuple[Path, bool, bool]] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


def _malformed(text: str, line: int, column: int, detail: str) -> SalesforceError:
    lines = text.splitlines() or [text]
    shown = lines[line - 1] if 0 < line <= len(lines) else text
    caret = " " * max(column - 1, 0) + "^"
    return SalesforceError(
        "MALFORMED_QUERY",
        f"\n{shown}\n{caret}\nERROR at Row:{line}:Column:{column}\n{detail}",
    )


def _date_range(literal: str, today: dt.date) -> DateRange:
    word = literal.upper()
    if word.startswith(("LAST_N_DAYS:", "NEXT_N_DAYS:")):
        days = int(word.split(":")[1])
        if word.startswith("LAST"):
            return DateRange(today - dt.timedelta(days=days), today + dt.timedelta(days=1))
        return DateRange(today + dt.timedelta(days=1), today + dt.timedelta(days=days + 1))
    one = dt.timedelta(days=1)
    if word == "TODAY":
        return DateRange(today, today + one)
    if word == "YESTERDAY":
        return DateRange(today - one, today)
    if word == "TOMORROW":
        return DateRange(today + one, today + 2 * one)
    if word.endswith("_WEEK"):
        start = today - dt.timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday
        shift = {"THIS": 0, "LAST": -7, "NEXT": 7}[word.split("_")[0]]
        start += dt.timedelta(days=shift)
        return DateRange(start, start + dt.timedelta(days=7))
    if word.endswith("_MONTH"):
        year, month = today.year, today.month + {"THIS": 0, "LAST": -1, "NEXT": 1}[word[:4]]
        if month == 0:
            year, month = year - 1, 12
        elif month == 13:
            year, month = year + 1, 1
        start = dt.date(year, month, 1)
        end = dt.date(year + (month == 12), month % 12 + 1, 1)
        return DateRange(start, end)
    year = today.year + {"THIS": 0, "LAST": -1, "NEXT": 1}[word[:4]]
    return DateRange(dt.date(year, 1, 1), dt.date(year + 1, 1, 1))


@v_args(inline=True)
class _Values(Transformer):
    """Turn value tokens into Python values."""

    def string(self, token: Token) -> str:
        body = token[1:-1]
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)

    def number(self, token: Token) -> float:
        return float(token)

    def null(self) -> None:
        return None

    def true(self, _: Token) -> bool:
        return True

    def false(self, _: Token) -> bool:
        return False

    def datetime(self, token: Token) -> tuple[str, str]:
        parsed = parse_datetime(str(token))
        if parsed is None:
            raise ValueError(f"invalid date-time {token}")
        return ("datetime", parsed)

    def date(self, token: Token) -> tuple[str, str]:
        return ("date", dt.date.fromisoformat(str(token)).isoformat())

    def date_literal(self, token: Token) -> DateRange:
        return _date_range(str(token), dt.datetime.now(dt.timezone.utc).date())


class _Compiler:
    """Checks names against the schema and builds the filter closures."""

    def __init__(self, text: str, store: Store, obj: SObject) -> None:
        self.text = text
        self.store = store
        self.obj = obj

    def invalid_field(self, name: str, column: int | None = None) -> SalesforceError:
        col = column or (self.text.find(name) + 1)
        return SalesforceError(
            "INVALID_FIELD",
            f"\n{self.text}\n{' ' * (col - 1)}^\nERROR at Row:1:Column:{col}\n"
            f"No such column '{name}' on entity '{self.obj.name}'. If you are attempting to use "
            "a custom field, be sure to append the '__c' after the custom field name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
        )

    def path(self, tree: Tree) -> Path:
        names = [str(t) for t in tree.children]
        text = ".".join(names)
        obj = self.obj
        hops: list[Field] = []
        if len(names) > 1 and names[0].lower() == obj.name.lower():
            names = names[1:]  # SELECT Lead.Email FROM Lead
        for hop in names[:-1]:
            ref = obj.relationships.get(hop.lower()) if obj else None
            if ref is None:
                raise SalesforceError(
                    "INVALID_FIELD",
                    f"\n{self.text}\nERROR at Row:1:Column:{self.text.find(hop) + 1}\nDidn't "
                    f"understand relationship '{hop}' in field path. If you are attempting to "
                    "use a custom relationship, be sure to append the '__r' after the custom "
                    "relationship name. Please reference your WSDL or the describe call for the "
                    "appropriate names.",
                )
            hops.append(ref)
            obj = self.store.objects.get(ref.reference_to[0]) if len(ref.reference_to) == 1 \
                else None
        last = names[-1]
        if obj is not None:
            final = obj.field(last)
        else:
            # Polymorphic (Who, What): the field must exist on one of the possible objects.
            candidates = [self.store.objects[n].field(last) for n in hops[-1].reference_to]
            final = next((c for c in candidates if c is not None), None)
        if final is None:
            raise self.invalid_field(text)
        return Path(text, hops, final, final.name)

    def getter(self, path: Path) -> Callable[[dict[str, Any]], Any]:
        if not path.hops:
            name = path.final_name
            return lambda record: record.get(name)
        hops, name, store = path.hops, path.final_name, self.store

        def get(record: dict[str, Any]) -> Any:
            current: dict[str, Any] | None = record
            for hop in hops:
                target_id = current.get(hop.name) if current else None
                found = store.lookup(target_id) if target_id else None
                current = found[1] if found else None
                if current is None:
                    return None
            return current.get(name) if current else None

        return get

    def condition(self, tree: Tree) -> Callable[[dict[str, Any]], bool]:
        kind = tree.data
        if kind == "or_expr":
            parts = [self.condition(c) for c in tree.children]
            return lambda r: any(p(r) for p in parts)
        if kind == "and_expr":
            parts = [self.condition(c) for c in tree.children]
            return lambda r: all(p(r) for p in parts)
        if kind == "negation":
            inner = self.condition(tree.children[0])
            return lambda r: not inner(r)
        path = self.path(tree.children[0])
        get = self.getter(path)
        fld = path.final
        if kind == "compare":
            op = str(tree.children[1])
            return self._compare(get, fld, op, self._literal(fld, tree.children[2]))
        if kind in {"in_list", "not_in_list"}:
            values = [self._literal(fld, v) for v in tree.children[1:]]
            keys = {self._key(fld, v) for v in values}
            if kind == "in_list":
                return lambda r: (v := get(r)) is not None and self._key(fld, v) in keys
            return lambda r: (v := get(r)) is None or self._key(fld, v) not in keys
        if kind == "like":
            pattern = self._literal(fld, tree.children[1])
            if not isinstance(pattern, str):
                raise SalesforceError("MALFORMED_QUERY", "LIKE needs a string pattern")
            regex = re.compile(_like_regex(pattern), re.IGNORECASE | re.DOTALL)
            return lambda r: isinstance(v := get(r), str) and regex.fullmatch(v) is not None
        raise SalesforceError("MALFORMED_QUERY", f"unsupported condition {kind}")

    def _literal(self, fld: Field, value: Any) -> Any:
        if isinstance(value, Tree):  # not transformed: shouldn't happen
            raise SalesforceError("MALFORMED_QUERY", "unexpected value")
        if fld.type in {"date", "datetime"}:
            if isinstance(value, str):
                raise SalesforceError(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"\n{self.text}\nvalue of filter criterion for field '{fld.name}' must be of "
                    f"type {'dateTime' if fld.type == 'datetime' else 'date'} and should not be "
                    "enclosed in quotes",
                )
            if isinstance(value, tuple):
                kind, text = value
                if fld.type == "date" and kind == "datetime":
                    raise SalesforceError(
                        "INVALID_QUERY_FILTER_OPERATOR",
                        f"\n{self.text}\nvalue of filter criterion for field '{fld.name}' must "
                        "be of type date",
                    )
                if fld.type == "datetime" and kind == "date":
                    raise SalesforceError(
                        "INVALID_QUERY_FILTER_OPERATOR",
                        f"\n{self.text}\nvalue of filter criterion for field '{fld.name}' must "
                        "be of type dateTime and should not be enclosed in quotes",
                    )
                return text
            if isinstance(value, DateRange):
                if fld.type == "date":
                    return (value.start.isoformat(), value.end.isoformat())
                return (value.start.isoformat() + "T00:00:00.000+0000",
                        value.end.isoformat() + "T00:00:00.000+0000")
        if isinstance(value, DateRange):
            raise SalesforceError(
                "INVALID_QUERY_FILTER_OPERATOR",
                f"\n{self.text}\ndate literals cannot be used with field '{fld.name}'",
            )
        if fld.type in {"double", "currency", "percent", "int"} and isinstance(value, str):
            raise SalesforceError(
                "INVALID_QUERY_FILTER_OPERATOR",
                f"\n{self.text}\nvalue of filter criterion for field '{fld.name}' must be of "
                "type double and should not be enclosed in quotes",
            )
        if fld.type in {"id", "reference"} and isinstance(value, str):
            from emulators.salesforce.ids import normalize

            return normalize(value) or value
        if isinstance(value, tuple):
            return value[1]
        return value

    @staticmethod
    def _key(fld: Field, value: Any) -> Any:
        if isinstance(value, str) and fld.type not in {"id", "reference"}:
            return value.lower()
        return value

    def _compare(
        self, get: Callable[[dict[str, Any]], Any], fld: Field, op: str, literal: Any
    ) -> Callable[[dict[str, Any]], bool]:
        if isinstance(literal, tuple):  # a date range
            start, end = literal
            ranges = {
                "=": lambda v: start <= v < end, "!=": lambda v: not start <= v < end,
                "<>": lambda v: not start <= v < end, "<": lambda v: v < start,
                "<=": lambda v: v < end, ">": lambda v: v >= end, ">=": lambda v: v >= start,
            }
            test = ranges[op]
            return lambda r: (v := get(r)) is not None and test(v)
        if literal is None:
            if op == "=":
                return lambda r: get(r) is None
            if op in {"!=", "<>"}:
                return lambda r: get(r) is not None
            return lambda r: False
        key = self._key(fld, literal)
        if op in {"!=", "<>"}:
            return lambda r: (v := get(r)) is None or self._key(fld, v) != key
        tests: dict[str, Callable[[Any], bool]] = {
            "=": lambda v: v == key, "<": lambda v: v < key, "<=": lambda v: v <= key,
            ">": lambda v: v > key, ">=": lambda v: v >= key,
        }
        test = tests[op]

        def run(record: dict[str, Any]) -> bool:
            value = get(record)
            if value is None:
                return False
            try:
                return test(self._key(fld, value))
            except TypeError:
                return False

        return run


def _like_regex(pattern: str) -> str:
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            out.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return "".join(out)


def parse(text: str, store: Store) -> Query:
    """Parse and check a SOQL query; raise SalesforceError the way Salesforce words it."""
    try:
        tree = _PARSER.parse(text)
    except UnexpectedCharacters as exc:
        token = text[exc.pos_in_stream:].split()[0] if text[exc.pos_in_stream:].split() else ""
        raise _malformed(text, exc.line, exc.column, f"unexpected token: '{token}'") from None
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        if token is None or getattr(token, "type", "") == "$END":
            raise _malformed(text, 1, len(text) + 1, "unexpected token: <EOF>") from None
        raise _malformed(
            text, getattr(token, "line", 1) or 1, getattr(token, "column", 1) or 1,
            f"unexpected token: '{token}'",
        ) from None
    except LarkError as exc:
        raise SalesforceError("MALFORMED_QUERY", f"\n{text}\n{exc}") from None
    try:
        tree = _Values().transform(tree)
    except VisitError as exc:
        raise SalesforceError("MALFORMED_QUERY", f"\n{text}\n{exc.orig_exc}") from None
    parts = {c.data if isinstance(c, Tree) else c.type: c for c in tree.children}
    object_token = next(c for c in tree.children if isinstance(c, Token) and c.type == "NAME")
    obj = store.obj(str(object_token))
    if obj is None:
        raise SalesforceError(
            "INVALID_TYPE",
            f"\n{text}\n{' ' * (object_token.column - 1)}^\nERROR at Row:1:Column:"
            f"{object_token.column}"
            f"\nsObject type '{object_token}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please reference "
            "your WSDL or the describe call for the appropriate names.",
        )
    compiler = _Compiler(text, store, obj)
    selection = tree.children[0]
    count = selection.data == "count_all"
    paths = [] if count else [compiler.path(p) for p in selection.children]
    seen: set[str] = set()
    for path in paths:
        if path.text.lower() in seen:
            raise SalesforceError(
                "MALFORMED_QUERY", f"\n{text}\nduplicate field selected: {path.text}"
            )
        seen.add(path.text.lower())
    where = None
    if "where_clause" in parts:
        where = compiler.condition(parts["where_clause"].children[0])
    order = []
    if "order_clause" in parts:
        for item in parts["order_clause"].children:
            path = compiler.path(item.children[0])
            desc = False
            nulls_last = None
            for extra in item.children[1:]:
                if extra.type == "DIRECTION":
                    desc = extra.lower() == "desc"
                else:
                    nulls_last = extra.lower().endswith("last")
            order.append((path, desc, desc if nulls_last is None else nulls_last))
    limit = int(parts["limit_clause"].children[0]) if "limit_clause" in parts else None
    offset = int(parts["offset_clause"].children[0]) if "offset_clause" in parts else 0
    if offset > 2000:
        raise SalesforceError(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"Maximum SOQL offset allowed is 2000, found {offset}",
        )
    query = Query(obj, count, paths, where, order, limit, offset)
    query._compiler = compiler  # type: ignore[attr-defined]
    return query


def execute(query: Query, store: Store, include_deleted: bool = False) -> list[dict[str, Any]]:
    """Answer the matching records (raw store dicts), ordered, limited and offset."""
    rows = store.records[query.sobject.name].values()
    where = query.where
    if include_deleted:
        matched = [r for r in rows if where is None or where(r)]
    else:
        matched = [r for r in rows if not r.get("IsDeleted") and (where is None or where(r))]
    compiler: _Compiler = query._compiler  # type: ignore[attr-defined]
    for path, desc, nulls_last in reversed(query.order):
        get = compiler.getter(path)

        def key(record: dict[str, Any], get: Callable = get, nulls_last: bool = nulls_last,
                desc: bool = desc) -> tuple:
            value = get(record)
            if isinstance(value, str):
                value = value.lower()
            if value is None:
                # With reverse=True the rank flips, so compensate for descending sorts.
                return (0 if nulls_last == desc else 1, 0)
            return (1 if nulls_last == desc else 0, value)

        matched.sort(key=key, reverse=desc)
    if query.offset:
        matched = matched[query.offset:]
    if query.limit is not None:
        matched = matched[: query.limit]
    return matched


def shape(query: Query, store: Store, record: dict[str, Any], version: str) -> dict[str, Any]:
    """One record as the REST query answer shows it."""
    obj = query.sobject
    out: dict[str, Any] = {
        "attributes": {"type": obj.name,
                       "url": f"/services/data/v{version}/sobjects/{obj.name}/{record['Id']}"},
    }
    for path in query.paths:
        if not path.hops:
            out[path.final_name] = record.get(path.final_name)
            continue
        target: dict[str, Any] = out
        current: dict[str, Any] | None = record
        for hop in path.hops:
            target_id = current.get(hop.name) if current else None
            found = store.lookup(target_id) if target_id else None
            key = hop.relationship_name or hop.name
            if found is None:
                target[key] = None
                current = None
                break
            existing = target.get(key)
            if not isinstance(existing, dict):
                existing = {"attributes": {
                    "type": found[0].name,
                    "url": f"/services/data/v{version}/sobjects/{found[0].name}/{target_id}",
                }}
                target[key] = existing
            target = existing
            current = found[1]
        if current is not None:
            target[path.final_name] = current.get(path.final_name)
    return out
