"""SOQL: a lark grammar for the subset the emulator supports, and an evaluator over the store.

One module on purpose (over 400 lines): the grammar, the tree-to-query transformer and the
evaluator change together whenever a SOQL feature is added, and nothing else imports their parts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, VisitError

from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.metadata import Field, SObject
from emulators.salesforce.store import Store, parse_datetime

GRAMMAR = r"""
start: query
query: _SELECT select_list _FROM from_name where_clause? group_clause? having_clause? \
       order_clause? limit_clause? offset_clause?
from_name: NAME ("." NAME)*

select_list: select_item ("," select_item)*
select_item: path alias?               -> field_item
           | call alias?               -> call_item
           | "(" query ")"             -> subquery_item
alias: NAME
call: NAME "(" path? ")"
path: NAME ("." NAME)*
_operand: path | call

where_clause: _WHERE expr
having_clause: _HAVING expr
?expr: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr               -> negation
         | atom
?atom: "(" expr ")"
     | _operand OP value                   -> compare
     | _operand _IN "(" value ("," value)* ")"         -> in_list
     | _operand _NOT _IN "(" value ("," value)* ")"    -> not_in_list
     | _operand _IN "(" query ")"          -> semi_join
     | _operand _NOT _IN "(" query ")"     -> anti_join
     | _operand _LIKE value                -> like

value: STRING                          -> string
     | SIGNED_NUMBER                   -> number
     | _NULL                           -> null
     | TRUE                            -> true
     | FALSE                           -> false
     | DATETIME                        -> datetime
     | DATE                            -> date
     | DATE_LITERAL                    -> date_literal

group_clause: _GROUP _BY path ("," path)*
order_clause: _ORDER _BY order_item ("," order_item)*
order_item: _operand DIRECTION? NULLS?
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
_GROUP.2: /group\b/i
_HAVING.2: /having\b/i
_ORDER.2: /order\b/i
_BY.2: /by\b/i
_LIMIT.2: /limit\b/i
_OFFSET.2: /offset\b/i
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
_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    "'": "'",
    '"': '"',
    "\\": "\\",
    "_": "\\_",
    "%": "\\%",
}


AGGREGATES = {"COUNT", "COUNT_DISTINCT", "MIN", "MAX", "SUM", "AVG"}
NUMBER_TYPES = {"double", "currency", "percent", "int"}
FIELDS_LIMIT = 200  # FIELDS(ALL) / FIELDS(CUSTOM) need LIMIT n with n <= 200
# Standard child relationship names (Salesforce's object reference); None: no name, so the
# relationship cannot be queried from the parent. Other lookups get a derived name.
CHILD_RELATIONSHIPS: dict[tuple[str, str], str | None] = {
    ("Contact", "AccountId"): "Contacts",
    ("Opportunity", "AccountId"): "Opportunities",
    ("Account", "ParentId"): "ChildAccounts",
    ("Task", "WhoId"): "Tasks",
    ("Task", "WhatId"): "Tasks",
    ("Task", "AccountId"): None,
    ("OpportunityContactRole", "OpportunityId"): "OpportunityContactRoles",
    ("OpportunityContactRole", "ContactId"): "OpportunityContactRoles",
    ("Lead", "ConvertedAccountId"): None,
    ("Lead", "ConvertedContactId"): None,
    ("Lead", "ConvertedOpportunityId"): None,
}
_UNNAMED_CHILD_FIELDS = {"OwnerId", "CreatedById", "LastModifiedById"}

Row = dict[str, Any]
Getter = Callable[[Any], Any]


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

    @property
    def key(self) -> str:
        """The path compared case-insensitively (GROUP BY Account.Name vs account.name)."""
        return ".".join([h.name for h in self.hops] + [self.final_name]).lower()


@dataclass
class ChildQuery:
    """A parent-to-child subquery: `(SELECT ... FROM Contacts)` in a select list."""

    name: str  # the relationship name as the answer spells it
    field: Field  # the child's reference field pointing at the parent
    query: Query


