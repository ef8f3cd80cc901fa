"""What every reader and writer shares: read options, file hashing, element symbols, record building.

Readers turn a file into :class:`~repository.values.SpectrumRecord` objects and raise
:class:`~repository.errors.InputError` naming the file and line for anything they cannot use.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..conventions import ELEMENTS, Origin, SpectrumType, known_measurement_mode, parse_choice, parse_edge, parse_element  # noqa: F401,E501 (ELEMENTS: readers import it from here)
from ..conventions import parse_measurement_mode as _parse_mode
from ..errors import InputError, MissingMetadata, NonPositiveEnergy, UsageError
from ..files import file_sha256  # noqa: F401  (readers import it from here)
from ..limits import MAX_POINTS, excerpt, read_input_bytes, shown_name
from ..values import InvalidArrays, SampleInfo, SpectrumData, SpectrumRecord

# A scan that covers more than this many eV is treated as XAFS (near edge + extended region);
# XANES scans rarely extend beyond ~150 eV above the edge, EXAFS scans reach 500-1500 eV.
XANES_MAX_SPAN_EV = 300.0

# h*c in eV*Angstrom (CODATA 2018), for monochromator angle -> energy: E = hc / (2 d sin(theta)).
HC_EV_ANGSTROM = 12398.419843320026

# Absolute zero in degrees Celsius, for temperatures given in C.
ZERO_CELSIUS_K = 273.15


# Text files have no NUL bytes; this many leading bytes are checked to recognise binary files.
BINARY_SNIFF_BYTES = 8192

# What an export carries about a spectrum beyond its arrays (spectrum_overview columns): under
# metadata["context"] and, in XDI, as ``Xasrepo.<name>`` fields; re-import restores them into metadata.
# alignment, alignment_shift_ev, broadening_ev and energy_reference: what a computed spectrum's
# energies and widths mean (found missing from exports by a newcomer trial, 2026-11-30)
CONTEXT_FIELDS = ("reduced_formula", "polymorph", "spacegroup_symbol", "defect_name", "defect_kind", "defect_charge",
                  "absorber_site_index", "absorber_cn", "code", "code_version", "method", "functional",
                  "alignment", "alignment_shift_ev", "broadening_ev", "energy_reference",
                  "calculation_set", "spectroscopy")

# Every character Python's str.splitlines() (and so the XDI reader) breaks a line at: a header value
# holding one would forge further header lines (another element, another edge) on re-import.
LINE_BREAKS = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]+")


def single_line(value: Any) -> Any:
    """``value`` with every run of line-break characters (:data:`LINE_BREAKS`, all of Unicode's)
    replaced by one space; non-strings unchanged. The one rule for text written into a line of a
    file format (XDI header fields, comments and version tokens)."""
    return LINE_BREAKS.sub(" ", value) if isinstance(value, str) else value


def measurement_mode(text: str | None) -> str | None:
    """A file's measurement mode in its usual spelling ("tey" -> "TEY",
    :func:`repository.conventions.known_measurement_mode`); a mode the vocabulary does not know is
    kept as the file gives it (options are checked strictly, by :class:`ReadOptions`)."""
    if text is None:
        return None
    value = str(text).strip()
    return known_measurement_mode(value) or value or None


def count_of(number: int, noun: str) -> str:
    """``"1 column"``, ``"2 columns"``: a count with its noun in the right number (English -s plural)."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


# ReadOptions fields -> the command-line option that sets them, for messages about option values.
OPTION_NAMES = {"measurement_mode": "--mode", "spectrum_type": "--type", "origin": "--origin",
                "element": "--element", "edge": "--edge", "fallback_element": "--element", "fallback_edge": "--edge",
                "sample_name": "--sample", "facility": "--facility", "beamline": "--beamline",
                "calibration_shift_ev": "--calibration-shift", "energy_col": "--energy-col",
                "signal_col": "--signal-col", "i0_col": "--i0-col", "edge_energy_ev": "--edge-energy",
                "energy_unit": "--energy-unit", "structure_path": "--structure"}
