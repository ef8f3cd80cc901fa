r"""Printing rows as a table, JSON, CSV or bare ids. Only the CLI prints; the library returns data.

Stored text is never interpreted by what shows it (docs/sql.md, "Output escaping"):

* tables: every cell is a rich ``Text`` (so ``LiFePO4 [charged]`` shows as such and ``[/]`` is
  just text, not markup) and control characters are shown as escapes (:func:`visible`), so a
  value cannot move the cursor, recolour or retitle the terminal, or forge lines;
* JSON: ``json.dumps`` with its default ASCII escaping (control and non-ASCII characters as
  ``\uXXXX``), so the output is valid JSON that round-trips exactly;
* CSV: the csv module's quoting (values with separators, quotes or line breaks are quoted);
  values are unchanged, so CSV round-trips exactly;
* one-line messages (errors, summaries): :func:`visible` as well.

Numbers: a table shows a float with the digits its unit is worth (:func:`format_float`: 2 decimals
for eV, 3 for Å, ...); JSON and CSV write every digit stored (Python's shortest round-trip repr).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
import unicodedata
from collections.abc import Sequence
from enum import StrEnum
from typing import Any


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    ids = "ids"


class RecordFormat(StrEnum):
    """Formats for one record (show, embed's summary): a record is not a table of rows."""

    table = "table"
    json = "json"


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Control (Cc), format (Cf: bidi overrides, zero-width...), line and paragraph separators (Zl, Zp).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def visible(text: str) -> str:
    r"""``text`` with every control, format and line/paragraph-separator character written as an
    escape (``\n``, ``\x1b``, ``\u2028``), so printing it cannot drive the terminal or break a
    line. Backslashes are left alone (an escape can therefore look like a literal; the JSON and
    CSV formats give the exact value)."""
    if text.isprintable() and "\u2028" not in text and "\u2029" not in text:
        return text
    out = []
    for ch in text:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


# How tables show a float (the one place; JSON and CSV keep every digit the database holds). A
# column's unit is in its name (the project's naming rule: energy_min_ev, absorber_defect_distance_a),
# so the name's ending decides the digits worth reading: name ending -> decimals (unit).
TABLE_DECIMALS = (
    ("_ev", 2),                 # energies, eV: 0.01 eV, finer than any XAS resolution
    ("_a3", 2),                 # volumes, Å³
    ("_a", 3),                  # distances, Å: 0.001 Å
    ("_g_cm3", 3),              # densities, g/cm³
    ("_charge", 3),             # charges, e (hirshfeld_charge, bader_charge)
    ("_charge_transfer", 3),    # e (sigma_charge_transfer)
)
TABLE_SIGNIFICANT_DIGITS = 4  # any other float (a unitless number, an embedding coordinate) ...
TABLE_DECIMALS_BEYOND_INTEGER = 2  # ... but never fewer than its integer digits + these
# (a computed column without a unit in its name, ``lo`` in ``SELECT MIN(energy_min_ev) AS lo``, must
# not show 8774.104 eV as 8774 or 11365.49 eV as 1.137e+04: a newcomer found that, 2026-12-01)
# The same decimals for a value whose unit is stored beside it (a descriptor: value=..., unit=e).
TABLE_DECIMALS_BY_UNIT = {"eV": 2, "Å³": 2, "Å": 3, "A": 3, "g/cm³": 3, "e": 3}


def format_float(value: float, column: str = "", unit: str | None = None) -> str:
    """``value`` as a table shows it in column ``column``: fixed decimals by the unit the name
    carries (:data:`TABLE_DECIMALS`: ``1.4460000000000002`` in ``absorber_defect_distance_a`` is
    ``1.446``, ``179.2135`` in ``alignment_shift_ev`` is ``179.21``), else
    :data:`TABLE_SIGNIFICANT_DIGITS` significant digits; never ``-0.00``. ``unit``, when the
    value's unit is stored beside it, decides instead (:data:`TABLE_DECIMALS_BY_UNIT`)."""
    value = float(value)
    decimals = TABLE_DECIMALS_BY_UNIT.get(unit or "")
    if decimals is None:
        decimals = _decimals_by_name(column.lower())
    if decimals is not None:
        text = f"{value:.{decimals}f}"
    elif not math.isfinite(value) or value == 0:
        text = f"{value:g}"
    else:
        integer_digits = max(0, math.floor(math.log10(abs(value))) + 1)
        digits = max(TABLE_SIGNIFICANT_DIGITS, integer_digits + TABLE_DECIMALS_BEYOND_INTEGER)
        text = f"{value:.{digits}g}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text


def _decimals_by_name(name: str) -> int | None:
    """Decimals for a column by the unit its name carries: the name itself (``energy_min_ev``) or,
    for a computed column, the one unit of the identifiers in it (``max(energy_max_ev)``,
    ``round(energy_max_ev, 2)``); None when no unit or two different ones."""
    found = {d for token in re.findall(r"[a-z][a-z0-9_]*", name)
             for d in [next((d for suffix, d in TABLE_DECIMALS if token.endswith(suffix)), None)] if d is not None}
    return found.pop() if len(found) == 1 else None


def _is_float(value: Any) -> bool:
    """Floats of Python, numpy (float32 is not a ``float``) and PostgreSQL numerics (``Decimal``)."""
    # lazy import: stdlib, only for table output
    from decimal import Decimal
    from numbers import Integral, Real

    return (isinstance(value, (Real, Decimal)) and not isinstance(value, (Integral, bool))
            and not isinstance(value, str))


def _text(value: Any, column: str = "", unit: str | None = None) -> str:
    """A value as a table shows it: floats by :func:`format_float`, the rest as ``str``."""
    return format_float(value, column, unit) if _is_float(value) else str(value)


def _cell(value: Any, column: str = ""):
    """A table cell that rich prints literally: no markup, no emoji codes, controls made visible;
    a float with the digits its column's unit is worth (:func:`format_float`)."""
    # lazy import: start-up time (rich is loaded only for table output)
    from rich.text import Text

    if value is None:
        return Text("")
    return Text(visible(_text(value, column)))


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def render_rows(rows: Sequence[dict[str, Any]], fmt: OutputFormat, *, id_column: str | None = None,
                title: str | None = None, columns: Sequence[str] | None = None) -> None:
    """Print rows; ``columns`` names the header of an empty CSV (a CSV without one breaks readers)."""
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps([{k: _plain(v) for k, v in r.items()} for r in rows], indent=1, default=str) + "\n")
    elif fmt is OutputFormat.csv:
        buffer = io.StringIO()
        fieldnames = list(rows[0]) if rows else list(columns or [])
        if fieldnames:
            writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
            writer.writeheader()
            writer.writerows({k: _plain(v) for k, v in r.items()} for r in rows)
        sys.stdout.write(buffer.getvalue())
    elif fmt is OutputFormat.ids:
        column = id_column or (next(iter(rows[0])) if rows else None)
        sys.stdout.write("".join(f"{visible(str(r[column]))}\n" for r in rows))  # one line per row
    elif not rows:
        sys.stderr.write("no rows match\n")  # a table of nothing would print nothing at all
    else:
        # lazy import: start-up time (`xasrepo --help` must not load the library)
        from rich.console import Console
        from rich.table import Table

        table = Table(title=_cell(title) if title else None, show_lines=False)
        for column in (rows[0] if rows else []):
            table.add_column(_cell(column), overflow="fold")
        for r in rows:
            table.add_row(*(_cell(v, str(k)) for k, v in r.items()))
        console = Console(width=PIPE_WIDTH if not sys.stdout.isatty() else None)
        # the width the headers alone need (a column: its name, padding and border); long values
        # fold inside their column, but headers that cannot fit fold into a letter per line
        headers = sum(len(str(column)) + 3 for column in rows[0]) + 1
        if headers <= WIDE_TABLE_FACTOR * console.width:
            console.print(table)        # rich folds the longest headers/values to fit
            return
        # Far too wide to read (e.g. --columns '*'): one block per row instead, field and value
        # side by side (psql's expanded mode).
        sys.stderr.write(f"{len(r)} columns do not fit in {console.width} characters: one block per row "
                         "(--format csv for one line per row)\n")
        for i, r in enumerate(rows, 1):
            block = Table(title=_cell(f"{title + ', ' if title else ''}row {i} of {len(rows)}"), show_header=False)
            block.add_column("field", style="bold")
            block.add_column("value", overflow="fold")
            for k, v in r.items():
                block.add_row(_cell(k), _cell(v, str(k)))
            console.print(block)


