"""Parsing filter text into typed terms, with a lark LALR grammar.

Grammar (keywords are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | predicate
    predicate  := field OP value                      OP: = == != <> < <= > >=
                | field ["not"] "in" "(" value, ... ")"
                | field ["not"] "like" value          SQL wildcards % and _, case-insensitive
                | field "contains" value | field "starts" ["with"] value | field "ends" ["with"] value
                | field "has" ["all" | "any" | "only"] value, ...     (elements only)
                | field "is" ["not"] ("null" | "known" | "unknown")
    field      := name ("." name)*                    e.g. absorber.cn, defect.name
    value      := "double quoted" | 'single quoted' | number | bare-word (v_N, h-BN, P6_3/mmc)

Names are checked against :mod:`repository.query.fields` and values against the field's type
while the tree is built, so a :class:`~repository.query.terms.Filter` is always valid.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import sys
from functools import lru_cache
from pathlib import Path

from ..conventions import did_you_mean, parse_edge
from ..errors import UsageError
from .fields import FIELD_INDEX, FIELDS, FieldSpec, FieldType
from .terms import (
    And,
    CompareOp,
    Comparison,
    Filter,
    Has,
    HasMode,
    Known,
    Match,
    MatchKind,
    Membership,
    Not,
    Or,
    Term,
)

GRAMMAR = r"""
?start: or_expr

?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr          -> negation
         | "(" or_expr ")"
         | predicate

?predicate: field COMP_OP value                               -> comparison
          | field _IN "(" value ("," value)* ")"              -> member
          | field _NOT _IN "(" value ("," value)* ")"         -> not_member
          | field _LIKE value                                 -> like
          | field _NOT _LIKE value                            -> not_like
          | field _CONTAINS value                             -> contains
          | field _STARTS _WITH? value                        -> starts
          | field _ENDS _WITH? value                          -> ends
          | field _HAS HAS_MODE? value ("," value)*           -> has
          | field _IS NULLNESS                                -> is_
          | field _IS _NOT NULLNESS                           -> is_not

field: NAME ("." NAME)*

?value: STRING_DQ  -> string_dq
      | STRING_SQ  -> string_sq
      | NUMBER     -> number
      | BARE       -> bare

COMP_OP: "==" | "=" | "!=" | "<>" | "<=" | ">=" | "<" | ">"
HAS_MODE.2: "all"i | "any"i | "only"i
NULLNESS.2: "null"i | "known"i | "unknown"i
_OR.2: "or"i
_AND.2: "and"i
_NOT.2: "not"i
_IN.2: "in"i
_LIKE.2: "like"i
_CONTAINS.2: "contains"i
_STARTS.2: "starts"i
_ENDS.2: "ends"i
_WITH.2: "with"i
_HAS.2: "has"i
_IS.2: "is"i

NAME: /[A-Za-z_][A-Za-z0-9_]*/
BARE: /[A-Za-z_][A-Za-z0-9_+\-\/]*/
STRING_DQ: /"(\\.|[^"\\])*"/
STRING_SQ: /'(\\.|[^'\\])*'/
NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/

%import common.WS
%ignore WS
"""

MAX_FILTER_LENGTH = 10_000
# Limits that every backend accepts (measured with bench/filter_depth.py; docs/sql.md "Limits"):
# SQLite's parser gives up near 30 nested parenthesised and/or levels, PostgreSQL and DuckDB
# take hundreds; the compiler flattens same-kind and/or and drops double negations, so only
# real alternations count.
MAX_NESTING = 25  # levels of not/and/or below each other
MAX_CONDITIONS = 500  # leaf conditions, each value of `has` counting as one (SQLite: expression depth 1000)
INT64_MAX = 2**63 - 1
MAX_NUMBER_LENGTH = 40  # characters of a number literal (a double has 17 significant digits)


class FilterError(UsageError):
    """A filter that does not parse, names an unknown field or compares a field with the wrong type."""


def _cache_file() -> str | bool:
    """Where lark keeps the built LALR tables: a per-user cache folder (not the shared temp folder,
    since lark unpickles the file), keyed by grammar, lark and Python versions. False: no cache."""
    # lazy import: start-up time (lark is heavy; only this path needs it)
    import lark

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = hashlib.sha256(f"{GRAMMAR}{lark.__version__}{sys.version_info[:2]}".encode()).hexdigest()[:20]
    folder = Path(base) / "xasrepo"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return False
    return str(folder / f"filter-grammar-{key}.lark")


@lru_cache(maxsize=1)
def _parser():
    # lazy import: start-up time (lark is heavy; only this path needs it)
    from lark import Lark

    # A cached parser saves ~0.1 s per process; lark rebuilds it if the file is missing or stale.
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=False, maybe_placeholders=False,
                cache=_cache_file())


def valid_fields_text(fields: tuple[FieldSpec, ...] = FIELDS) -> str:
    """The field names, comma separated, as error messages list them."""
    return ", ".join(spec.name for spec in fields)


def resolve_field(name: str, index: dict[str, FieldSpec] = FIELD_INDEX,
                  fields: tuple[FieldSpec, ...] = FIELDS) -> FieldSpec:
    """The allowlisted field called ``name`` (any spelling, case-insensitive) or a FilterError."""
    spec = index.get(name.lower())
    if spec is None:
        close = difflib.get_close_matches(name.lower(), list(index), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise FilterError(f"unknown field {name!r}{hint}; valid fields: {valid_fields_text(fields)}")
    return spec


def _unquote(text: str) -> str:
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            i += 1
            char = {"n": "\n", "t": "\t"}.get(body[i], body[i])
        out.append(char)
        i += 1
    return "".join(out)


class _Literal:
    """A value from the filter text before it is checked against a field's type."""

    __slots__ = ("text", "value")

    def __init__(self, value, text: str):
        self.value, self.text = value, text