# Options that only label a spectrum: a spectrum found already present by its data (element, edge,
# arrays) keeps its stored labels, so these are compared with what is stored (unapplied_options).
LABEL_OPTIONS = ("measurement_mode", "sample_name", "facility", "beamline", "calibration_shift_ev",
                 "spectrum_type", "origin")


@dataclass(frozen=True)
class ReadOptions:
    """What the user said about a file that the file itself may not say.

    Columns are 1-based numbers ("2") or names ("mutrans"). ``edge_energy_ev`` is added to the
    energies of files whose energies are relative to the edge. ``calibration_shift_ev`` is recorded
    with the spectrum (energies are stored as they are in the file). Values given here override what
    a file says about element, edge, sample and facility.
    """

    energy_col: str | None = None
    signal_col: str | None = None
    i0_col: str | None = None
    edge_energy_ev: float | None = None
    element: str | None = None
    edge: str | None = None
    spectrum_type: str | None = None
    sample_name: str | None = None
    facility: str | None = None
    beamline: str | None = None
    measurement_mode: str | None = None
    calibration_shift_ev: float | None = None
    structure_path: Path | None = None
    origin: str | None = None  # "computed" for calculated spectra read from column files (FDMNES, ...)
    energy_unit: str | None = None  # "eV" or "keV": the unit of the file's energy column (overrides the file)
    # the user states that the structure of each file read (``structure_path``, the one beside a
    # FEFF run, or the file's own) has no defect (``import --defect-free``): SpectrumRecord.defect_free
    defect_free: bool = False
    # False only where absolute energies are not used (projection with onset/fit alignment): the
    # element/edge/energy check of repository.edges is then skipped
    check_edge: bool = True
    # False only where the query need not be a measured mu(E) with a step (``project``: a computed
    # spectrum in a two-column file reads as measured): repository.edges.check_edge_step is skipped
    check_edge_step: bool = True
    # What the caller takes the file to hold when the file does not say (``project --element/--edge``):
    # unlike ``element``/``edge`` they never override a file, and a file stating another element or
    # edge is refused (an InputError naming both), so that a spectrum is never placed as what it is not.
    fallback_element: str | None = None
    fallback_edge: str | None = None

    def __post_init__(self) -> None:
        """Option values are checked (and spelled canonically) before any file is read: a UsageError
        naming the option, the value and the choices (with a "did you mean") for an unknown
        measurement mode, spectrum type, origin, element or edge."""
        checks = {"measurement_mode": _parse_mode,
                  "spectrum_type": lambda v: parse_choice(SpectrumType, v, "spectrum type").value,
                  "origin": lambda v: parse_choice(Origin, v, "origin").value,
                  "element": parse_element, "fallback_element": parse_element,
                  "edge": lambda v: parse_edge(v).value, "fallback_edge": lambda v: parse_edge(v).value}
        for name, parse in checks.items():
            value = getattr(self, name)
            if value is None:
                continue
            try:
                object.__setattr__(self, name, parse(value))
            except ValueError as exc:
                raise UsageError(f"{OPTION_NAMES[name]}: {exc}") from None

    def with_(self, **changes: Any) -> ReadOptions:
        return replace(self, **changes)


DEFAULT_OPTIONS = ReadOptions()  # immutable: safe as a shared default


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def decode_text(path: Path, data: bytes) -> str:
    """Bytes of a text file as str: UTF-16 with a byte-order mark (spreadsheet exports), UTF-8 (BOM
    dropped), Latin-1 as a fallback for old beamline files. NUL bytes without a UTF-16 BOM: binary."""
    if data.startswith(UTF16_BOMS):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(path, f"UTF-16 text (it starts with a byte-order mark) with an invalid byte at "
                                   f"{exc.start}") from None
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise InputError(path, "a binary file, not text (e.g. MDA or HDF5): export it as text (XDI, columns) first")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_text(path: Path) -> str:
    """A file's text (see :func:`decode_text`); a DOS end-of-file mark is dropped. Only regular files
    within the size limit are read (:func:`repository.files.read_input_bytes`)."""
    text = decode_text(path, read_input_bytes(path))
    return text.rstrip("\x1a\r\n")  # DOS end-of-file mark in old beamline files