PIPE_WIDTH = 200  # characters of a table written to a pipe or file (no terminal to ask)
WIDE_TABLE_FACTOR = 1.5  # a table whose headers need this many times the output's width: one block per row


MAX_TABLE_ROWS = 10_000  # a table is for reading; more rows: --format csv/json, which stream


def render_stream(columns: Sequence[str], batches, fmt: OutputFormat) -> None:
    """Print rows that arrive in batches (lists of tuples in ``columns`` order) without holding
    them all: CSV, JSON and ids are written batch by batch; a table holds at most
    :data:`MAX_TABLE_ROWS` rows and says on stderr when it stopped there."""
    columns = list(columns)
    if fmt is OutputFormat.table:
        rows: list[dict[str, Any]] = []
        more = False
        for batch in batches:
            room = MAX_TABLE_ROWS - len(rows)
            rows.extend(dict(zip(columns, r)) for r in batch[:room])
            if len(batch) > room:
                more = True
                break
        render_rows(rows, fmt, columns=columns)
        if more:
            sys.stderr.write(f"table stopped at {MAX_TABLE_ROWS} rows; use --format csv or json for all rows\n")
        return
    out = sys.stdout
    if fmt is OutputFormat.csv:
        writer = csv.writer(out, lineterminator="\n")
        if columns:
            writer.writerow(columns)
        for batch in batches:
            writer.writerows([_plain(v) for v in r] for r in batch)
    elif fmt is OutputFormat.json:
        out.write("[")
        first = True
        for batch in batches:
            for r in batch:
                out.write(("\n" if first else ",\n") + json.dumps({k: _plain(v) for k, v in zip(columns, r)},
                                                                default=str))
                first = False
        out.write("\n]\n" if not first else "]\n")
    else:  # ids: the first column, one value a line
        for batch in batches:
            out.write("".join(f"{visible(str(r[0]))}\n" for r in batch))


