"""Typed, immutable terms a filter is parsed into, before any SQL is written.

A :class:`Filter` holds the text it came from and one term tree. Leaves name a
:class:`~repository.query.fields.FieldSpec` from the allowlist and carry already type-checked
Python values; the SQL compiler turns values into bound parameters only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .fields import FieldSpec

Value = str | int | float


class CompareOp(StrEnum):
    """Comparison operators of the filter grammar."""

    eq = "="
    ne = "!="
    lt = "<"
    le = "<="
    gt = ">"
    ge = ">="


class MatchKind(StrEnum):
    """Text-matching operators of the filter grammar."""

    like = "LIKE"  # SQL wildcards % and _, case-insensitive
    contains = "CONTAINS"  # substring, case-sensitive
    starts = "STARTS WITH"
    ends = "ENDS WITH"


class HasMode(StrEnum):
    """How ``HAS`` matches a list field: ALL, ANY or ONLY of the values."""

    all = "ALL"
    any = "ANY"
    only = "ONLY"


@dataclass(frozen=True)
class Comparison:
    """``field OP value``."""

    field: FieldSpec
    op: CompareOp
    value: Value


@dataclass(frozen=True)
class Membership:
    """``field IN (values)`` (``NOT IN`` when negated)."""

    field: FieldSpec
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class Match:
    """``field LIKE/CONTAINS/STARTS WITH/ENDS WITH pattern`` (negated with NOT)."""

    field: FieldSpec
    kind: MatchKind
    pattern: str
    negated: bool = False


@dataclass(frozen=True)
class Has:
    """``field HAS ALL/ANY/ONLY (values)`` over a list field."""

    field: FieldSpec
    mode: HasMode
    values: tuple[str, ...]


@dataclass(frozen=True)
class Known:
    """``field IS KNOWN`` (not NULL) or, with ``known=False``, ``IS UNKNOWN`` (NULL)."""

    field: FieldSpec
    known: bool


@dataclass(frozen=True)
class And:
    """All of the terms."""

    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Or:
    """Any of the terms."""

    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Not:
    """The negation of a term."""

    term: Term


Leaf = Comparison | Membership | Match | Has | Known
Term = Leaf | And | Or | Not


def leaves(term: Term):
    """Every leaf term, depth first."""
    if isinstance(term, (And, Or)):
        for sub in term.terms:
            yield from leaves(sub)
    elif isinstance(term, Not):
        yield from leaves(term.term)
    else:
        yield term


@dataclass(frozen=True)
class Filter:
    """A parsed, validated filter: the original text and its term tree."""

    text: str
    term: Term

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        """The fields the filter reads, in order of first use, without repeats."""
        seen: dict[str, FieldSpec] = {}
        for leaf in leaves(self.term):
            seen.setdefault(leaf.field.name, leaf.field)
        return tuple(seen.values())