@dataclass
class SemiJoin:
    """`Id IN (SELECT WhoId FROM Task ...)`: the inner query, run once per execution."""

    query: Query
    values: set[str] = field(default_factory=set)


@dataclass
class Column:
    """One item of an aggregate query's answer: a grouped field or an aggregate function."""

    name: str
    value: Callable[[list[Row]], Any]


@dataclass
class Query:
    """A parsed, checked SOQL query."""

    sobject: SObject
    count: bool
    paths: list[Path]
    where: Callable[[Row], bool] | None
    # (key function, descending, nulls last); the key takes a record (a group when aggregate)
    order: list[tuple[Getter, bool, bool]] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    # Select-list order when the query has child subqueries: Path or ChildQuery items.
    columns: list[Path | ChildQuery] = field(default_factory=list)
    subqueries: list[ChildQuery] = field(default_factory=list)
    semijoins: list[SemiJoin] = field(default_factory=list)
    aggregate: bool = False
    group_by: list[tuple[Getter, Field]] = field(default_factory=list)
    outputs: list[Column] = field(default_factory=list)
    having: Callable[[list[Row]], bool] | None = None
    relation: tuple[str, Field] | None = None  # a child subquery: (relationship, its field)


_INT_FIELD = Field(name="expr", type="int", label="expr")
_DOUBLE_FIELD = Field(name="expr", type="double", label="expr")
_GROUP_TYPES_REFUSED = {"textarea", "double", "currency", "percent", "datetime"}  # describe


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

    def __init__(
        self, text: str, store: Store, obj: SObject, depth: int = 0, role: str = "top"
    ) -> None:
        self.text = text
        self.store = store
        self.obj = obj
        self.depth = depth  # 0 for the outer query, more inside subqueries
        self.role = role  # top, child (a parent-to-child subquery) or semi (a semi join)
        self.semijoins: list[SemiJoin] = []
        # Grouped paths by key while compiling an aggregate query's SELECT, HAVING, ORDER BY.
        self.grouped: dict[str, Path] = {}

    def fail(self, detail: str, code: str = "MALFORMED_QUERY") -> SalesforceError:
        return SalesforceError(code, f"\n{self.text}\n{detail}")

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
        obj: SObject | None = self.obj
        hops: list[Field] = []
        if len(names) > 1 and names[0].lower() == self.obj.name.lower():
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
            obj = (
                self.store.objects.get(ref.reference_to[0]) if len(ref.reference_to) == 1 else None
            )
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

    def operand(
        self, tree: Tree, grouped: bool, ungrouped: str = "Field must be grouped or aggregated"
    ) -> tuple[Getter, Field]:
        """A condition's or sort's left side: a getter and its field.

        The getter is over a record, or over a group of records (grouped=True, aggregate
        queries' HAVING and ORDER BY).
        """
        if tree.data == "call":
            if not grouped:
                raise self.fail(
                    f"Aggregate function {_call_text(tree)} is not allowed here: aggregate "
                    "functions belong in the SELECT list, HAVING or ORDER BY of a query with "
                    "GROUP BY or aggregate functions."
                )
            return self.aggregate(tree)
        path = self.path(tree)
        get = self.getter(path)
        if not grouped:
            return get, path.final
        if path.key not in self.grouped:
            raise self.fail(f"{ungrouped}: {path.text}")
        return (lambda rows: get(rows[0]) if rows else None), path.final

    def aggregate(self, call: Tree) -> tuple[Callable[[list[Row]], Any], Field]:
        """COUNT(f), COUNT_DISTINCT(f), MIN, MAX, SUM, AVG over a group of records."""
        name = str(call.children[0]).upper()
        if name not in AGGREGATES:
            raise self.fail(
                f"Unknown or unsupported function {call.children[0]}: the emulator supports "
                "COUNT(), COUNT(field), COUNT_DISTINCT, MIN, MAX, SUM, AVG and FIELDS()."
            )
        if len(call.children) == 1:
            if name == "COUNT":
                raise self.fail(
                    "COUNT() must be the only item of the SELECT list and cannot be used with "
                    "GROUP BY; use COUNT(Id) with other fields or groups."
                )
            raise self.fail(f"{name}() needs a field, e.g. {name}(Amount)")
        path = self.path(call.children[1])
        fld = path.final
        if not _aggregates_type(name, fld.type):
            raise self.fail(
                f"field {path.text} does not support aggregate operator {name}", "INVALID_FIELD"
            )
        get = self.getter(path)
        key = self._key
        if name == "COUNT":
            return (lambda rows: sum(1 for r in rows if get(r) is not None)), _INT_FIELD
        if name == "COUNT_DISTINCT":
            return (
                lambda rows: len({key(fld, v) for r in rows if (v := get(r)) is not None})
            ), _INT_FIELD
        if name in {"SUM", "AVG"}:
            average = name == "AVG"

            def total(rows: list[Row]) -> Any:
                values = [v for r in rows if (v := get(r)) is not None]
                if not values:
                    return None
                return sum(values) / len(values) if average else sum(values)

            return total, (_DOUBLE_FIELD if average else fld)
        return _extreme(name, fld, get), fld

    def fields_function(self, call: Tree) -> tuple[list[Path], bool]:
        """FIELDS(ALL|STANDARD|CUSTOM): the paths, and whether the set is unbounded."""
        arg = call.children[1] if len(call.children) > 1 else None
        kind = str(arg.children[0]).upper() if arg is not None and len(arg.children) == 1 else ""
        if kind not in {"ALL", "STANDARD", "CUSTOM"}:
            raise self.fail("FIELDS() takes ALL, STANDARD or CUSTOM, e.g. FIELDS(STANDARD)")
        chosen = [
            f for f in self.obj.fields.values() if kind == "ALL" or f.custom == (kind == "CUSTOM")
        ]
        return [Path(f.name, [], f, f.name) for f in chosen], kind != "STANDARD"

    def semi_join(self, tree: Tree, anti: bool) -> Callable[[Row], bool]:
        """`Id IN (SELECT WhoId FROM Task ...)`; the inner query runs at execution."""
        outer_tree, inner_tree = tree.children
        if outer_tree.data == "call":
            raise self.fail("The left side of a semi join must be an Id or reference field")
        outer = self.path(outer_tree)
        if outer.final.type not in {"id", "reference"}:
            raise self.fail(
                f"Semi join sub-selects need an Id or reference field on the left side, not "
                f"'{outer.text}' ({outer.final.type})"
            )
        if self.role == "semi":
            raise self.fail("Nesting of semi join sub-selects is not supported")
        if self.depth > 0:
            raise self.fail(
                "Semi join sub-selects are not supported inside a child "
                "relationship subquery (emulator); filter the children otherwise"
            )
        if len(self.semijoins) >= 2:
            raise self.fail("A query can hold at most two semi join or anti join sub-selects")
        inner = _compile(self.text, self.store, inner_tree, "semi", self.depth + 1, self.obj)
        join = SemiJoin(inner)
        self.semijoins.append(join)
        get = self.getter(outer)
        if anti:
            return lambda r: (v := get(r)) is None or v not in join.values
        return lambda r: (v := get(r)) is not None and v in join.values

    def condition(self, tree: Tree, grouped: bool = False) -> Callable[[Any], bool]:
        kind = tree.data
        if kind == "or_expr":
            if any(
                sub.data in {"semi_join", "anti_join"}
                for child in tree.children
                for sub in child.iter_subtrees()
            ):
                raise self.fail("Semi join sub-selects are not allowed with the 'OR' operator")
            parts = [self.condition(c, grouped) for c in tree.children]
            return lambda r: any(p(r) for p in parts)
        if kind == "and_expr":
            parts = [self.condition(c, grouped) for c in tree.children]
            return lambda r: all(p(r) for p in parts)
        if kind == "negation":
            inner = self.condition(tree.children[0], grouped)
            return lambda r: not inner(r)
        if kind in {"semi_join", "anti_join"}:
            if grouped:
                raise self.fail("Semi join sub-selects are not allowed in HAVING")
            return self.semi_join(tree, kind == "anti_join")
        get, fld = self.operand(tree.children[0], grouped)
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
        if fld.type in {"date", "datetime"} and isinstance(value, (str, tuple, DateRange)):
            return self._date_literal(fld, value)
        if isinstance(value, DateRange):
            raise SalesforceError(
                "INVALID_QUERY_FILTER_OPERATOR",
                f"\n{self.text}\ndate literals cannot be used with field '{fld.name}'",
            )
        return self._plain_literal(fld, value)

    def _date_literal(self, fld: Field, value: str | tuple[str, str] | DateRange) -> Any:
        """A date or dateTime literal (or a date range) for a date or datetime field."""
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
            return (
                value.start.isoformat() + "T00:00:00.000+0000",
                value.end.isoformat() + "T00:00:00.000+0000",
            )
        raise SalesforceError("MALFORMED_QUERY", "unexpected value")

    def _plain_literal(self, fld: Field, value: Any) -> Any:
        """A literal for a field of any type but date and datetime."""
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
                "=": lambda v: start <= v < end,
                "!=": lambda v: not start <= v < end,
                "<>": lambda v: not start <= v < end,
                "<": lambda v: v < start,
                "<=": lambda v: v < end,
                ">": lambda v: v >= end,
                ">=": lambda v: v >= start,
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
            "=": lambda v: v == key,
            "<": lambda v: v < key,
            "<=": lambda v: v <= key,
            ">": lambda v: v > key,
            ">=": lambda v: v >= key,
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


