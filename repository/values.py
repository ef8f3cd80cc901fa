"""Immutable, validated value objects for spectra and their metadata.

Arrays inside value objects are read-only copies: nothing downstream can change a spectrum in
place, and derived quantities are computed by functions, never cached.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .conventions import DefectKind, Edge, Origin, SpectrumType, parse_edge, parse_polarization, parse_spectrum_type
from .errors import InputError
from .arrays import to_blob

MIN_POINTS = 2


class InvalidArrays(ValueError):
    """Arrays that cannot be a spectrum; the message says why in the user's terms.

    ``point`` is the 0-based index of the offending point, when there is one, so readers can
    turn it into a line number of their file.
    """

    def __init__(self, message: str, point: int | None = None):
        super().__init__(message)
        self.point = point


def _frozen(values: Any, name: str) -> np.ndarray:
    try:
        array = np.array(values, dtype=float)
    except (TypeError, ValueError):
        raise InvalidArrays(f"{name} is not numeric") from None
    if array.ndim != 1:
        raise InvalidArrays(f"{name} must be one-dimensional, got shape {array.shape}")
    array.setflags(write=False)
    return array


def validated_arrays(energy_ev: Any, intensity: Any, *, energy_name: str = "energy",
                     intensity_name: str = "intensity") -> tuple[np.ndarray, np.ndarray]:
    """Check that two arrays form a spectrum and return read-only float64 copies.

    Raises :class:`InvalidArrays` naming the first problem found (and its index): different
    lengths, too few points, NaN/inf values, a duplicated or decreasing energy.
    """
    energy = _frozen(energy_ev, energy_name)
    signal = _frozen(intensity, intensity_name)
    if energy.shape != signal.shape:
        raise InvalidArrays(
            f"{energy_name} has {energy.size} points but {intensity_name} has {signal.size}")
    if energy.size < MIN_POINTS:
        raise InvalidArrays(f"a spectrum needs at least {MIN_POINTS} points, got {energy.size}")
    for name, array in ((energy_name, energy), (intensity_name, signal)):
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise InvalidArrays(f"{name} has a non-finite value ({array[bad[0]]}) at point {bad[0] + 1}",
                                point=int(bad[0]))
    steps = np.diff(energy)
    if np.any(steps <= 0):
        i = int(np.flatnonzero(steps <= 0)[0])
        kind = "duplicated" if steps[i] == 0 else "decreasing (energies must increase)"
        raise InvalidArrays(
            f"{energy_name} is {kind} at point {i + 2} ({energy[i]:g} -> {energy[i + 1]:g} eV)", point=i + 1)
    return energy, signal


@dataclass(frozen=True)
class SampleInfo:
    """Metadata of a measured sample (experimental spectra only)."""

    sample_name: str | None = None
    facility: str | None = None
    beamline: str | None = None
    measurement_mode: str | None = None  # transmission, fluorescence, TEY, TFY, PFY, ...
    calibration_shift_ev: float | None = None
    temperature_k: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class SpectrumData:
    """One spectrum: energies in eV, intensity (arbitrary units), and what it is a spectrum of."""

    energy_ev: np.ndarray
    intensity: np.ndarray
    absorbing_element: str
    edge: Edge
    spectrum_type: SpectrumType = SpectrumType.XANES
    polarization: str = "iso"
    origin: Origin = Origin.COMPUTED

    def __post_init__(self) -> None:
        energy, signal = validated_arrays(self.energy_ev, self.intensity)
        object.__setattr__(self, "energy_ev", energy)
        object.__setattr__(self, "intensity", signal)
        object.__setattr__(self, "edge", parse_edge(str(self.edge)))
        object.__setattr__(self, "spectrum_type", parse_spectrum_type(str(self.spectrum_type)))
        object.__setattr__(self, "origin", Origin(str(self.origin)))
        object.__setattr__(self, "polarization", parse_polarization(self.polarization))
        element = str(self.absorbing_element).strip()
        if not element or not element[0].isalpha():
            raise InvalidArrays(f"absorbing element {self.absorbing_element!r} is not an element symbol")
        object.__setattr__(self, "absorbing_element", element[0].upper() + element[1:].lower())

    @property
    def n_points(self) -> int:
        return int(self.energy_ev.size)


@dataclass(frozen=True)
class SpectrumRecord:
    """A spectrum with everything known about where it came from, ready for the importer.

    Readers (``repository.formats``) produce these; the importer writes them. ``metadata`` holds
    whatever else the file said (XDI headers, FEFF cards), stored as JSON.
    """

    spectrum: SpectrumData
    source_file: str | None = None
    source_sha256: str | None = None
    sample: SampleInfo = field(default_factory=SampleInfo)
    structure: Any = None  # a pymatgen Structure, when one is known
    absorber_site_index: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # the user stated that ``structure`` has no defect (``xasrepo import --defect-free``); what the
    # file itself says is in ``metadata["context"]`` (:func:`context_defect_free`)
    defect_free: bool = False


def content_hash(spectrum: SpectrumData, *, structure_hash: str | None = None,
                 absorber_site_index: int | None = None, extra: dict[str, Any] | None = None) -> str:
    """SHA-256 identifying a spectrum by its arrays and what it is a spectrum of.

    Used for idempotent import and, later, for the input-set hash of embedding snapshots.
    """
    identity = {
        "element": spectrum.absorbing_element,
        "edge": spectrum.edge.value,
        "type": spectrum.spectrum_type.value,
        "polarization": spectrum.polarization,
        "origin": spectrum.origin.value,
        "structure": structure_hash,
        "site": absorber_site_index,
        "extra": extra or {},
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    digest.update(to_blob(spectrum.energy_ev))
    digest.update(to_blob(spectrum.intensity))
    return digest.hexdigest()


def finite_or_none(value: Any) -> float | None:
    """``float(value)`` when finite, else None (None, NaN and infinities all become None)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class ContextDefect:
    """The defect a data file says its structure has (``metadata["context"]``: ``defect_kind``,
    ``defect_name``, ``defect_charge``, as ``xasrepo export`` writes them); charge in e."""

    kind: str
    name: str
    charge: int


