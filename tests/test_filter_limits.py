"""Filter grammar limits (issue 17): filters within the documented limits (docs/query.md,
"Limits") run on every backend -- SQLite, PostgreSQL and DuckDB over snapshot rows -- and
anything beyond them is one line, exit code 2. Double negations and same-kind and/or nesting are
compiled away, so they do not count against a backend's parser depth; the results are checked
against the plain filter on the example set."""

import pyarrow as pa
import pytest

from repository import db
from repository.calcset import read_calcset
from repository.importer import import_calcset
from repository.query import FilterError, parse_filter, spectrum_ids
from repository.query.parser import MAX_CONDITIONS, MAX_NESTING, MAX_NUMBER_LENGTH
from repository.snapshots.parquet import filter_snapshot_rows

from .conftest import EXAMPLE_SET


def alternating(levels: int, leaf: str = "element = B") -> str:
    """``levels`` of parenthesised and/or alternating below each other (parser depth = levels)."""
    text = leaf
    for i in range(levels):
        text = f"defect.name = v_N {'and' if i % 2 else 'or'} ({text})"
    return text


def negated(levels: int) -> str:
    """not (a or not (b and not (...))): two parser levels per step."""
    text = "element = B"
    for i in range(levels):
        text = f"not (defect.name = v_N {'and' if i % 2 else 'or'} {text})"
    return text


def _depth(text: str) -> int:
    """The smallest nesting limit at which ``text`` parses (the parser's own count)."""
    import repository.query.parser as parser

    saved = parser.MAX_NESTING
    try:
        for limit in range(1, 200):
            parser.MAX_NESTING = limit
            try:
                parse_filter(text)
                return limit
            except FilterError:
                continue
    finally:
        parser.MAX_NESTING = saved
    raise AssertionError(text)


@pytest.fixture
def example_db(any_db):
    with db.connected(any_db) as engine:
        import_calcset(engine, read_calcset(EXAMPLE_SET))
    return any_db


# the most nested filters the limit allows, with the heaviest leaves (more parentheses inside)
AT_THE_LIMIT = [
    alternating(MAX_NESTING),
    alternating(MAX_NESTING, 'formula ends with "N"'),
    alternating(MAX_NESTING, "elements has only B, N"),
    alternating(MAX_NESTING, "defect.name not like 'v%'"),
    negated(MAX_NESTING // 2),
    "not " * MAX_NESTING + "element = B",
]


@pytest.mark.parametrize("text", AT_THE_LIMIT, ids=["and-or", "ends-with", "has-only", "not-like", "not-and-or",
                                                    "nots"])
def test_filters_at_the_nesting_limit_run_on_every_backend(example_db, text):
    assert _depth(text) <= MAX_NESTING
    with db.connected(example_db, read_only=True) as engine:
        spectrum_ids(engine, text)  # parses and runs: no parser-stack or expression-depth error


def test_the_nesting_limit_also_holds_for_duckdb_over_snapshot_rows():
    table = pa.table({"spectrum_id": [1, 2], "x": [0.0, 1.0], "y": [0.0, 1.0], "absorbing_element": ["B", "N"],
                      "defect_name": ["v_N", None], "reduced_formula": ["BN", "BN"]})
    for text in AT_THE_LIMIT[:2] + AT_THE_LIMIT[4:]:
        filter_snapshot_rows(table, text)


def test_compiled_away_negations_keep_their_meaning(example_db):
    with db.connected(example_db, read_only=True) as engine:
        def ids(text):
            return spectrum_ids(engine, text)

        assert ids("not not defect.name = v_N") == ids("defect.name = v_N")
        assert ids("not not not defect.name = v_N") == ids("not defect.name = v_N")
        assert set(ids("defect.name = v_N")) | set(ids("not defect.name = v_N")) == set(ids("element = B") +
                                                                                          ids("not element = B"))
        assert ids("not (not defect.name = v_N or element = N)") == ids("defect.name = v_N and not element = N")
        assert ids("(element = B and (defect.name = v_N and (element = B)))") == ids("element = B and defect.name = v_N")
        assert len(ids("defect.name = v_N")) == 1  # the example set's one vacancy spectrum


@pytest.mark.parametrize("text, message", [
    (alternating(MAX_NESTING + 1), f"nested more than {MAX_NESTING} levels"),
    (alternating(32), f"nested more than {MAX_NESTING} levels"),  # 16 nested and/or pairs
    (negated(MAX_NESTING // 2 + 1), f"nested more than {MAX_NESTING} levels"),
    ("absorber.cn = 1" + "0" * 400, f"longer than {MAX_NUMBER_LENGTH} characters"),
    ("absorber.defect_distance < 1" + "0" * 400, f"longer than {MAX_NUMBER_LENGTH} characters"),
    ("absorber.defect_distance < 1e400", "out of range"),
    (" or ".join(["element = B"] * (MAX_CONDITIONS + 1)), f"more than {MAX_CONDITIONS} conditions"),
])
def test_filters_beyond_the_limits_are_one_line_exit_2(sqlite_db, cli, text, message):
    result = cli("query", text, "--db", sqlite_db)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and message in result.stderr


def test_has_any_with_a_thousand_values_runs(example_db, cli):
    symbols = ",".join(["B", "N", "C", "O"] * 250)
    with db.connected(example_db, read_only=True) as engine:
        assert spectrum_ids(engine, f"elements has any {symbols}") == spectrum_ids(engine, "elements has any B, N")
        assert len(spectrum_ids(engine, "elements has any B, N")) == 3
