"""Readers and writers for the formats XAS people already have.

Read: XDI 1.0, plain column files (CSV/whitespace, raw multi-channel), pymatgen / Materials Project
XAS JSON, FEFF (feff.inp + xmu.dat), Athena projects (gzip Perl and JSON). Write: XDI, pymatgen
JSON, CSV. Every reader returns validated :class:`~repository.values.SpectrumRecord` objects with the
file's SHA-256 and raises :class:`~repository.errors.InputError` ("FILE: line N: problem") for input
it cannot use. See docs/formats.md. Nothing here touches the database: importing records is
:mod:`repository.importer`, exporting stored spectra :mod:`repository.export`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..conventions import WRITE_FORMATS
from ..errors import InputError, UsageError
from ..values import SpectrumRecord
from .common import ReadOptions
from .sniff import FORMATS, sniff

FORMAT_ALIASES = {"pymatgen": "json", "mp": "json", "csv": "columns", "txt": "columns", "dat": "columns",
                  "prj": "athena", "column": "columns"}
# Names in a directory of data files that are documentation, not data.
SKIPPED_NAMES = ("readme", "license", "licence", "notes", "copying", "badfiles")
SKIPPED_SUFFIXES = (".md", ".rst", ".pdf", ".png", ".jpg", ".mda", ".py")

__all__ = ["FORMATS", "ReadOptions", "read_path", "read_paths", "record_from_row", "sniff", "write_spectrum"]


def _reader(fmt: str) -> Callable[[Path, ReadOptions], list[SpectrumRecord]]:
    if fmt == "xdi":
        from .xdi import read_xdi as reader
    elif fmt == "columns":
        from .columns import read_columns as reader
    elif fmt == "json":
        from .mpjson import read_json as reader
    elif fmt == "feff":
        from .feff import read_feff as reader
    elif fmt == "athena":
        from .athena import read_athena as reader
    else:
        raise UsageError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    return reader


def normalise_format(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    name = fmt.strip().lower()
    name = FORMAT_ALIASES.get(name, name)
    if name not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    return name


def read_path(path: str | Path, format: str | None = None, options: ReadOptions | None = None,
              **option_values: Any) -> list[SpectrumRecord]:
    """Read one data file (or a FEFF run directory) into validated records.

    ``format`` overrides detection by content; options are a :class:`ReadOptions` or its fields as
    keyword arguments (``element="Cu", edge="K", signal_col="3"``).
    """
    path = Path(path)
    options = (options or ReadOptions()).with_(**option_values) if option_values else (options or ReadOptions())
    fmt = normalise_format(format) or sniff(path)
    if path.is_dir() and fmt != "feff":
        raise InputError(path, f"a directory cannot be read as {fmt}")
    return _reader(fmt)(path, options)


def data_files(path: Path) -> list[Path]:
    """The files to read for a path: itself, a FEFF run directory, or the data files in a directory tree
    (FEFF run directories inside count as one; README/LICENSE/NOTES files, ``*.md`` and the like are skipped)."""
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_file():
        return [path]
    if sniff_is_feff_dir(path):
        return [path]
    found: list[Path] = []

    def walk(folder: Path) -> None:
        for child in sorted(folder.iterdir()):
            name = child.name.lower()
            if name.startswith(".") or name.startswith(SKIPPED_NAMES) or name.endswith(SKIPPED_SUFFIXES):
                continue
            if child.is_file() or sniff_is_feff_dir(child):
                found.append(child)
            elif child.is_dir():
                walk(child)

    walk(path)
    if not found:
        raise InputError(path, "no data files in this directory")
    return found


def sniff_is_feff_dir(path: Path) -> bool:
    from .sniff import is_feff_dir

    return is_feff_dir(path)


def read_paths(paths: Iterable[str | Path], format: str | None = None, options: ReadOptions | None = None,
               progress: Callable[[int, int], None] | None = None) -> list[SpectrumRecord]:
    """Read and validate every file first (directories are expanded); the first bad file raises."""
    files = [f for p in paths for f in data_files(Path(p))]
    records: list[SpectrumRecord] = []
    for number, file in enumerate(files, start=1):
        records.extend(read_path(file, format, options))
        if progress:
            progress(number, len(files))
    return records


def record_from_row(row: dict[str, Any], structure: Any = None) -> SpectrumRecord:
    """A :class:`SpectrumRecord` from a ``catalog.get_spectrum`` row (with arrays)."""
    from ..values import SampleInfo, SpectrumData

    spectrum = SpectrumData(energy_ev=row["energy_ev"], intensity=row["intensity"],
                            absorbing_element=row["absorbing_element"], edge=row["edge"],
                            spectrum_type=row["spectrum_type"], polarization=row.get("polarization") or "iso",
                            origin=row["origin"])
    sample = SampleInfo(sample_name=row.get("sample_name"), facility=row.get("facility"),
                        beamline=row.get("beamline"), measurement_mode=row.get("measurement_mode"),
                        calibration_shift_ev=row.get("calibration_shift_ev"), temperature_k=row.get("temperature_k"))
    metadata = dict(row.get("metadata") or {})
    return SpectrumRecord(spectrum=spectrum, source_file=row.get("source_file"),
                          source_sha256=row.get("source_sha256"), sample=sample, structure=structure,
                          absorber_site_index=row.get("absorber_site_index"), metadata=metadata)


def write_spectrum(record_or_row: SpectrumRecord | dict[str, Any], path: str | Path, format: str) -> Path:
    """Write one spectrum as ``xdi``, ``json`` (pymatgen XAS.as_dict) or ``csv``; returns the path."""
    record = record_or_row if isinstance(record_or_row, SpectrumRecord) else record_from_row(record_or_row)
    fmt = format.strip().lower()
    fmt = {"pymatgen": "json"}.get(fmt, fmt)
    path = Path(path)
    if fmt == "xdi":
        from .xdi import write_xdi as writer
    elif fmt == "json":
        from .mpjson import write_json as writer
    elif fmt == "csv":
        from .columns import write_csv as writer
    else:
        raise UsageError(f"cannot write format {format!r} (expected one of {', '.join(WRITE_FORMATS)})")
    return writer(record, path)
