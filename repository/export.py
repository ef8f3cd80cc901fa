"""Exporting stored spectra to files (``xasrepo export``): XDI, pymatgen JSON or CSV.

The writers are in :mod:`repository.formats`; this module reads the spectra (and, for pymatgen
JSON, their structures) from the database and names the files.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import get_spectrum, get_structure
from .errors import UsageError
from .formats import WRITE_FORMATS, record_from_row, write_spectrum

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


# Every character Python's str.splitlines() (and so the XDI reader) breaks a line at: a header
# value holding one would forge further header lines (another element, another edge) on re-import.
LINE_BREAKS = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]+")


def single_line(value: Any) -> Any:
    """``value`` with every run of line-break characters (:data:`LINE_BREAKS`) replaced by one space;
    non-strings unchanged. Used on XDI header values and comments before they are written.

    Note for the formats owner: ``repository.formats.xdi.write_xdi`` flattens only ``\r``/``\n``;
    once it uses this rule itself, :func:`_xdi_safe` here can go.
    """
    return LINE_BREAKS.sub(" ", value) if isinstance(value, str) else value


def _xdi_safe(record):
    """A copy of ``record`` whose text that XDI writes into header lines is :func:`single_line`."""
    sample = dataclasses.replace(record.sample, **{f.name: single_line(getattr(record.sample, f.name))
                                                   for f in dataclasses.fields(record.sample)})
    metadata = dict(record.metadata or {})
    xdi = metadata.get("xdi")
    if isinstance(xdi, dict):
        xdi = dict(xdi)
        if isinstance(xdi.get("fields"), dict):
            xdi["fields"] = {single_line(k): single_line(v) for k, v in xdi["fields"].items()}
        if isinstance(xdi.get("comments"), list):
            xdi["comments"] = [single_line(c) for c in xdi["comments"]]
        if isinstance(xdi.get("extra_versions"), list):
            xdi["extra_versions"] = [single_line(v) for v in xdi["extra_versions"]]
        metadata["xdi"] = xdi
    return dataclasses.replace(record, sample=sample, metadata=metadata)


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
        if fmt == "xdi":
            record = _xdi_safe(record)
        written.append(write_spectrum(record, out / export_file_name(row, fmt), fmt))
        if progress:
            progress(number, len(rows))
    return written