def _mismatch(spec: FieldSpec, literal: _Literal) -> FilterError:
    return FilterError(f"type mismatch: {spec.name} expects {spec.type.description}, got {literal.text}")


def _element_symbol(spec: FieldSpec, literal: _Literal) -> str:
    value = literal.value
    if not isinstance(value, str) or not value.isascii() or not value.isalpha() or not 1 <= len(value) <= 3:
        raise FilterError(f"type mismatch: {spec.name} expects element symbols such as \"B\", got {literal.text}")
    return value[0].upper() + value[1:].lower()


def _typed(spec: FieldSpec, literal: _Literal):
    """``literal`` as a value of ``spec``'s type (normalising edges and element symbols)."""
    value = literal.value
    if spec.type.numeric:
        if isinstance(value, int) and abs(value) > INT64_MAX:
            return float(value)  # beyond every integer column; compare as a number
        if isinstance(value, (int, float)):
            return value
        raise _mismatch(spec, literal)
    if spec.type is FieldType.elements:
        return _element_symbol(spec, literal)
    if not isinstance(value, str):
        raise _mismatch(spec, literal)
    if spec.name == "absorbing_element":
        return _element_symbol(spec, literal)
    if spec.name == "edge":
        try:
            return str(parse_edge(value).value)
        except ValueError as exc:  # not an XDI edge name: it could never match
            raise FilterError(f"edge: {exc}") from None
    if spec.choices:
        return _choice(spec, literal)
    return value


def _choice(spec: FieldSpec, literal: _Literal) -> str:
    """A value of a closed vocabulary (``spec.choices``) as the vocabulary spells it, matched
    case-insensitively with ``-``/space for ``_``; a FilterError (with a "did you mean") otherwise."""
    wanted = str(literal.value).strip().lower().replace("-", "_").replace(" ", "_")
    for choice in spec.choices:
        if choice.lower() == wanted:
            return choice
    guess = did_you_mean(str(literal.value), spec.choices)
    hint = f"did you mean {guess!r}? " if guess else ""
    raise FilterError(f"{spec.name} can never be {literal.text} ({hint}it is one of {', '.join(spec.choices)})")


