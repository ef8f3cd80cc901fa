"""The filter grammar: what parses into which typed terms, and the one-line errors for the rest.
No database here; the SQL produced is checked for bound values only."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repository.query import FIELDS, FilterError, parse_filter
from repository.query.sql import where_sql
from repository.query.terms import (
    And,
    CompareOp,
    Comparison,
    Has,
    HasMode,
    Known,
    Match,
    MatchKind,
    Membership,
    Not,
    Or,
)


def field_names(term) -> list[str]:
    return [f.name for f in parse_filter(term).fields]


def test_the_headline_filter_becomes_three_typed_comparisons():
    flt = parse_filter("element = B and defect.name = v_N and absorber.defect_distance < 3")
    assert isinstance(flt.term, And)
    assert [(t.field.name, t.op, t.value) for t in flt.term.terms] == [
        ("absorbing_element", CompareOp.eq, "B"), ("defect_name", CompareOp.eq, "v_N"),
        ("absorber_defect_distance_a", CompareOp.lt, 3)]


@pytest.mark.parametrize("spec", FIELDS, ids=[f.name for f in FIELDS])
def test_every_alias_names_the_same_field(spec):
    value = '"B"' if spec.type.value == "elements" else ("1" if spec.type.numeric else '"x"')
    if spec.name == "edge" or spec.choices:  # closed vocabularies refuse a value they never hold
        value = '"K"' if spec.name == "edge" else f'"{spec.choices[0]}"'
    op = "has" if spec.type.value == "elements" else "="
    for name in (spec.name, *spec.aliases, spec.name.upper()):
        assert parse_filter(f"{name} {op} {value}").fields == (spec,)


@pytest.mark.parametrize("text, op", [("=", "="), ("==", "="), ("!=", "!="), ("<>", "!="), ("<", "<"),
                                      ("<=", "<="), (">", ">"), (">=", ">=")])
def test_every_comparison_operator(text, op):
    term = parse_filter(f"absorber.cn {text} 3").term
    assert isinstance(term, Comparison) and term.op.value == op and term.value == 3


def test_keywords_are_case_insensitive():
    lower = parse_filter("not element = B and polarization in (x) or formula like 'b%'")
    upper = parse_filter("NOT element = B AND polarization IN (x) OR formula LIKE 'b%'")
    assert lower.term == upper.term


def test_and_binds_tighter_than_or_and_parentheses_override():
    term = parse_filter("element = B or element = N and absorber.cn = 3").term
    assert isinstance(term, Or) and isinstance(term.terms[1], And)
    term = parse_filter("(element = B or element = N) and absorber.cn = 3").term
    assert isinstance(term, And) and isinstance(term.terms[0], Or)
    term = parse_filter("not element = B and absorber.cn = 3").term
    assert isinstance(term, And) and isinstance(term.terms[0], Not)


def test_membership_pattern_has_and_nullness_terms():
    assert parse_filter("polarization in (x, 'z', \"iso\")").term == Membership(
        parse_filter("polarization = x").term.field, ("x", "z", "iso"))
    assert parse_filter("absorber.cn not in (2, 3)").term.negated
    assert parse_filter("formula like 'B%'").term.kind is MatchKind.like
    assert parse_filter("formula not like 'B%'").term.negated
    assert parse_filter("formula contains N7").term.kind is MatchKind.contains
    assert parse_filter("formula starts with B").term.kind is MatchKind.starts
    assert parse_filter("formula starts B").term.kind is MatchKind.starts
    assert parse_filter("formula ends with N7").term.kind is MatchKind.ends
    has = parse_filter('elements HAS ALL "B","N"').term
    assert isinstance(has, Has) and has.mode is HasMode.all and has.values == ("B", "N")
    assert parse_filter("elements has any b, n").term.mode is HasMode.any
    assert parse_filter("elements has only B").term.mode is HasMode.only
    assert parse_filter("elements has B").term.mode is HasMode.all
    assert parse_filter("defect.name is null").term == Known(parse_filter("defect.name = x").term.field, False)
    assert parse_filter("defect.name is unknown").term.known is False
    assert parse_filter("defect.name is known").term.known is True
    assert parse_filter("defect.name is not null").term.known is True
    assert isinstance(parse_filter("defect.name = v_N").term, Comparison)
    assert isinstance(parse_filter("formula like x").term, Match)


def test_values_keep_their_types_and_edges_and_elements_are_normalised():
    assert parse_filter("absorber.defect_distance < 2.5").term.value == 2.5
    assert parse_filter("absorber.defect_distance < -1e-3").term.value == -0.001
    assert parse_filter("defect.charge = -1").term.value == -1
    assert parse_filter("edge = k").term.value == "K"
    assert parse_filter("edge = l3").term.value == "L3"
    assert parse_filter("element = si").term.value == "Si"
    assert parse_filter("polymorph = h-BN").term.value == "h-BN"
    assert parse_filter("spacegroup_symbol = P6_3/mmc").term.value == "P6_3/mmc"
    assert parse_filter(r'sample.name = "say \"hi\" \\ ok"').term.value == 'say "hi" \\ ok'


def test_unknown_field_is_one_line_listing_every_valid_field():
    with pytest.raises(FilterError) as err:
        parse_filter("defect.nmae = v_N")
    message = str(err.value)
    assert "\n" not in message and "unknown field 'defect.nmae'" in message and "did you mean defect.name" in message
    assert all(spec.name in message for spec in FIELDS)


@pytest.mark.parametrize("text, expected", [
    ("absorber.cn = abc", "absorber_cn expects an integer, got 'abc'"),
    ("absorber.defect_distance < 'near'", "absorber_defect_distance_a expects a number"),
    ("element = 5", "absorbing_element expects a string"),
    ("element = 'Boron'", "element symbols"),
    ("crystal_system < 3", "< needs a numeric field; crystal_system holds a string"),
    ("absorber.cn like '3%'", "LIKE needs a text field; absorber_cn holds an integer"),
    ("formula contains 7", "CONTAINS needs a string pattern"),
    ("elements = 'B,N'", "elements holds element symbols"),
    ("defect.name has B", "HAS needs a field of element symbols"),
    ("elements has 5", "element symbols"),
    ("absorber.cn in (2, three)", "absorber_cn expects an integer"),
])
def test_type_mismatch_is_one_line_naming_the_expected_type(text, expected):
    with pytest.raises(FilterError) as err:
        parse_filter(text)
    assert "\n" not in str(err.value) and "type mismatch" in str(err.value) and expected in str(err.value)


@pytest.mark.parametrize("text", ["", "   ", "element =", "element = B and", "(element = B", "element ~ B",
                                  "element = B)", "= B", "element = B element = N", "element in ()",
                                  "elements has all", "element = 'unterminated"])
def test_syntax_errors_are_one_line_filter_errors(text):
    with pytest.raises(FilterError) as err:
        parse_filter(text)
    assert "\n" not in str(err.value)


def test_terms_are_immutable():
    flt = parse_filter("element = B and absorber.cn in (2, 3)")
    with pytest.raises(dataclasses.FrozenInstanceError):
        flt.term.terms[0].value = "N"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        flt.text = "x"  # type: ignore[misc]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40).map(lambda v: v.replace("\x00", "")))  # NUL: refused, see below
def test_any_quoted_string_reaches_the_sql_only_as_a_bound_parameter(value):
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    flt = parse_filter(f"defect.name = {quoted} or sample.name like {quoted}")
    sql, params = where_sql(flt)
    assert list(params.values()) == [value, value.lower()]
    assert sql == "((defect_name = :p0) OR (LOWER(sample_name) LIKE :p1))"


@pytest.mark.parametrize("text", ['defect.name = "v\x00N"', "sample.name like '\x00'", "element = B\x00"])
def test_a_nul_character_anywhere_in_a_filter_is_refused_before_it_reaches_a_driver(text):
    from repository.query import FilterError

    with pytest.raises(FilterError, match=r"NUL character \(\\x00\) at column \d+") as err:
        parse_filter(text)
    assert "\n" not in str(err.value)


def test_each_dialect_binds_values_and_names_only_allowlisted_columns():
    flt = parse_filter("formula contains \"'; DROP TABLE x; --\" and elements has only B, N")
    for dialect in ("sqlite", "postgresql", "duckdb"):
        sql, params = where_sql(flt, dialect)
        assert "DROP" not in sql and "'; DROP TABLE x; --" in params.values()


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60),
                 st.lists(st.sampled_from(["element", "absorber.cn", "elements", "=", "<", "in", "(", ")", ",",
                                           "not", "and", "or", "has", "all", "like", "is", "null", "'B'", "3",
                                           "-2.5e3", "v_N", "starts", "with", ";", "--", "'"]),
                          max_size=12).map(" ".join)))
def test_any_text_either_parses_or_is_a_one_line_filter_error(text):
    try:
        flt = parse_filter(text)
    except FilterError as err:
        assert "\n" not in str(err)
    else:
        where_sql(flt)


def test_deep_nesting_and_endless_conditions_are_refused_before_any_sql():
    with pytest.raises(FilterError, match="nested"):
        parse_filter("not " * 200 + "element = B")
    with pytest.raises(FilterError, match="conditions"):
        parse_filter(" or ".join(f"id={i}" for i in range(600)))


def test_integers_beyond_64_bits_compare_as_numbers():
    assert parse_filter("spectrum_id < 99999999999999999999").term.value == 1e20
