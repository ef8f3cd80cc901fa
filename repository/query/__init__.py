"""Queries by structure, defect, calculation and descriptor properties.

A filter is text such as::

    element = B and edge = K and crystal_system = hexagonal
        and defect.name = v_N and absorber.defect_distance < 3

It is parsed with a lark grammar (:mod:`.parser`) into typed, immutable terms (:mod:`.terms`)
whose fields come from an allowlist (:mod:`.fields`), then compiled to SQL with every value a
bound parameter (:mod:`.sql`). Public functions:

* :func:`parse_filter` -- text -> :class:`Filter` (or a one-line :class:`FilterError`);
* :func:`spectrum_ids` / :func:`query_spectra` -- run a filter over ``spectrum_overview``
  (:func:`count_spectra`: how many match);
* :func:`no_match_hints` -- for a filter that matched nothing, the values it asks for that no
  spectrum holds (with the closest one);
* :func:`run_sql` -- read-only SQL over the database.

The same grammar and read-only SQL over snapshot Parquet files are in
:mod:`repository.snapshots.parquet` (``filter_snapshot_rows``, ``snapshot_sql``).

Heavy modules (SQLAlchemy, lark, DuckDB, pyarrow) are imported inside the functions.
"""

from .fields import FIELDS, SNAPSHOT_FIELDS, FieldSpec, FieldType
from .parser import FilterError, parse_filter
from .readonly import ReadOnlyViolation, run_sql
from .search import DEFAULT_COLUMNS, count_spectra, describe_fields, no_match_hints, query_spectra, spectrum_ids
from .terms import Filter

__all__ = [
    "DEFAULT_COLUMNS",
    "FIELDS",
    "SNAPSHOT_FIELDS",
    "FieldSpec",
    "FieldType",
    "Filter",
    "FilterError",
    "ReadOnlyViolation",
    "count_spectra",
    "describe_fields",
    "no_match_hints",
    "parse_filter",
    "query_spectra",
    "run_sql",
    "spectrum_ids",
]