def render_record(kind: str, record: dict[str, Any], fmt: OutputFormat | RecordFormat) -> None:
    if fmt.value == "json":
        sys.stdout.write(json.dumps({k: _plain(v) for k, v in record.items()}, indent=1, default=str) + "\n")
        return
    # lazy import: start-up time (`xasrepo --help` must not load the library)
    from rich.console import Console
    from rich.table import Table

    from rich.text import Text

    table = Table(title=_cell(f"{kind} {record.get('spectrum_id', record.get('id'))}"), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in record.items():
        if key in ("energy_ev", "intensity") and value is not None:
            value = f"{len(value)} points, {value[0]:.2f} .. {value[-1]:.2f}" if key == "energy_ev" else \
                f"{len(value)} values, max {max(value):.4g}"
        elif key == "structure":
            value = f"{len(value.get('sites', []))} sites (pymatgen JSON; --format json for all of it)"
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            # one line per item: the separators are ours, each item's text is made visible
            value = Text("\n").join(_cell(", ".join(
                f"{k}={_text(v, str(k), item.get('unit') if k == 'value' else None)}"
                for k, v in item.items() if v is not None)) for item in value)
            table.add_row(_cell(key), value)
            continue
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, default=str)
        table.add_row(_cell(key), _cell(value, str(key)))
    Console(width=160 if not sys.stdout.isatty() else None).print(table)