def element_symbol(text: Any, file: Path | str | None, where: str | None = None, what: str = "element") -> str:
    """A canonical element symbol ("cu" -> "Cu"); InputError for anything else."""
    value = str(text).strip()
    try:
        return parse_element(value)
    except ValueError:
        raise InputError(file, f"{what} {excerpt(value)} is not an element symbol", where=where) from None


def edge_name(text: Any, file: Path | str | None, where: str | None = None, what: str = "edge") -> str:
    try:
        return parse_edge(str(text)).value
    except ValueError as exc:
        raise InputError(file, f"{what}: {exc}", where=where) from None


def guess_spectrum_type(energy: np.ndarray) -> SpectrumType:
    span = float(energy[-1] - energy[0]) if energy.size else 0.0
    return SpectrumType.XAFS if span > XANES_MAX_SPAN_EV else SpectrumType.XANES


# Temperature units (lower case, spaces removed) -> (scale, offset): T[K] = value * scale + offset.
TEMPERATURE_UNITS = {
    "k": (1.0, 0.0), "kelvin": (1.0, 0.0),
    "mk": (1e-3, 0.0), "millikelvin": (1e-3, 0.0),
    "c": (1.0, ZERO_CELSIUS_K), "°c": (1.0, ZERO_CELSIUS_K), "degc": (1.0, ZERO_CELSIUS_K),
    "celsius": (1.0, ZERO_CELSIUS_K), "degreesc": (1.0, ZERO_CELSIUS_K), "degreescelsius": (1.0, ZERO_CELSIUS_K),
    "degcelsius": (1.0, ZERO_CELSIUS_K), "centigrade": (1.0, ZERO_CELSIUS_K), "ºc": (1.0, ZERO_CELSIUS_K),
    "f": (5.0 / 9.0, ZERO_CELSIUS_K - 32.0 * 5.0 / 9.0), "°f": (5.0 / 9.0, ZERO_CELSIUS_K - 32.0 * 5.0 / 9.0),
    "degf": (5.0 / 9.0, ZERO_CELSIUS_K - 32.0 * 5.0 / 9.0),
    "fahrenheit": (5.0 / 9.0, ZERO_CELSIUS_K - 32.0 * 5.0 / 9.0),
}
_TEMPERATURE = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*\.?\s*$")


def parse_temperature(text: Any) -> tuple[float | None, str | None]:
    """(kelvin, problem): "10 K", "300K", "25 C", "25 deg C", "25 Celsius", "77 F", "300 mK" -> kelvin.

    Text without a number ("room temperature") -> (None, None): nothing to convert, nothing wrong.
    A number without a unit or with an unknown unit, or below absolute zero -> (None, problem): it is
    never read as kelvin. Conversions: T[K] = T[C] + 273.15 = (T[F] - 32) * 5/9 + 273.15 = T[mK] / 1000.
    """
    value = str(text or "").strip()
    match = _TEMPERATURE.match(value)
    if not match:
        return None, None
    number = float(match.group(1))
    unit = match.group(2).replace(" ", "").lower()
    if not unit:
        return None, f"{excerpt(value)} has no unit (K, C, F, mK)"
    conversion = TEMPERATURE_UNITS.get(unit)
    if conversion is None:
        return None, f"{excerpt(value)} has an unknown unit {excerpt(match.group(2))} (expected K, C, F or mK)"
    kelvin = number * conversion[0] + conversion[1]
    if not math.isfinite(kelvin) or kelvin < 0:
        return None, f"{excerpt(value)} is below absolute zero"
    return kelvin, None


def parse_temperature_k(text: Any) -> float | None:
    """Kelvin from a temperature with its unit (see :func:`parse_temperature`), or None."""
    return parse_temperature(text)[0]