def _call_text(call: Tree) -> str:
    arg = ".".join(str(t) for t in call.children[1].children) if len(call.children) > 1 else ""
    return f"{call.children[0]}({arg})"


def child_relationship_name(child: SObject, fld: Field) -> str | None:
    """The name a parent uses for the children pointing at it through fld (None: no name)."""
    declared = getattr(fld, "child_relationship_name", None)  # when the schema declares one
    if declared:
        return str(declared)
    known = (child.name, fld.name)
    if known in CHILD_RELATIONSHIPS:
        return CHILD_RELATIONSHIPS[known]
    if fld.name in _UNNAMED_CHILD_FIELDS:
        return None
    if fld.custom:  # Salesforce's default for a new lookup: the child's plural label + __r
        return re.sub(r"[^A-Za-z0-9]+", "_", child.label_plural).strip("_") + "__r"
    return re.sub(r"[^A-Za-z0-9]+", "", child.label_plural)


def child_relationships(store: Store, parent: SObject) -> dict[str, tuple[str, SObject, Field]]:
    """A parent's child relationships by lower-cased name: (name, child sObject, field)."""
    found: dict[str, tuple[str, SObject, Field]] = {}
    for child in store.objects.values():
        for fld in child.fields.values():
            if fld.type != "reference" or parent.name not in fld.reference_to:
                continue
            name = child_relationship_name(child, fld)
            if name and name.lower() not in found:
                found[name.lower()] = (name, child, fld)
    return found