def context_defect(metadata: dict[str, Any], file: Any = None, where: str | None = None) -> ContextDefect | None:
    """The :class:`ContextDefect` in ``metadata["context"]``, or None when it names no defect (no
    ``defect_kind``/``defect_name``, or kind ``none``: a pristine structure).

    Raises :class:`~repository.errors.InputError` naming ``file``, ``where`` and the field for a
    context that cannot be a defect (unknown kind, a name without a kind or the reverse, a
    charge that is not an integer): guessing would store a wrong defect, or call it pristine.
    """
    context = metadata.get("context") if isinstance(metadata, dict) else None
    if not isinstance(context, dict):
        return None
    kind, name, charge = context.get("defect_kind"), context.get("defect_name"), context.get("defect_charge")

    def fail(field_name: str, problem: str) -> InputError:
        place = f"metadata.context.{field_name}"
        return InputError(file, problem, where=f"{where}: {place}" if where else place)

    if kind in (None, DefectKind.NONE.value) and name is None:
        if charge not in (None, 0, "0"):
            raise fail("defect_charge", f"charge {charge!r} given without a defect (defect_kind, defect_name)")
        return None
    kinds = ", ".join(k.value for k in DefectKind if k is not DefectKind.NONE)
    if kind is None:
        raise fail("defect_kind", f"missing: defect_name {name!r} needs a kind ({kinds})")
    if kind == DefectKind.NONE.value:
        raise fail("defect_kind", f"'none' (pristine) contradicts defect_name {name!r}")
    if kind not in {k.value for k in DefectKind}:
        raise fail("defect_kind", f"unknown defect kind {kind!r} (expected one of {kinds})")
    if not isinstance(name, str) or not name.strip():
        raise fail("defect_name", f"missing or empty: a {kind} defect needs a name such as v_N or C_B")
    if charge is None:
        charge = 0
    elif isinstance(charge, str) and charge.strip().lstrip("+-").isdigit():
        charge = int(charge)  # XDI headers and CSV comments give every value as text
    if isinstance(charge, bool) or not isinstance(charge, int):
        raise fail("defect_charge", f"{charge!r} is not a whole number of elementary charges")
    return ContextDefect(kind=kind, name=name.strip(), charge=charge)


def context_defect_free(metadata: dict[str, Any]) -> bool:
    """True when ``metadata["context"]`` states that the structure has no defect: ``defect_kind``
    ``"none"`` and no ``defect_name`` (what ``xasrepo export`` writes for a known pristine
    structure). A context that says nothing about defects is not such a statement (False): the
    structure of a FEFF run or of a JSON file from elsewhere may be a defect supercell.

    Validity (a ``none`` that contradicts a name, ...) is :func:`context_defect`'s to check."""
    context = metadata.get("context") if isinstance(metadata, dict) else None
    return (isinstance(context, dict) and context.get("defect_kind") == DefectKind.NONE.value
            and context.get("defect_name") is None)
