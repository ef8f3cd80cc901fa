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
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..conventions import WRITE_FORMATS
from ..errors import InputError, UsageError
from ..limits import check_input_file, shown_name
from ..values import SpectrumRecord
from .common import CONTEXT_FIELDS, ReadOptions
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


def normalize_format(fmt: str | None) -> str | None:
    """The reader name for an ``import --read-format`` value (case and aliases such as ``csv``, ``mp``, ``prj``
    allowed; None stays None). Raises :class:`UsageError` for an unknown format."""
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
    keyword arguments (``element="Cu", edge="K", signal_col="3"``). Raises :class:`InputError`
    ("FILE: line N: problem") for input it cannot use, :class:`UsageError` for an unknown format.

    Only regular files are opened (a FIFO or ``/dev/zero`` is refused before opening), within the
    limits of :mod:`repository.limits`. A file name that is not valid UTF-8 is read like any other;
    it is stored and shown with the undecodable bytes as ``\\xNN`` (``source_file``, errors).
    """
    path = Path(path)
    options = (options or ReadOptions()).with_(**option_values) if option_values else (options or ReadOptions())
    if not path.is_dir():
        check_input_file(path)
    try:
        fmt = normalize_format(format) or sniff(path)
        if path.is_dir() and fmt != "feff":
            raise InputError(path, f"a directory cannot be read as {fmt}")
        records = _reader(fmt)(path, options)
        return _stated_defect_free(path, records) if options.defect_free else records
    except InputError as exc:
        if exc.file is not None and shown_name(exc.file) != exc.file:  # errors name files as they print
            raise type(exc)(shown_name(exc.file), exc.problem, where=exc.where) from None
        raise


def _stated_defect_free(path: Path, records: list[SpectrumRecord]) -> list[SpectrumRecord]:
    """``records`` marked as stated defect-free (``import --defect-free``: ``SpectrumRecord.defect_free``).

    Raises :class:`InputError` naming the file for a record without a structure (the statement
    would be about nothing: give ``--structure``, or put the structure file beside a FEFF run) and
    for one whose file names a defect in its context (``defect_kind``/``defect_name``): the option
    and the file contradict each other, and neither is silently preferred."""
    from ..values import context_defect

    for record in records:
        file = record.source_file or path
        if record.structure is None:
            raise InputError(file, "--defect-free: the file has no structure to state it of (give --structure FILE, "
                                   "or put a CIF or POSCAR beside the FEFF run)")
        found = context_defect(record.metadata, file)
        if found is not None:
            raise InputError(file, f"--defect-free contradicts the file's metadata.context: defect_kind "
                                   f"{found.kind!r}, defect_name {found.name!r}; drop the option or correct the file")
    return [replace(record, defect_free=True) for record in records]


def data_files(path: Path) -> list[Path]:
    """The files to read for a path: itself, a FEFF run directory, or the data files in a directory tree
    (FEFF run directories inside count as one; README/LICENSE/NOTES files, ``*.md`` and the like are skipped)."""
    if not path.exists():
        raise InputError(shown_name(path), "file not found")
    if not path.is_dir():
        return [path]  # a file, or something read_path refuses (a FIFO, a device)
    if sniff_is_feff_dir(path):
        return [path]
    found: list[Path] = []

    def walk(folder: Path) -> None:
        for child in sorted(folder.iterdir()):
            name = child.name.lower()
            if name.startswith(".") or name.startswith(SKIPPED_NAMES) or name.endswith(SKIPPED_SUFFIXES):
                continue
            if child.is_dir() and not sniff_is_feff_dir(child):
                walk(child)
            else:  # files, FEFF runs, and anything else (a FIFO: refused by read_path, never skipped silently)
                found.append(child)

    walk(path)
    if not found:
        raise InputError(shown_name(path), "no data files in this directory")
    return found


def sniff_is_feff_dir(path: Path) -> bool:
    from .sniff import is_feff_dir

    return is_feff_dir(path)


def read_paths(paths: Iterable[str | Path], format: str | None = None, options: ReadOptions | None = None,
               progress: Callable[[int, int], None] | None = None,
               refused: list[tuple[Path, str]] | None = None) -> list[SpectrumRecord]:
    """Read and validate every file first (directories are expanded).

    Without ``refused`` the first bad file raises its :class:`InputError` (all-or-nothing). With a
    list, each bad file's (path, one-line message) is appended to it and reading goes on with the
    next file (``xasrepo import --keep-going``).
    """
    files = [f for p in paths for f in data_files(Path(p))]
    records: list[SpectrumRecord] = []
    for number, file in enumerate(files, start=1):
        try:
            records.extend(read_path(file, format, options))
        except InputError as exc:
            if refused is None:
                raise
            refused.append((file, exc.message))
        if progress:
            progress(number, len(files))
    return records


def export_context(row: dict[str, Any]) -> dict[str, Any]:
    """The :data:`CONTEXT_FIELDS` of a ``catalog.get_spectrum`` row that have a value.

    ``defect_kind`` ``"none"`` is kept: the row says it only for a structure STATED to have no
    defect (a calculation-set entry without a defect, or a file or ``import --defect-free`` that
    said so), and the file must say it again for a re-import to call the structure pristine
    (:func:`repository.values.context_defect_free`); an unknown defect status (NULL) writes nothing."""
    context = {name: row.get(name) for name in CONTEXT_FIELDS if row.get(name) is not None}
    if context.get("spectroscopy") == "XAS":
        del context["spectroscopy"]  # the default: only other spectroscopies need saying
    return context


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
    context = export_context(row)
    if context:
        metadata["context"] = {**(metadata.get("context") or {}), **context}
    return SpectrumRecord(spectrum=spectrum, source_file=row.get("source_file"),
                          source_sha256=row.get("source_sha256"), sample=sample, structure=structure,
                          absorber_site_index=row.get("absorber_site_index"), metadata=metadata)


def write_spectrum(record_or_row: SpectrumRecord | dict[str, Any], path: str | Path, format: str) -> Path:
    """Write one spectrum as ``xdi``, ``json`` (pymatgen XAS.as_dict) or ``csv``; returns the path.

    Raises :class:`UsageError` for another format."""
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