def _aggregates_type(name: str, field_type: str) -> bool:
    """Whether the aggregate function ``name`` takes a field of this type."""
    if name in {"SUM", "AVG"}:
        return field_type in NUMBER_TYPES
    if name in {"MIN", "MAX"}:
        return field_type not in {"textarea", "boolean"}
    return field_type != "textarea"


def _extreme(name: str, fld: Field, get: Callable[[Row], Any]) -> Callable[[list[Row]], Any]:
    """MIN or MAX: picklists by the order of their values, text case-insensitively."""
    rank = {v.lower(): i for i, v in enumerate(fld.picklist)}

    def sort_key(value: Any) -> Any:
        if rank:
            return (rank.get(str(value).lower(), len(rank)), str(value).lower())
        return value.lower() if isinstance(value, str) else value

    pick = min if name == "MIN" else max

    def extreme(rows: list[Row]) -> Any:
        values = [v for r in rows if (v := get(r)) is not None]
        return pick(values, key=sort_key) if values else None

    return extreme


def _token(node: Tree | Token) -> Token:
    """``node`` as the Token the grammar puts there (lark types a child as a Tree or a Token)."""
    if not isinstance(node, Token):
        raise TypeError(f"expected a token, got {node!r}")
    return node


def _clauses(tree: Tree) -> dict[str, Tree]:
    return {c.data: c for c in tree.children if isinstance(c, Tree)}


