"""Compiling filter terms to an SQL WHERE clause with bound parameters.

Column names come only from the field allowlist; every value from the filter becomes a named
parameter (``:p0``, ``:p1``...). Three dialects are supported: ``sqlite``, ``postgresql`` and
``duckdb`` (for snapshot Parquet files).

Semantics, the same on every backend:

* a comparison with an unknown (NULL) value is false, so ``defect.name != v_N`` does not match
  spectra without a defect; ``not`` is the exact complement of what it negates
  (``not defect.name = v_N`` matches them);
* ``like`` uses SQL wildcards (``%`` any run, ``_`` one character) and ignores case;
  ``contains``, ``starts with`` and ``ends with`` match literally and respect case;
* ``elements has all "B","N"`` tests the set of elements of the structure; ``has only`` means
  no other elements;
* ``set`` (``calculation_set``) and ``set.id`` ask whether the spectrum is **in** a set that
  satisfies the comparison, through every calculation it is linked to (``spectrum_calculation``:
  a spectrum imported by two sets belongs to both), not only the calculation that brought it
  first, which is what the ``calculation_set`` column shows. So ``set = B`` finds the spectra B
  shares with an earlier set, ``set != A`` means "in some set other than A", and ``not set = A``
  means "not in A". Snapshot files (``duckdb``) hold the column only: there ``set`` is the first
  calculation's set.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .fields import FIELD_INDEX, FieldSpec
from .parser import FilterError, resolve_field
from .terms import (
    And,
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

DIALECTS = ("sqlite", "postgresql", "duckdb")


@dataclass
class _Params:
    values: dict[str, object] = field(default_factory=dict)

    def bind(self, value) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f":{name}"


def _text_param(dialect: str, placeholder: str) -> str:
    return placeholder if dialect == "sqlite" else f"CAST({placeholder} AS TEXT)"


def _flattened(term: And | Or) -> list[Term]:
    """The operands of nested terms of the same kind, in order: ``a and (b and c)`` -> a, b, c."""
    out: list[Term] = []
    for t in term.terms:
        out.extend(_flattened(t) if type(t) is type(term) else [t])
    return out


# Fields whose terms are answered through the spectrum's calculation links (see the module
# docstring): field name -> the column of the joined set row that the term compares.
SET_MEMBERSHIP_COLUMNS = {"calculation_set": "ls.name", "calculation_set_id": "ls.id"}
_SET_LINKS = ("SELECT lk.spectrum_id FROM spectrum_calculation lk "
              "JOIN calculation lc ON lc.id = lk.calculation_id "
              "JOIN calculation_set ls ON ls.id = lc.calculation_set_id")


def _set_membership(term: Term, dialect: str, params: _Params) -> str:
    """``spectrum_id [NOT] IN (the spectra linked to a set satisfying the term)``."""
    if isinstance(term, Known):      # in any set at all / in none
        return f"(spectrum_id {'' if term.known else 'NOT '}IN ({_SET_LINKS}))"
    inner = replace(term, field=replace(term.field, column=SET_MEMBERSHIP_COLUMNS[term.field.name]))
    return f"(spectrum_id IN ({_SET_LINKS} WHERE {_compile(inner, dialect, params)}))"


def _compile(term: Term, dialect: str, params: _Params) -> str:
    # Nesting is kept as shallow as the meaning allows, since database parsers have fixed stack
    # depths (SQLite's gives up near 100 parser states): same-kind and/or are flattened, and a
    # double negation is dropped. That is exact because every NOT below counts NULL as false, and
    # a WHERE clause does too, so NULL and FALSE can never be told apart.
    if isinstance(term, And):
        return "(" + " AND ".join(_compile(t, dialect, params) for t in _flattened(term)) + ")"
    if isinstance(term, Or):
        return "(" + " OR ".join(_compile(t, dialect, params) for t in _flattened(term)) + ")"
    if isinstance(term, Not):
        if isinstance(term.term, Not):
            return _compile(term.term.term, dialect, params)
        # NULL (unknown) counts as false before negating, so NOT is an exact complement.
        return f"({_compile(term.term, dialect, params)} IS NOT TRUE)"
    if dialect != "duckdb" and term.field.name in SET_MEMBERSHIP_COLUMNS and \
            term.field.column == term.field.name:
        return _set_membership(term, dialect, params)
    column = term.field.column
    if isinstance(term, Comparison):
        return f"({column} {term.op.value} {params.bind(term.value)})"
    if isinstance(term, Membership):
        placeholders = ", ".join(params.bind(v) for v in term.values)
        if term.negated:
            return f"({column} IS NOT NULL AND {column} NOT IN ({placeholders}))"
        return f"({column} IN ({placeholders}))"
    if isinstance(term, Match):
        if term.kind is MatchKind.like:
            sql = f"(LOWER({column}) LIKE {params.bind(term.pattern.lower())})"
            return f"({column} IS NOT NULL AND NOT {sql})" if term.negated else sql
        value = _text_param(dialect, params.bind(term.pattern))
        if term.kind is MatchKind.contains:
            function = "instr" if dialect == "sqlite" else "strpos"
            return f"({function}({column}, {value}) > 0)"
        if term.kind is MatchKind.starts:
            return f"(substr({column}, 1, length({value})) = {value})"
        return (f"(length({column}) >= length({value}) AND "
                f"substr({column}, length({column}) - length({value}) + 1) = {value})")
    if isinstance(term, Has):
        wrapped = f"(',' || {column} || ',')"
        tests = [f"({wrapped} LIKE {params.bind(f'%,{symbol},%')})" for symbol in term.values]
        if term.mode is HasMode.all:
            return "(" + " AND ".join(tests) + ")"
        if term.mode is HasMode.any:
            return "(" + " OR ".join(tests) + ")"
        present = " + ".join(f"(CASE WHEN {t} THEN 1 ELSE 0 END)" for t in tests)
        count = f"(length({column}) - length(replace({column}, ',', '')) + 1)"
        return f"({column} IS NOT NULL AND {column} <> '' AND {present} = {count})"
    if isinstance(term, Known):
        return f"({column} IS {'NOT ' if term.known else ''}NULL)"
    raise AssertionError(f"unknown term {term!r}")  # pragma: no cover


def where_sql(flt: Filter | None, dialect: str = "sqlite") -> tuple[str, dict[str, object]]:
    """``(sql, params)`` for a WHERE clause (without the keyword); ``("TRUE", {})`` for no filter."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}")
    if flt is None:
        return "TRUE" if dialect != "sqlite" else "1", {}
    params = _Params()
    return _compile(flt.term, dialect, params), params.values


