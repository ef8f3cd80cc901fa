"""Printing rows as a table, JSON, CSV or bare ids. Only the CLI prints; the library returns data."""

from __future__ import annotations

import csv
import io
import json
import sys
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
        sys.stdout.write("".join(f"{r[column]}\n" for r in rows))
    elif not rows:
        sys.stderr.write("no rows match\n")  # a table of nothing would print nothing at all
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, show_lines=False)
        for column in (rows[0] if rows else []):
            table.add_column(column, overflow="fold")
        for r in rows:
            table.add_row(*("" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v)) for v in r.values()))
        Console(width=200 if not sys.stdout.isatty() else None).print(table)


def render_record(kind: str, record: dict[str, Any], fmt: OutputFormat | RecordFormat) -> None:
    if fmt.value == "json":
        sys.stdout.write(json.dumps({k: _plain(v) for k, v in record.items()}, indent=1, default=str) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{kind} {record.get('spectrum_id', record.get('id'))}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in record.items():
        if key in ("energy_ev", "intensity") and value is not None:
            value = f"{len(value)} points, {value[0]:.2f} .. {value[-1]:.2f}" if key == "energy_ev" else \
                f"{len(value)} values, max {max(value):.4g}"
        elif key == "structure":
            value = f"{len(value.get('sites', []))} sites (pymatgen JSON; --format json for all of it)"
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            value = "\n".join(", ".join(f"{k}={v}" for k, v in item.items() if v is not None) for item in value)
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, default=str)
        table.add_row(key, "" if value is None else str(value))
    Console(width=160 if not sys.stdout.isatty() else None).print(table)