def _from(
    text: str, store: Store, from_tree: Tree, role: str, parent: SObject | None
) -> tuple[SObject, tuple[str, Field] | None]:
    names = [str(t) for t in from_tree.children]
    column = _token(from_tree.children[0]).column or 1
    if role == "child":
        assert parent is not None
        if len(names) == 2 and names[0].lower() == parent.name.lower():
            names = names[1:]  # (SELECT Id FROM Account.Contacts)
        found = (
            child_relationships(store, parent).get(names[0].lower()) if len(names) == 1 else None
        )
        if found is None:
            raise SalesforceError(
                "INVALID_TYPE",
                f"\n{text}\n{' ' * (column - 1)}^\nERROR at Row:1:Column:{column}"
                f"\nDidn't understand relationship '{'.'.join(names)}' in FROM part of query "
                "call. If you are attempting to use a custom relationship, be sure to append "
                "the '__r' after the custom relationship name. Please reference your WSDL or "
                "the describe call for the appropriate names.",
            )
        name, child, fld = found
        return child, (name, fld)
    obj = store.obj(names[0]) if len(names) == 1 else None
    if obj is None:
        raise SalesforceError(
            "INVALID_TYPE",
            f"\n{text}\n{' ' * (column - 1)}^\nERROR at Row:1:Column:{column}"
            f"\nsObject type '{'.'.join(names)}' is not supported. If you are attempting to "
            "use a custom object, be sure to append the '__c' after the entity name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
        )
    return obj, None


def _compile(
    text: str,
    store: Store,
    tree: Tree,
    role: str = "top",
    depth: int = 0,
    parent: SObject | None = None,
) -> Query:
    """Check one query (role top, child subquery or semi join) and build its closures."""
    parts = _clauses(tree)
    obj, relation = _from(text, store, parts["from_name"], role, parent)
    compiler = _Compiler(text, store, obj, depth, role)
    items = parts["select_list"].children
    limit = int(_token(parts["limit_clause"].children[0])) if "limit_clause" in parts else None
    offset = int(_token(parts["offset_clause"].children[0])) if "offset_clause" in parts else 0
    if offset > 2000:
        raise SalesforceError(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"Maximum SOQL offset allowed is 2000, found {offset}",
        )
    calls = [
        (str(i.children[0].children[0]).upper(), len(i.children[0].children))
        for i in items
        if i.data == "call_item"
    ]
    count = ("COUNT", 1) in calls
    aggregate = (
        "group_clause" in parts
        or "having_clause" in parts
        or any(name in AGGREGATES and size > 1 for name, size in calls)
    )
    if count and (len(items) > 1 or aggregate):
        raise compiler.fail(
            "COUNT() must be the only item of the SELECT list and cannot be used with GROUP "
            "BY; use COUNT(Id) with other fields or groups."
        )
    if (count or aggregate) and role != "top":
        raise compiler.fail("Aggregate functions and GROUP BY are not supported in subqueries")
    query = Query(
        obj, count, [], None, limit=limit, offset=offset, aggregate=aggregate, relation=relation
    )
    if aggregate:
        _compile_aggregate(compiler, parts, items, query)
    else:
        _compile_records(compiler, parts, items, query, role)
    if "where_clause" in parts:
        query.where = compiler.condition(parts["where_clause"].children[0])
    query.semijoins = compiler.semijoins
    if role == "semi":
        _check_semi(compiler, query, parent)
    return query