def _build(tree, index: dict[str, FieldSpec], fields: tuple[FieldSpec, ...]) -> Term:
    # lazy import: start-up time (lark is heavy; only this path needs it)
    from lark import Token, Tree

    def literal(node) -> _Literal:
        kind, token = node.data, node.children[0]
        text = str(token)
        if kind == "number":
            if len(text) > MAX_NUMBER_LENGTH:
                raise FilterError(f"number {text[:20]}... is longer than {MAX_NUMBER_LENGTH} characters")
            is_int = all(c.isdigit() or c in "+-" for c in text)
            number = int(text) if is_int else float(text)
            if isinstance(number, float) and not math.isfinite(number):
                raise FilterError(f"number {text} is out of range (beyond about 1.8e308)")
            return _Literal(number, text)
        if kind == "bare":
            return _Literal(text, repr(text))
        return _Literal(_unquote(text), text)

    def field_of(node) -> FieldSpec:
        return resolve_field(".".join(str(t) for t in node.children), index, fields)

    def text_only(spec: FieldSpec, operator: str) -> None:
        if spec.type is not FieldType.text:
            raise FilterError(f"type mismatch: {operator} needs a text field; {spec.name} holds {spec.type.description}")

    def no_elements(spec: FieldSpec, operator: str) -> None:
        if spec.type is FieldType.elements:
            raise FilterError(f"type mismatch: {spec.name} holds {spec.type.description}, not {operator}")

    conditions = 0

    def walk(node, depth: int = 0) -> Term:
        nonlocal conditions
        assert isinstance(node, Tree), node
        if depth > MAX_NESTING:
            raise FilterError(f"filter nested more than {MAX_NESTING} levels deep")
        kind, kids = node.data, node.children
        if kind == "or_expr":
            return Or(tuple(walk(k, depth + 1) for k in kids))
        if kind == "and_expr":
            return And(tuple(walk(k, depth + 1) for k in kids))
        if kind == "negation":
            return Not(walk(kids[0], depth + 1))
        conditions += 1
        if conditions > MAX_CONDITIONS:
            raise FilterError(f"filter has more than {MAX_CONDITIONS} conditions (use `field in (...)` for lists)")
        spec = field_of(kids[0])
        if kind == "comparison":
            op_text = {"==": "=", "<>": "!="}.get(str(kids[1]), str(kids[1]))
            op = CompareOp(op_text)
            no_elements(spec, op_text)
            if op not in (CompareOp.eq, CompareOp.ne) and not spec.type.numeric:
                raise FilterError(f"type mismatch: {op_text} needs a numeric field; {spec.name} holds "
                                  f"{spec.type.description} (use =, !=, in, like, contains, starts with)")
            return Comparison(spec, op, _typed(spec, literal(kids[2])))
        if kind in ("member", "not_member"):
            no_elements(spec, "in (...)")
            values = tuple(_typed(spec, literal(k)) for k in kids[1:])
            return Membership(spec, values, negated=kind == "not_member")
        if kind in ("like", "not_like", "contains", "starts", "ends"):
            match_kind = {"like": MatchKind.like, "not_like": MatchKind.like, "contains": MatchKind.contains,
                          "starts": MatchKind.starts, "ends": MatchKind.ends}[kind]
            text_only(spec, match_kind.value)
            pattern = literal(kids[1])
            if not isinstance(pattern.value, str):
                raise FilterError(f"type mismatch: {match_kind.value} needs a string pattern, got {pattern.text}")
            return Match(spec, match_kind, pattern.value, negated=kind == "not_like")
        if kind == "has":
            if spec.type is not FieldType.elements:
                raise FilterError(f"type mismatch: HAS needs a field of element symbols (elements); "
                                  f"{spec.name} holds {spec.type.description}")
            rest = kids[1:]
            mode = HasMode.all
            if rest and isinstance(rest[0], Token):
                mode = HasMode(str(rest[0]).upper())
                rest = rest[1:]
            symbols = tuple(dict.fromkeys(_element_symbol(spec, literal(k)) for k in rest))  # repeats add nothing
            conditions += len(symbols) - 1
            if conditions > MAX_CONDITIONS:
                raise FilterError(f"filter has more than {MAX_CONDITIONS} conditions (each value of `has` counts)")
            return Has(spec, mode, symbols)
        if kind in ("is_", "is_not"):
            nullness = str(kids[1]).lower()
            known = nullness in ("known",) if nullness != "null" else False
            if nullness == "unknown":
                known = False
            if kind == "is_not":
                known = not known
            return Known(spec, known)
        raise AssertionError(f"unhandled grammar rule {kind}")  # pragma: no cover

    return walk(tree)


def parse_filter(text: str, *, index: dict[str, FieldSpec] = FIELD_INDEX,
                 fields: tuple[FieldSpec, ...] = FIELDS) -> Filter:
    """Parse and validate a filter such as ``element = B and defect.name = v_N and absorber.defect_distance < 3``.

    Raises :class:`FilterError` (one line) for a syntax error, an unknown field (listing the valid
    fields) or a value of the wrong type (naming the expected type).
    """
    # lazy import: start-up time (lark is heavy; only this path needs it)
    from lark.exceptions import (
        UnexpectedCharacters,
        UnexpectedEOF,
        UnexpectedInput,
        UnexpectedToken,
    )

    if not isinstance(text, str) or not text.strip():
        raise FilterError("empty filter; example: element = B and defect.name = v_N")
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"filter longer than {MAX_FILTER_LENGTH} characters")
    if "\x00" in text:
        raise FilterError(f"filter contains a NUL character (\\x00) at column {text.index(chr(0)) + 1}; "
                          "remove it")
    try:
        tree = _parser().parse(text)
    except UnexpectedEOF:
        raise FilterError(f"filter syntax error: {text!r} ends too early") from None
    except UnexpectedToken as err:
        token = "end of filter" if err.token.type == "$END" else repr(str(err.token))
        raise FilterError(f"filter syntax error at column {err.column}: unexpected {token} in {text!r}") from None
    except UnexpectedCharacters as err:
        raise FilterError(f"filter syntax error at column {err.column}: unexpected {text[err.pos_in_stream]!r} "
                          f"in {text!r}") from None
    except UnexpectedInput as err:  # pragma: no cover - other lark errors
        raise FilterError(f"filter syntax error: {err}") from None
    return Filter(text, _build(tree, index, fields))
