"""How deeply nested a filter each backend accepts (docs/sql.md "Limits", docs/benchmarks.md).

    .venv/bin/python bench/filter_depth.py [--pg postgresql://...]

For each shape of nesting, the largest n (up to 300) whose compiled WHERE clause the database
accepts, with the parser's own depth limit lifted. Shapes: ``n`` nested ``not``; ``n`` levels of
alternating and/or in parentheses; ``n`` levels of ``not (a or/and ...)``; ``has any`` with n
symbols. The parser's limit (MAX_NESTING) must stay below what every backend accepts.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys

import duckdb

import repository.query.parser as parser
from repository.query.parser import parse_filter
from repository.query.sql import where_sql

sys.setrecursionlimit(100_000)


def nots(n):
    return "not " * n + "element = B"


def and_or(n):
    text = "element = B"
    for i in range(n):
        text = f"element = B {'and' if i % 2 else 'or'} ({text})"
    return text


def not_and_or(n):
    text = "element = B"
    for i in range(n):
        text = f"not (element = B {'and' if i % 2 else 'or'} {text})"
    return text


def has_any(n):
    symbols = ["B", "N", "C", "O", "Si", "Al", "Ga", "In"]
    return "elements has any " + ",".join(symbols[i % len(symbols)] for i in range(n))


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--pg", help="PostgreSQL URL (postgresql://...) to include the server")
    options = args.parse_args()
    parser.MAX_NESTING = parser.MAX_CONDITIONS = 10**6
    parser.MAX_FILTER_LENGTH = 10**7
    lite = sqlite3.connect(":memory:")
    lite.execute("CREATE TABLE t (absorbing_element TEXT, elements TEXT)")
    duck = duckdb.connect()
    duck.execute("CREATE TABLE t (absorbing_element TEXT, elements TEXT)")
    engines = {"sqlite": lite, "duckdb": duck}
    if options.pg:
        import psycopg

        pg = psycopg.connect(options.pg.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        pg.execute("CREATE TEMP TABLE t (absorbing_element TEXT, elements TEXT)")
        engines["postgresql"] = pg

    def accepts(engine, shape, n) -> bool:
        sql, params = where_sql(parse_filter(shape(n)), engine)
        try:
            if engine == "sqlite":
                lite.execute("SELECT * FROM t WHERE " + sql, params)
            elif engine == "duckdb":
                for position, name in sorted(enumerate(params, 1), key=lambda item: -len(item[1])):
                    sql = sql.replace(f":{name}", f"${position}")
                duck.execute("SELECT * FROM t WHERE " + sql, list(params.values()))
            else:
                engines["postgresql"].execute("SELECT * FROM t WHERE " + re.sub(r":(p\d+)", r"%(\1)s", sql), params)
            return True
        except Exception:  # noqa: BLE001 - any refusal counts as "not accepted"
            return False

    print(f"| shape | {' | '.join(engines)} |")
    print("|---|" + "---|" * len(engines))
    for shape in (nots, and_or, not_and_or, has_any):
        cells = []
        for engine in engines:
            low, high = 0, 300
            while low < high:
                middle = (low + high + 1) // 2
                low, high = (middle, high) if accepts(engine, shape, middle) else (low, middle - 1)
            cells.append(f"{low}{'+' if low == 300 else ''}")
        print(f"| {shape.__name__} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