def _compile_records(
    compiler: _Compiler, parts: dict[str, Tree], items: list[Tree], query: Query, role: str
) -> None:
    unbounded = False
    for item in items:
        if item.data == "subquery_item":
            if role == "semi":
                raise compiler.fail("Semi join sub-selects cannot hold subqueries")
            sub = _child_query(compiler, item, query)
            query.subqueries.append(sub)
            query.columns.append(sub)
            continue
        if len(item.children) > 1:
            raise compiler.fail("Only aggregate expressions use field aliasing")
        if item.data == "field_item":
            path = compiler.path(item.children[0])
            query.paths.append(path)
            query.columns.append(path)
            continue
        call = item.children[0]
        name = str(call.children[0]).upper()
        if name == "COUNT" and len(call.children) == 1:
            continue
        if name != "FIELDS":
            compiler.aggregate(call)  # raises: an unknown function
        paths, wide = compiler.fields_function(call)
        unbounded = unbounded or wide
        query.paths.extend(paths)
        query.columns.extend(paths)
    if unbounded and (query.limit is None or query.limit > FIELDS_LIMIT):
        raise compiler.fail(f"The SOQL FIELDS function must have a LIMIT of at most {FIELDS_LIMIT}")
    _check_selected_once(compiler, query)
    for item in parts["order_clause"].children if "order_clause" in parts else []:
        get, _ = compiler.operand(item.children[0], grouped=False)
        query.order.append((get, *_direction(item)))


def _child_query(compiler: _Compiler, item: Tree, query: Query) -> ChildQuery:
    """A child relationship subquery of the SELECT list, e.g. (SELECT Id FROM Contacts)."""
    child = _compile(
        compiler.text,
        compiler.store,
        item.children[0],
        "child",
        compiler.depth + 1,
        query.sobject,
    )
    assert child.relation is not None
    name, fld = child.relation
    return ChildQuery(name, fld, child)


def _check_selected_once(compiler: _Compiler, query: Query) -> None:
    """No field and no subquery is selected twice."""
    seen: set[str] = set()
    for path in query.paths:
        if path.text.lower() in seen:
            raise compiler.fail(f"duplicate field selected: {path.text}", "INVALID_FIELD")
        seen.add(path.text.lower())
    names = [s.name.lower() for s in query.subqueries]
    for name in names:
        if names.count(name) > 1 or name in seen:
            raise compiler.fail(f"duplicate field selected: {name}", "INVALID_FIELD")


def _group_by(compiler: _Compiler, parts: dict[str, Tree], query: Query) -> None:
    """The GROUP BY paths, each of a type Salesforce groups by."""
    for path_tree in parts["group_clause"].children if "group_clause" in parts else []:
        path = compiler.path(path_tree)
        if path.final.type in _GROUP_TYPES_REFUSED:
            raise compiler.fail(
                f"field '{path.final_name}' can not be grouped in a query call", "INVALID_FIELD"
            )
        compiler.grouped[path.key] = path
        query.group_by.append((compiler.getter(path), path.final))


def _compile_aggregate(
    compiler: _Compiler, parts: dict[str, Tree], items: list[Tree], query: Query
) -> None:
    _group_by(compiler, parts, query)
    if "limit_clause" in parts and not compiler.grouped:
        raise compiler.fail(
            "An aggregate query with LIMIT needs a GROUP BY clause (Salesforce: 'You must use "
            "a GROUP BY clause if your query has a LIMIT clause and an aggregated function')"
        )
    unnamed = 0
    for item in items:
        if item.data == "subquery_item":
            raise compiler.fail(
                "Child relationship subqueries cannot be used in a query with GROUP BY or "
                "aggregate functions"
            )
        alias = str(item.children[1].children[0]) if len(item.children) > 1 else None
        if item.data == "field_item":
            path = compiler.path(item.children[0])
            if path.key not in compiler.grouped:
                raise compiler.fail(f"Field must be grouped or aggregated: {path.text}")
            get = compiler.getter(path)
            query.outputs.append(Column(alias or path.final_name, _of_first_row(get)))
            continue
        call = item.children[0]
        if str(call.children[0]).upper() == "FIELDS":
            raise compiler.fail(
                "FIELDS() cannot be used in a query with GROUP BY or aggregate functions"
            )
        value, _ = compiler.aggregate(call)
        if alias is None:
            alias = f"expr{unnamed}"
            unnamed += 1
        query.outputs.append(Column(alias, value))
    seen: set[str] = set()
    for column in query.outputs:
        if column.name.lower() in seen:
            raise compiler.fail(f"duplicate alias: {column.name}")
        seen.add(column.name.lower())
    if "having_clause" in parts:
        query.having = compiler.condition(parts["having_clause"].children[0], grouped=True)
    for item in parts["order_clause"].children if "order_clause" in parts else []:
        get, _ = compiler.operand(
            item.children[0], grouped=True, ungrouped="Ordered field must be grouped or aggregated"
        )
        query.order.append((get, *_direction(item)))