def optional_float(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def sort_by_energy(energy: np.ndarray, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scans recorded high-to-low are reversed; anything else is left for validation to judge."""
    if energy.size > 1 and np.all(np.diff(energy) < 0):
        return energy[::-1], signal[::-1]
    return energy, signal


def sort_scan(path: Path, energy: np.ndarray, signal: np.ndarray, lines: Any = None,
              where: str | None = None) -> tuple[np.ndarray, np.ndarray, Any]:
    """A scan in increasing energy, with each point's line number (``lines``, 1-based, or None).

    A scan recorded high-to-low (non-increasing overall) is reversed. An exactly repeated energy,
    in either direction, raises InputError naming the line of the repeat (the later of the two lines);
    other disorder is left for validation, which names the point.
    """
    energy = np.asarray(energy, dtype=float)
    signal = np.asarray(signal, dtype=float)
    if energy.size < 2:
        return energy, signal, lines
    steps = np.diff(energy)
    if np.all(steps <= 0) or np.all(steps >= 0):
        repeated = np.flatnonzero(steps == 0)
        if repeated.size:
            i = int(repeated[0]) + 1  # the later point of the first repeated pair, in file order
            if lines is not None and i < len(lines):
                place, earlier = f"line {int(lines[i])}", f" (also on line {int(lines[i - 1])})"
            else:
                place, earlier = where, f" (points {i} and {i + 1})"
            raise InputError(path, f"energy {energy[i]:g} eV is duplicated{earlier}: remove the repeated point",
                             where=place)
    if np.all(steps <= 0):
        return energy[::-1], signal[::-1], (None if lines is None else np.asarray(lines)[::-1])
    return energy, signal, lines


class EdgeMismatchError(InputError):
    """The stated element and edge do not fit the energies of the data (see :mod:`repository.edges`)."""


class EdgeStepError(InputError):
    """A measured absorption spectrum that does not rise at its edge: a negative edge step (a
    transmitted intensity read as mu) or one within the pre-edge noise (I0, noise); see
    :func:`repository.edges.check_edge_step`."""


ENERGY_UNIT_FACTORS = {"ev": 1.0, "kev": 1000.0}


def energy_unit_factor(unit: str | None, file: Path | str | None = None) -> float:
    """eV per unit for "eV"/"keV" (case-insensitive); InputError for anything else."""
    if unit is None:
        return 1.0
    factor = ENERGY_UNIT_FACTORS.get(str(unit).strip().lower())
    if factor is None:
        raise InputError(file, f"energy unit {excerpt(unit)} is not eV or keV")
    return factor


def make_record(path: Path, digest: str, options: ReadOptions, *, energy: np.ndarray, signal: np.ndarray,
                element: str | None, edge: str | None, origin: Origin, line_of_point: np.ndarray | None = None,
                spectrum_type: str | None = None, sample: SampleInfo | None = None, structure: Any = None,
                absorber_site_index: int | None = None, metadata: dict[str, Any] | None = None,
                polarization: str = "iso", name: str | None = None, energy_unit: str | None = None,
                energy_name: str | None = None, check_edge: bool = True,
                warnings: list[str] | None = None) -> SpectrumRecord:
    """Build and validate one record; array problems become InputErrors naming the line (or group).

    ``energy`` is in ``energy_unit`` (eV or keV, as the file declares it; ``ReadOptions.energy_unit``
    overrides). The stated element and edge are checked against the energies with
    :func:`repository.edges.check_edge` (tolerances there); a mismatch is an InputError naming the
    range found, the edge expected and the likely cause. A measured absorption (XAS) spectrum must
    then rise at that edge (:func:`repository.edges.check_edge_step`: a signed Larch edge step of at
    least 5 standard errors); one that falls there or holds no edge is an :class:`EdgeStepError`
    naming e0, the step and its error. Computed spectra whose energies are relative
    to the edge get the tabulated edge energy added (recorded in ``metadata`` and as a warning) unless
    ``--edge-energy`` is given; measured ones need ``--edge-energy``. Warnings for the user are in
    ``metadata["import_warnings"]`` (``warnings`` from the reader, and the edge energy added), each
    one line starting with the file name.
    """
    from ..edges import EdgeMismatch, EdgeStepProblem, check_edge_step
    from ..edges import check_edge as check_edge_energy
    from ..edges import edge_energy_ev

    MAX_POINTS.check(np.size(energy), shown_name(path), where=name)
    label = f" ({name})" if name else ""
    check_stated(path, element, edge, options, name)
    element = options.element or element or options.fallback_element
    edge = options.edge or edge or options.fallback_edge
    if not element:
        raise MissingMetadata(path, f"the file does not say which element absorbs{label}: give --element (and --edge)")
    if not edge:
        raise MissingMetadata(path, f"the file does not say which absorption edge{label}: give --edge (e.g. K, L3)")
    element = element_symbol(element, path, what="absorbing element")
    edge = edge_name(edge, path)
    metadata = dict(metadata or {})
    metadata.pop("import_warnings", None)  # those of an earlier import (a file exported by xasrepo)
    warnings = list(warnings or [])
    unit = options.energy_unit or energy_unit
    energy = np.asarray(energy, dtype=float) * energy_unit_factor(unit, path)
    if unit and unit.lower() == "kev":
        metadata["energy_converted_from"] = "keV"
    kind = options.spectrum_type or spectrum_type
    origin = Origin(options.origin) if options.origin else origin
    edge_added = options.edge_energy_ev
    if edge_added is None and origin == Origin.COMPUTED and energy.size and np.nanmin(energy) <= 0 < np.nanmax(energy):
        # computed spectra on an energy scale relative to the edge (FDMNES, some FEFF outputs)
        edge_added = edge_energy_ev(element, edge)
        if edge_added is not None:
            metadata["edge_energy_source"] = "tabulated (xraydb, Elam tables)"
            warnings.append(f"energies are relative to the edge: added the tabulated {element} {edge} edge energy "
                            f"{edge_added:g} eV (give --edge-energy to use another value)")
    if edge_added is not None:
        energy = energy + float(edge_added)
    if energy.size and np.nanmin(energy) <= 0:
        e0 = edge_energy_ev(element, edge)
        hint = (f"they look relative to the edge: give --edge-energy ({element} {edge} is tabulated at {e0:g} eV)"
                if options.edge_energy_ev is None and e0 is not None else "after adding --edge-energy")
        raise NonPositiveEnergy(path, f"photon energies must be positive eV, the lowest is {np.nanmin(energy):g} ({hint})",
                         where=name)
    try:
        spectrum = SpectrumData(energy_ev=energy, intensity=signal, absorbing_element=element, edge=edge,
                                spectrum_type=kind or guess_spectrum_type(np.asarray(energy)), origin=origin,
                                polarization=polarization)
    except InvalidArrays as exc:
        where = None
        if exc.point is not None and line_of_point is not None and exc.point < len(line_of_point):
            where = f"line {int(line_of_point[exc.point])}"
        elif name:
            where = name
        raise InputError(path, str(exc), where=where) from None
    except ValueError as exc:
        raise InputError(path, str(exc), where=name) from None
    if check_edge and options.check_edge:
        try:
            tabulated_e0 = check_edge_energy(spectrum.absorbing_element, spectrum.edge.value, spectrum.energy_ev,
                                             spectrum.intensity, computed=origin == Origin.COMPUTED,
                                             energy_name=energy_name)
        except EdgeMismatch as exc:
            raise EdgeMismatchError(path, str(exc), where=name) from None
        # The edge step is judged for MEASURED absorption spectra only. A computed XANES need not
        # have a continuum step: a Delta-Kohn-Sham or TDDFT spectrum is a sum of broadened bound
        # transitions that falls back towards zero above the edge (the bundled data/bn set), and
        # cluster codes truncate the continuum; its sign and shape are the code's, not a detector's,
        # so a wrong column there is caught where it is read (FEFF DANES output: repository.formats.feff).
        # Other spectroscopies (EELS, NRIXS, ...) are not mu(E) and are left alone.
        spectroscopy = metadata.get("spectroscopy") or (metadata.get("feff") or {}).get("spectroscopy") or "XAS"
        if options.check_edge_step and origin == Origin.EXPERIMENTAL and str(spectroscopy).upper() == "XAS":
            try:
                check_edge_step(spectrum.absorbing_element, spectrum.edge.value, spectrum.energy_ev,
                                spectrum.intensity, tabulated_e0)
            except EdgeStepProblem as exc:
                raise EdgeStepError(path, str(exc), where=name) from None
    sample = sample or SampleInfo()
    if origin == Origin.EXPERIMENTAL or any(v is not None for v in (
            options.sample_name, options.facility, options.beamline, options.measurement_mode)):
        sample = SampleInfo(
            sample_name=options.sample_name or sample.sample_name,
            facility=options.facility or sample.facility,
            beamline=options.beamline or sample.beamline,
            measurement_mode=measurement_mode(options.measurement_mode or sample.measurement_mode),
            calibration_shift_ev=(options.calibration_shift_ev if options.calibration_shift_ev is not None
                                  else sample.calibration_shift_ev),
            temperature_k=sample.temperature_k)
    if edge_added is not None:
        metadata["edge_energy_added_ev"] = float(edge_added)
    if warnings:
        metadata["import_warnings"] = [f"{_as_given_path(path)}{': ' + name if name else ''}: {w}" for w in warnings]
    return SpectrumRecord(spectrum=spectrum, source_file=shown_name(path), source_sha256=digest, sample=sample,
                          structure=structure, absorber_site_index=absorber_site_index, metadata=metadata)


def given_options(options: ReadOptions) -> list[str]:
    """The options set in ``options``, as the command line spells them (``--mode transmission``)."""
    return [f"{flag} {getattr(options, name)}" for name, flag in OPTION_NAMES.items()
            if not name.startswith("fallback_") and getattr(options, name) is not None]


def unapplied_options(options: ReadOptions, stored: dict[str, Any]) -> list[str]:
    """The label options of ``options`` (:data:`LABEL_OPTIONS`) that a spectrum already stored
    (``stored``: a :func:`repository.catalog.get_spectrum` row) does not carry, each as
    ``"--mode transmission (stored: fluorescence)"``; ``--structure`` is always listed (a stored
    spectrum is never linked to another structure). Empty: the options agree with it.

    An import never changes a stored spectrum: a file whose data (element, edge, arrays) are
    already stored is skipped, and these options with it."""
    unapplied = []
    for name in LABEL_OPTIONS:
        given = getattr(options, name)
        if given is None:
            continue
        have = stored.get(name)
        same = (have is not None and math.isclose(float(have), float(given), abs_tol=1e-9)
                if name == "calibration_shift_ev" else have == given)
        if not same:
            unapplied.append(f"{OPTION_NAMES[name]} {given} (stored: {'none' if have is None else have})")
    if options.structure_path is not None:
        unapplied.append(f"--structure {options.structure_path} (a stored spectrum keeps its structure)")
    return unapplied


def check_stated(path: Path | str, element: str | None, edge: str | None, options: ReadOptions,
                 name: str | None = None) -> None:
    """Refuse a file whose stated element or edge differs from ``options.fallback_element`` /
    ``fallback_edge`` (what the caller takes it to hold, e.g. ``project --element N``), with an
    InputError naming both; a file that does not state them, or states the same, passes. The file's
    values are compared as :func:`repository.conventions.parse_element` / ``parse_edge`` spell them;
    a stated value that is not a symbol at all is left for the reader's own check."""
    differs = []
    for what, stated, given, parse in (("element", element, options.fallback_element, parse_element),
                                       ("edge", edge, options.fallback_edge, lambda v: parse_edge(v).value)):
        if not stated or not given:
            continue
        try:
            stated = parse(stated)
        except ValueError:
            continue
        if stated != given:
            differs.append((what, stated, given))
    if differs:
        says = " and ".join(f"{what} {stated}" for what, stated, _ in differs)
        options_given = " ".join(f"{OPTION_NAMES['fallback_' + what]} {given}" for what, _, given in differs)
        raise InputError(path, f"the file states {says}, but {options_given} was given (these options only say what "
                               "a file does not state): drop the option, or correct the file", where=name)


def _as_given_path(path: Path) -> str:
    from ..errors import _as_given

    return _as_given(shown_name(path))


@dataclass
class Table:
    """Numeric columns with names (and units where known) and each row's line number."""

    data: np.ndarray  # (rows, columns)
    lines: np.ndarray  # 1-based line number of each row
    names: list[str] = field(default_factory=list)
    units: list[str | None] = field(default_factory=list)

    @property
    def width(self) -> int:
        return int(self.data.shape[1])

    def find(self, spec: str, path: Path, what: str) -> int:
        """0-based index of a column given as a 1-based number or a (case-insensitive) name."""
        text = str(spec).strip()
        if text.isdigit():
            index = int(text) - 1
            if not 0 <= index < self.width:
                raise InputError(path, f"{what} column {text} does not exist (the file has {count_of(self.width, 'column')})")
            return index
        lowered = [n.lower() for n in self.names]
        if text.lower() in lowered:
            return lowered.index(text.lower())
        known = ", ".join(self.names) if self.names else "none: use column numbers"
        raise InputError(path, f"{what} column {excerpt(text)} not found (columns: {known})")


# Column names of the incident-intensity monitor: the XDI dictionary's "i0", and i0_EH1, "I0 Chamber",
# Io, mon, monitor as beamline files spell it. The edge-step check (repository.edges.check_edge_step)
# cannot refuse I0 by its shape: a counting-time or gain change at a scan-region boundary near the
# edge steps it up like an edge (97 of the 208 I0 columns of the XDI and XAS Data Library fixtures
# rise by 20 or more standard errors there), so a column that says it is I0 is refused by its name.
INCIDENT_INTENSITY_NAME = re.compile(r"^(i0|io|mon|monitor)([\s_.:-].*)?$", re.IGNORECASE)


def normalize_signal(table: Table, signal: int, i0: int | None, mode: str | None, path: Path) -> tuple[np.ndarray, str]:
    """The signal column, divided by I0 (or ln(I0/I) in transmission) when an I0 column is given.

    Raises InputError for a signal column named as the incident intensity (INCIDENT_INTENSITY_NAME),
    a zero I0, or ln(I0/I) undefined (non-positive intensity)."""
    values = table.data[:, signal]
    label = table.names[signal] if table.names else f"col{signal + 1}"
    if table.names and INCIDENT_INTENSITY_NAME.match(label.strip()):
        raise InputError(path, f"the signal column {excerpt(label)} is the incident intensity I0 (by its name), not an "
                               "absorption signal: give the detector column as --signal-col and this one as --i0-col")
    if i0 is None:
        return values, label
    reference = table.data[:, i0]
    i0_label = table.names[i0] if table.names else f"col{i0 + 1}"
    bad = np.flatnonzero(reference == 0)
    if bad.size:
        raise InputError(path, f"I0 column {excerpt(i0_label)} is zero, cannot normalise", where=f"line {int(table.lines[bad[0]])}")
    if mode and mode.lower() == "transmission":
        bad = np.flatnonzero(values <= 0)
        if bad.size:
            raise InputError(path, f"ln({i0_label}/{label}) is undefined where {label} = {values[bad[0]]:g} "
                                   f"(transmitted intensity must be positive)", where=f"line {int(table.lines[bad[0]])}")
        ratio = reference / values
        bad = np.flatnonzero(ratio <= 0)
        if bad.size:
            raise InputError(path, f"ln({i0_label}/{label}) undefined (non-positive intensity)",
                             where=f"line {int(table.lines[bad[0]])}")
        return np.log(ratio), f"ln({i0_label}/{label})"
    return values / reference, f"{label}/{i0_label}"