@dataclass(frozen=True)
class SortKey:
    """One key of a ``--sort``: a field and its direction."""

    field: FieldSpec
    descending: bool = False

    def sql(self) -> str:
        return f"{self.field.column} {'DESC' if self.descending else 'ASC'}"


def parse_sort(text: str | None, index: dict[str, FieldSpec] = FIELD_INDEX, fields=None) -> tuple[SortKey, ...]:
    """``"absorber.cn:desc,spectrum_id"`` -> sort keys (allowlisted fields; ``:asc`` or ``:desc``)."""
    if not text:
        return ()
    keys = []
    for part in text.split(","):
        name, _, direction = part.strip().partition(":")
        direction = direction.strip().lower() or "asc"
        if direction not in ("asc", "desc"):
            raise FilterError(f"sort direction {direction!r} in {part.strip()!r}: use FIELD, FIELD:asc or FIELD:desc")
        spec = resolve_field(name.strip(), index, fields) if fields else resolve_field(name.strip(), index)
        keys.append(SortKey(spec, direction == "desc"))
    return tuple(keys)


def order_by_sql(keys: tuple[SortKey, ...], dialect: str, id_column: str = "spectrum_id") -> str:
    """ORDER BY clause; NULLs last on every backend; ties broken by spectrum id."""
    parts = []
    for key in keys:
        # SQLite sorts NULL first ascending, PostgreSQL last: say it explicitly for both.
        parts.append(f"({key.field.column} IS NULL) ASC")
        parts.append(key.sql())
    parts.append(f"{id_column} ASC")
    return "ORDER BY " + ", ".join(parts)