def _of_first_row(get: Callable[[Row], Any]) -> Callable[[list[Row]], Any]:
    """A grouped field's value: the same on every row of the group, so the first row's."""

    def value(rows: list[Row]) -> Any:
        return get(rows[0]) if rows else None

    return value


def _direction(item: Tree) -> tuple[bool, bool]:
    desc = False
    nulls_last = None
    for extra in map(_token, item.children[1:]):
        if extra.type == "DIRECTION":
            desc = extra.lower() == "desc"
        else:
            nulls_last = extra.lower().endswith("last")
    return desc, desc if nulls_last is None else nulls_last


def _check_semi(compiler: _Compiler, query: Query, outer: SObject | None) -> None:
    if outer is not None and query.sobject.name == outer.name:
        raise compiler.fail("The inner and outer selects should not be on the same object type")
    if query.count or query.subqueries or len(query.paths) != 1:
        raise compiler.fail(
            "A semi join sub-select must select exactly one Id or reference "
            "field, e.g. (SELECT WhoId FROM Task)"
        )
    path = query.paths[0]
    if path.hops or path.final.type not in {"id", "reference"}:
        raise compiler.fail(
            f"semi join sub selects can only query id fields, cannot use: '{path.text}'"
        )
    if query.order or query.limit is not None or query.offset:
        raise compiler.fail("ORDER BY, LIMIT and OFFSET are not supported in semi join sub-selects")


def parse(text: str, store: Store) -> Query:
    """Parse and check a SOQL query; raise SalesforceError the way Salesforce words it."""
    try:
        tree = _PARSER.parse(text)
    except UnexpectedCharacters as exc:
        token = text[exc.pos_in_stream :].split()[0] if text[exc.pos_in_stream :].split() else ""
        raise _malformed(text, exc.line, exc.column, f"unexpected token: '{token}'") from None
    except UnexpectedInput as exc:
        unexpected = getattr(exc, "token", None)
        if unexpected is None or getattr(unexpected, "type", "") == "$END":
            raise _malformed(text, 1, len(text) + 1, "unexpected token: <EOF>") from None
        raise _malformed(
            text,
            getattr(unexpected, "line", 1) or 1,
            getattr(unexpected, "column", 1) or 1,
            f"unexpected token: '{unexpected}'",
        ) from None
    except LarkError as exc:
        raise SalesforceError("MALFORMED_QUERY", f"\n{text}\n{exc}") from None
    try:
        tree = _Values().transform(tree)
    except VisitError as exc:
        raise SalesforceError("MALFORMED_QUERY", f"\n{text}\n{exc.orig_exc}") from None
    return _compile(text, store, tree.children[0])


def _matching(query: Query, store: Store, include_deleted: bool) -> list[Row]:
    for join in query.semijoins:
        name = join.query.paths[0].final_name
        join.values = {
            v for r in _matching(join.query, store, False) if (v := r.get(name)) is not None
        }
    rows = store.records[query.sobject.name].values()
    where = query.where
    if include_deleted:
        return [r for r in rows if where is None or where(r)]
    return [r for r in rows if not r.get("IsDeleted") and (where is None or where(r))]


def _sort(query: Query, items: list[Any]) -> None:
    for get, desc, nulls_last in reversed(query.order):

        def key(
            item: Any, get: Getter = get, nulls_last: bool = nulls_last, desc: bool = desc
        ) -> tuple:
            value = get(item)
            if isinstance(value, str):
                value = value.lower()
            if value is None:
                # With reverse=True the rank flips, so compensate for descending sorts.
                return (0 if nulls_last == desc else 1, 0)
            return (1 if nulls_last == desc else 0, value)

        items.sort(key=key, reverse=desc)


