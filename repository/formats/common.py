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

from ..conventions import Origin, SpectrumType, parse_edge
from ..errors import InputError
from ..files import file_sha256  # noqa: F401  (readers import it from here)
from ..values import InvalidArrays, SampleInfo, SpectrumData, SpectrumRecord

# A scan that covers more than this many eV is treated as XAFS (near edge + extended region);
# XANES scans rarely extend beyond ~150 eV above the edge, EXAFS scans reach 500-1500 eV.
XANES_MAX_SPAN_EV = 300.0

# h*c in eV*Angstrom (CODATA 2018), for monochromator angle -> energy: E = hc / (2 d sin(theta)).
HC_EV_ANGSTROM = 12398.419843320026

# Absolute zero in degrees Celsius, for temperatures given in C.
ZERO_CELSIUS_K = 273.15

ELEMENTS = ["H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"]
_BY_LOWER = {e.lower(): e for e in ELEMENTS}

# Text files have no NUL bytes; this many leading bytes are checked to recognise binary files.
BINARY_SNIFF_BYTES = 8192

MEASUREMENT_MODES = ("transmission", "fluorescence", "TEY", "TFY", "PFY", "PEY", "HERFD", "reflectivity", "other")
_MODE_BY_LOWER = {m.lower(): m for m in MEASUREMENT_MODES}


def measurement_mode(text: str | None) -> str | None:
    """Known modes in their usual spelling ("tey" -> "TEY"); anything else kept as given."""
    if text is None:
        return None
    value = str(text).strip()
    return _MODE_BY_LOWER.get(value.lower(), value) or None


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

    def with_(self, **changes: Any) -> ReadOptions:
        return replace(self, **changes)


DEFAULT_OPTIONS = ReadOptions()  # immutable: safe as a shared default


def read_text(path: Path) -> str:
    """A file's text (UTF-8, byte-order mark dropped, Latin-1 as a fallback for old beamline files)."""
    if not path.is_file():
        raise InputError(path, "file not found")
    data = path.read_bytes().rstrip(b"\x1a\r\n")  # DOS end-of-file mark in old beamline files
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise InputError(path, "a binary file, not text (e.g. MDA or HDF5): export it as text (XDI, columns) first")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def element_symbol(text: Any, file: Path | str | None, where: str | None = None, what: str = "element") -> str:
    """A canonical element symbol ("cu" -> "Cu"); InputError for anything else."""
    value = str(text).strip()
    found = _BY_LOWER.get(value.lower())
    if found is None:
        raise InputError(file, f"{what} {value!r} is not an element symbol", where=where)
    return found


def edge_name(text: Any, file: Path | str | None, where: str | None = None, what: str = "edge") -> str:
    try:
        return parse_edge(str(text)).value
    except ValueError as exc:
        raise InputError(file, f"{what}: {exc}", where=where) from None


def guess_spectrum_type(energy: np.ndarray) -> SpectrumType:
    span = float(energy[-1] - energy[0]) if energy.size else 0.0
    return SpectrumType.XAFS if span > XANES_MAX_SPAN_EV else SpectrumType.XANES


def parse_temperature_k(text: Any) -> float | None:
    """"10 K", "300K", "25 C" -> kelvin; anything else (e.g. "room temperature") -> None."""
    match = re.match(r"^\s*([-+]?\d+(?:\.\d*)?)\s*(K|C|°C|degC)?\b", str(text or ""), re.IGNORECASE)
    if not match:
        return None
    value = float(match.group(1))
    unit = (match.group(2) or "K").upper()
    return value if unit == "K" else value + ZERO_CELSIUS_K


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


def make_record(path: Path, digest: str, options: ReadOptions, *, energy: np.ndarray, signal: np.ndarray,
                element: str | None, edge: str | None, origin: Origin, line_of_point: np.ndarray | None = None,
                spectrum_type: str | None = None, sample: SampleInfo | None = None, structure: Any = None,
                absorber_site_index: int | None = None, metadata: dict[str, Any] | None = None,
                polarization: str = "iso", name: str | None = None) -> SpectrumRecord:
    """Build and validate one record; array problems become InputErrors naming the line (or group)."""
    element = options.element or element
    edge = options.edge or edge
    label = f" ({name})" if name else ""
    if not element:
        raise InputError(path, f"the file does not say which element absorbs{label}: give --element (and --edge)")
    if not edge:
        raise InputError(path, f"the file does not say which absorption edge{label}: give --edge (e.g. K, L3)")
    element = element_symbol(element, path, what="absorbing element")
    edge = edge_name(edge, path)
    energy = np.asarray(energy, dtype=float)
    if options.edge_energy_ev is not None:
        energy = energy + float(options.edge_energy_ev)
    kind = options.spectrum_type or spectrum_type
    origin = Origin(options.origin) if options.origin else origin
    if energy.size and np.nanmin(energy) <= 0:
        hint = ("they look relative to the edge: give --edge-energy" if options.edge_energy_ev is None
                else "after adding --edge-energy")
        raise InputError(path, f"photon energies must be positive eV, the lowest is {np.nanmin(energy):g} ({hint})",
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
    metadata = dict(metadata or {})
    if options.edge_energy_ev is not None:
        metadata["edge_energy_added_ev"] = float(options.edge_energy_ev)
    return SpectrumRecord(spectrum=spectrum, source_file=str(path), source_sha256=digest, sample=sample,
                          structure=structure, absorber_site_index=absorber_site_index, metadata=metadata)


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
                raise InputError(path, f"{what} column {text} does not exist (the file has {self.width} columns)")
            return index
        lowered = [n.lower() for n in self.names]
        if text.lower() in lowered:
            return lowered.index(text.lower())
        known = ", ".join(self.names) if self.names else "none: use column numbers"
        raise InputError(path, f"{what} column {text!r} not found (columns: {known})")


def normalise_signal(table: Table, signal: int, i0: int | None, mode: str | None, path: Path) -> tuple[np.ndarray, str]:
    """The signal column, divided by I0 (or ln(I0/I) in transmission) when an I0 column is given."""
    values = table.data[:, signal]
    label = table.names[signal] if table.names else f"col{signal + 1}"
    if i0 is None:
        return values, label
    reference = table.data[:, i0]
    i0_label = table.names[i0] if table.names else f"col{i0 + 1}"
    bad = np.flatnonzero(reference == 0)
    if bad.size:
        raise InputError(path, f"I0 column {i0_label!r} is zero, cannot normalise", where=f"line {int(table.lines[bad[0]])}")
    if mode and mode.lower() == "transmission":
        ratio = reference / values
        bad = np.flatnonzero(ratio <= 0)
        if bad.size:
            raise InputError(path, f"ln({i0_label}/{label}) undefined (non-positive intensity)",
                             where=f"line {int(table.lines[bad[0]])}")
        return np.log(ratio), f"ln({i0_label}/{label})"
    return values / reference, f"{label}/{i0_label}"
