"""Exporting stored spectra to files (``xasrepo export``): XDI, pymatgen JSON or CSV.

The writers are in :mod:`repository.formats`; this module reads the spectra (and, for pymatgen
JSON, their structures) from the database and names the files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import get_spectrum, get_structure
from .errors import UsageError
from .formats import WRITE_FORMATS, record_from_row, write_spectrum
from .formats.common import LINE_BREAKS, single_line  # noqa: F401  (the one-line rule of XDI headers lives there)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def export_file_name(row: dict[str, Any], fmt: str) -> str:
    """``<id>_<El>_<edge>_<sample or formula><ext>`` for a ``catalog.get_spectrum`` row, with
    characters other than letters, digits and ``_.+-`` replaced by ``-`` (stem at most 80 characters)."""
    label = row.get("sample_name") or row.get("reduced_formula") or ""
    parts = [str(row["spectrum_id"]), row["absorbing_element"], row["edge"].replace(",", ""), label]
    stem = "_".join(p for p in parts if p)
    stem = re.sub(r"[^A-Za-z0-9_.+-]+", "-", stem).strip("-")[:80]
    return stem + WRITE_FORMATS[fmt]


def export_spectra(engine: Engine, spectrum_ids: Sequence[int], directory: str | Path, format: str,
                   progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Write each spectrum to ``directory`` (created if needed) as ``<id>_<El>_<edge>_<sample>.<ext>``.

    ``format`` is ``xdi``, ``json`` (pymatgen ``XAS.as_dict``, with the spectrum's structure when
    the repository has one) or ``csv``. Every id is looked up before anything is written
    (:class:`~repository.errors.NotFoundError` for an unknown one); :class:`UsageError` for an
    unknown format or no ids. Returns the paths written, in ``spectrum_ids`` order.
    """
    fmt = format.strip().lower()
    if fmt not in WRITE_FORMATS:
        raise UsageError(f"cannot write format {format!r} (expected one of {', '.join(WRITE_FORMATS)})")
    if not spectrum_ids:
        raise UsageError("no spectra to export")
    rows = [get_spectrum(engine, int(i)) for i in spectrum_ids]  # NotFoundError before anything is written
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number, row in enumerate(rows, start=1):
        structure = None
        if fmt == "json" and row.get("structure_id") is not None:
            from pymatgen.core import Structure  # lazy: pymatgen costs ~1 s; only JSON export with structures needs it

            structure = Structure.from_dict(get_structure(engine, row["structure_id"])["structure"])
        record = record_from_row(row, structure)
        written.append(write_spectrum(record, out / export_file_name(row, fmt), fmt))
        if progress:
            progress(number, len(rows))
    return written