def _window(query: Query, items: list[Any]) -> list[Any]:
    if query.offset:
        items = items[query.offset :]
    if query.limit is not None:
        items = items[: query.limit]
    return items


def execute(query: Query, store: Store, include_deleted: bool = False) -> list[dict[str, Any]]:
    """Answer the matching records (raw store dicts), ordered, limited and offset.

    For an aggregate query the AggregateResult rows, already shaped.
    """
    matched = _matching(query, store, include_deleted)
    if query.aggregate:
        return _aggregate(query, matched)
    _sort(query, matched)
    return _window(query, matched)


def _aggregate(query: Query, rows: list[Row]) -> list[Row]:
    if query.group_by:
        groups: dict[tuple, list[Row]] = {}
        keys = query.group_by
        for row in rows:
            groups.setdefault(tuple(_Compiler._key(f, g(row)) for g, f in keys), []).append(row)
        batches = list(groups.values())
    else:
        batches = [rows]  # no GROUP BY: one result row, even over no records
    if query.having is not None:
        batches = [b for b in batches if query.having(b)]
    _sort(query, batches)
    return [
        {
            "attributes": {"type": "AggregateResult"},
            **{column.name: column.value(batch) for column in query.outputs},
        }
        for batch in _window(query, batches)
    ]


def _put(out: Row, path: Path, record: Row, store: Store, version: str) -> None:
    if not path.hops:
        out[path.final_name] = record.get(path.final_name)
        return
    target: Row = out
    current: Row | None = record
    for hop in path.hops:
        target_id = current.get(hop.name) if current else None
        found = store.lookup(target_id) if target_id else None
        key = hop.relationship_name or hop.name
        if found is None:
            target[key] = None
            return
        existing = target.get(key)
        if not isinstance(existing, dict):
            existing = {
                "attributes": {
                    "type": found[0].name,
                    "url": f"/services/data/v{version}/sobjects/{found[0].name}/{target_id}",
                }
            }
            target[key] = existing
        target = existing
        current = found[1]
    if current is not None:
        target[path.final_name] = current.get(path.final_name)


def _children(sub: ChildQuery, store: Store) -> dict[str, list[Row]]:
    """The children matching a subquery, by parent id, each list ordered and limited."""
    matched = _matching(sub.query, store, False)
    _sort(sub.query, matched)
    by_parent: dict[str, list[Row]] = {}
    name = sub.field.name
    for row in matched:
        parent = row.get(name)
        if parent is not None:
            by_parent.setdefault(parent, []).append(row)
    if sub.query.offset or sub.query.limit is not None:
        by_parent = {k: _window(sub.query, v) for k, v in by_parent.items()}
    return by_parent


def shape_many(query: Query, store: Store, records: list[Row], version: str) -> list[Row]:
    """Records as the REST query answer shows them (child subqueries resolved once)."""
    if query.aggregate:
        return list(records)
    name = query.sobject.name
    base = f"/services/data/v{version}/sobjects/{name}/"
    children = {id(sub): _children(sub, store) for sub in query.subqueries}
    out = []
    for record in records:
        row: Row = {"attributes": {"type": name, "url": base + record["Id"]}}
        if not children:
            for path in query.paths:
                _put(row, path, record, store, version)
            out.append(row)
            continue
        for column in query.columns:
            if isinstance(column, Path):
                _put(row, column, record, store, version)
                continue
            kids = children[id(column)].get(record["Id"])
            row[column.name] = (
                None
                if not kids
                else {
                    "totalSize": len(kids),
                    "done": True,
                    "records": shape_many(column.query, store, kids, version),
                }
            )
        out.append(row)
    return out


def shape(query: Query, store: Store, record: dict[str, Any], version: str) -> dict[str, Any]:
    """One record as the REST query answer shows it (an aggregate row as it is)."""
    if query.aggregate:
        return record
    return shape_many(query, store, [record], version)[0]
