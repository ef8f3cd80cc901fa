"""Named vocabularies and constants used across xasrepo.

Photon energies are always in eV. Edges follow the XDI dictionary (``K, L, L1..L3, M, M1..M5, N,
N1..N7, O, O1..O7``); ``"L2,3"`` is allowed only for stitched L2+L3 spectra. Tabulated edge
energies are in :mod:`repository.edges`.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from enum import StrEnum


class Edge(StrEnum):
    """Edge symbols of the XDI dictionary (K, L, L1-L3, M, M1-M5, N, N1-N7, O, O1-O7), plus
    ``"L2,3"`` for stitched L2+L3 spectra (xasrepo's own; written to XDI as ``L``)."""

    K = "K"
    L = "L"
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    L23 = "L2,3"  # only for stitched L2+L3 spectra
    M = "M"
    M1 = "M1"
    M2 = "M2"
    M3 = "M3"
    M4 = "M4"
    M5 = "M5"
    N = "N"
    N1 = "N1"
    N2 = "N2"
    N3 = "N3"
    N4 = "N4"
    N5 = "N5"
    N6 = "N6"
    N7 = "N7"
    O = "O"  # noqa: E741 - the XDI symbol
    O1 = "O1"
    O2 = "O2"
    O3 = "O3"
    O4 = "O4"
    O5 = "O5"
    O6 = "O6"
    O7 = "O7"


# Edge symbols of the XDI 1.0 dictionary (Element.edge); "L2,3" is not one of them.
XDI_EDGES = tuple(e.value for e in Edge if e is not Edge.L23)


class SpectrumType(StrEnum):
    """XANES, EXAFS or XAFS (both)."""

    XANES = "XANES"
    EXAFS = "EXAFS"
    XAFS = "XAFS"


class Spectroscopy(StrEnum):
    """What was measured or computed. Only ``XAS`` (absorption: XANES/EXAFS/XAFS) spectra enter
    absorption embeddings; the others are stored with their own value so a query or an embedding
    never mixes them in silently."""

    XAS = "XAS"
    NRIXS = "NRIXS"  # non-resonant inelastic X-ray scattering, S(q, w)
    EELS = "EELS"  # electron energy-loss (core-loss) spectroscopy
    ELNES = "ELNES"  # energy-loss near-edge structure
    EXELFS = "EXELFS"
    XES = "XES"  # X-ray emission
    RIXS = "RIXS"


class Origin(StrEnum):
    """Whether a spectrum was computed or measured."""

    COMPUTED = "computed"
    EXPERIMENTAL = "experimental"


class DefectKind(StrEnum):
    """Kinds of defect: none, vacancy, substitution, interstitial, antisite, stone_wales, complex."""

    NONE = "none"
    VACANCY = "vacancy"
    SUBSTITUTION = "substitution"
    INTERSTITIAL = "interstitial"
    ANTISITE = "antisite"
    STONE_WALES = "stone_wales"
    COMPLEX = "complex"


class CoreHoleMethod(StrEnum):
    """How a calculation treated the core hole: half or full core hole, Z+1, XCH, ground state (none),
    multiple scattering (FEFF), other."""

    HALF_CORE_HOLE = "half_core_hole"  # Slater transition state
    FULL_CORE_HOLE = "full_core_hole"
    Z_PLUS_1 = "z_plus_1"
    XCH = "xch"  # excited electron and core hole
    GROUND_STATE = "ground_state"  # no core hole (initial-state rule)
    MULTIPLE_SCATTERING = "multiple_scattering"  # e.g. FEFF self-consistent potentials
    OTHER = "other"


class DosProjection(StrEnum):
    """What a DOS curve is projected on: total, element or site."""

    TOTAL = "total"
    ELEMENT = "element"
    SITE = "site"


class Orbital(StrEnum):
    """Orbital channels of a projected DOS: total, s, p, p_sigma (in-plane p), p_pi (out-of-plane p),
    px, py, pz, d, f."""

    TOTAL = "total"
    S = "s"
    P = "p"
    P_SIGMA = "p_sigma"  # in-plane p (layered materials)
    P_PI = "p_pi"  # out-of-plane p
    PX = "px"
    PY = "py"
    PZ = "pz"
    D = "d"
    F = "f"


class Spin(StrEnum):
    """Spin channel of a DOS curve: total, up or down."""

    TOTAL = "total"
    UP = "up"
    DOWN = "down"


# The seven crystal systems, as spglib / pymatgen name them (repository.structures stores these).
CRYSTAL_SYSTEMS = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic")

NAMED_POLARIZATIONS = ("iso", "x", "y", "z", "in_plane", "out_of_plane")


# Choices of the analysis layer, named once here (a module without heavy imports) so the CLI can
# offer them without importing numpy: repository.analysis.recipe / embed / project validate against
# them, and cli/ builds its option choices from them.
class EmbeddingMethod(StrEnum):
    """Embedding methods (:func:`repository.analysis.embed.fit_embedding`)."""

    umap = "umap"
    pca = "pca"
    mds = "mds"


class MdsSolver(StrEnum):
    """MDS solvers: SMACOF (small sets), landmark MDS (scalable), or auto (by set size)."""

    auto = "auto"
    smacof = "smacof"
    landmark = "landmark"


class Alignment(StrEnum):
    """Energy alignment of a preprocessing recipe (:mod:`repository.analysis.recipe`)."""

    none = "none"
    edge_onset = "edge_onset"
    stored_shift = "stored_shift"


class Normalization(StrEnum):
    """Intensity normalisation of a preprocessing recipe (:mod:`repository.analysis.recipe`)."""

    none = "none"
    max = "max"
    area = "area"
    edge_step = "edge_step"


class ProjectionAlignment(StrEnum):
    """How a projected spectrum's energies are aligned (:func:`repository.analysis.project.project`)."""

    none = "none"
    edge_onset = "edge_onset"
    fit = "fit"


#: Old spellings of :class:`ProjectionAlignment` values, still accepted for one release
#: (``onset`` became ``edge_onset`` on 2026-12-01: the recipe's alignment of the same thing is
#: ``edge_onset``).
RENAMED_PROJECTION_ALIGNMENTS = {"onset": ProjectionAlignment.edge_onset.value}


# Formats the writers produce, with their file suffixes (repository.formats.write_spectrum).
WRITE_FORMATS = {"xdi": ".xdi", "json": ".json", "csv": ".csv"}

# Bonding criterion used for coordination numbers and Larsen dimensionality: two atoms are bonded
# when closer than BOND_TOLERANCE x (sum of covalent radii). Larsen et al., Phys. Rev. Materials 3,
# 034003 (2019) use covalent radii scaled by a factor near this value.
BOND_TOLERANCE = 1.25

# Coordination number of an absorber: bonded neighbours (BOND_TOLERANCE criterion) that are also in
# the first shell, i.e. within CN_SHELL_FACTOR x the nearest-neighbour distance. The shell limit
# keeps metal-metal contacts of oxides (Co-Co 2.9 A beside Co-O 1.9 A) and second neighbours of
# bcc metals (ratio 1.155) out, while relaxed bonds around defects (ratio <= 1.1) stay in. It is
# geometric, so a longer bond of another kind is dropped: the B of a Stone-Wales B-B bond in h-BN
# (B-B 1.67 A beside B-N 1.34 A, ratio 1.25) gets CN 2 (docs/calcset-format.md).
CN_SHELL_FACTOR = 1.15

# Symmetry tolerance (Angstrom) for space-group analysis with spglib, as in Materials Project.
SYMPREC_A = 0.1


def did_you_mean(text: str, choices: "list[str] | tuple[str, ...]") -> str | None:
    """The choice closest to ``text`` (case-insensitive, :func:`difflib.get_close_matches` with its
    default cutoff 0.6), else the only choice that starts with it, else None."""
    by_lower = {c.lower(): c for c in choices}
    wanted = str(text).strip().lower()
    close = difflib.get_close_matches(wanted, list(by_lower), n=1)
    if close:
        return by_lower[close[0]]
    starting = [c for c in by_lower if wanted and c.startswith(wanted)]  # an abbreviation: "hex"
    return by_lower[starting[0]] if len(starting) == 1 else None


def _hint(text: str, choices: "list[str] | tuple[str, ...]") -> str:
    guess = did_you_mean(text, choices)
    return f"did you mean {guess!r}? " if guess else ""


def parse_edge(text: str) -> Edge:
    """Parse an edge name, accepting common spellings (``k``, ``L23``, ``L2,3``).

    The one parse of edge names for every command and reader. Raises ValueError listing the
    valid names (with a "did you mean" for a near miss)."""
    cleaned = str(text).strip().upper().replace(" ", "")
    aliases = {"L23": "L2,3", "L2+3": "L2,3", "L2,3": "L2,3"}
    cleaned = aliases.get(cleaned, cleaned)
    try:
        return Edge(cleaned)
    except ValueError:
        valid = ", ".join(e.value for e in Edge)
        raise ValueError(f"unknown edge {text!r} ({_hint(text, [e.value for e in Edge])}expected one of {valid})") from None


# Element symbols by atomic number (Z = index + 1), H to Og.
ELEMENTS = ("H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar", "K",
            "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb",
            "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe", "Cs",
            "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta",
            "W", "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa",
            "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt",
            "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og")
_ELEMENT_BY_LOWER = {e.lower(): e for e in ELEMENTS}


def parse_element(text: str) -> str:
    """A canonical element symbol, case-insensitively (``b`` -> ``B``, ``FE`` -> ``Fe``).

    The one parse of element symbols for every command and reader. Raises ValueError for anything
    that is not one of the 118 symbols (a name such as ``Boron`` included)."""
    value = str(text).strip()
    found = _ELEMENT_BY_LOWER.get(value.lower())
    if found is None:
        raise ValueError(f"{value!r} is not an element symbol (e.g. B, N, Fe)")
    return found


# Measurement modes of experimental spectra, in their usual spelling: transmission, fluorescence
# (yield), total/partial electron yield (TEY, PEY), total/partial fluorescence yield (TFY, PFY),
# high-energy-resolution fluorescence detection (HERFD), reflectivity, other. XDI files name the
# first two by their columns (itrans, ifluor; repository.formats.xdi).
MEASUREMENT_MODES = ("transmission", "fluorescence", "TEY", "TFY", "PFY", "PEY", "HERFD", "reflectivity", "other")
# Other spellings people write for them (lower case, spaces kept as typed after stripping).
MEASUREMENT_MODE_ALIASES = {
    "trans": "transmission", "fluo": "fluorescence", "fluor": "fluorescence", "fy": "fluorescence",
    "fluorescence yield": "fluorescence", "total electron yield": "TEY", "partial electron yield": "PEY",
    "total fluorescence yield": "TFY", "partial fluorescence yield": "PFY",
}
_MODE_BY_LOWER = {**{m.lower(): m for m in MEASUREMENT_MODES}, **MEASUREMENT_MODE_ALIASES}


def known_measurement_mode(text: str | None) -> str | None:
    """A mode of :data:`MEASUREMENT_MODES` in its usual spelling (``tey`` -> ``TEY``,
    ``total electron yield`` -> ``TEY``), or None when ``text`` is none of them."""
    if text is None:
        return None
    return _MODE_BY_LOWER.get(" ".join(str(text).split()).lower())


def parse_measurement_mode(text: str) -> str:
    """:func:`known_measurement_mode`, or ValueError naming the known modes, with a "did you mean"
    (difflib) for a near miss such as ``transmision``."""
    found = known_measurement_mode(text)
    if found is None:
        raise ValueError(f"unknown measurement mode {str(text)!r} ({_hint(text, MEASUREMENT_MODES)}"
                         f"expected one of {', '.join(MEASUREMENT_MODES)})")
    return found


# Names of spectrum types that are not stored under that name, with what to give instead. NEXAFS
# (near-edge X-ray absorption fine structure) is the soft-X-ray community's name for XANES: the same
# near-edge region. It is refused with this advice rather than read as XANES, so that one concept has
# one stored spelling; a plain "did you mean" would propose EXAFS, the closest string but the wrong region.
SPECTRUM_TYPE_OTHER_NAMES = {"nexafs": "NEXAFS is the soft-X-ray name for XANES: give XANES"}


def parse_spectrum_type(text: str) -> SpectrumType:
    """A :class:`SpectrumType` (case-insensitive): the one parse of spectrum types for every command
    and reader. The ValueError lists the valid values, with the advice of
    :data:`SPECTRUM_TYPE_OTHER_NAMES` for another community's name (NEXAFS), else a "did you mean"."""
    advice = SPECTRUM_TYPE_OTHER_NAMES.get(str(text).strip().lower())
    if advice is not None:
        values = ", ".join(m.value for m in SpectrumType)
        raise ValueError(f"unknown spectrum type {text!r} ({advice}; expected one of {values})")
    return _parse_choice(SpectrumType, text, "spectrum type")


def parse_choice(enum: type[StrEnum], text: str, what: str) -> StrEnum:
    """Parse ``text`` into ``enum`` (case-insensitive, ``-``/space for ``_``); the ValueError lists
    the valid values, with a "did you mean" for a near miss. Spectrum types go through
    :func:`parse_spectrum_type` (its advice for NEXAFS)."""
    if enum is SpectrumType:
        return parse_spectrum_type(text)
    return _parse_choice(enum, text, what)


def _parse_choice(enum: type[StrEnum], text: str, what: str) -> StrEnum:
    normalized = str(text).strip().lower().replace("-", "_").replace(" ", "_")
    for member in enum:
        if member.value.lower() == normalized or member.name.lower() == normalized:
            return member
    values = [m.value for m in enum]
    raise ValueError(f"unknown {what} {text!r} ({_hint(text, values)}expected one of {', '.join(values)})")


def parse_polarization(text: str) -> str:
    """A named polarisation (iso, x, y, z, in_plane, out_of_plane) or a vector "a,b,c"."""
    value = str(text).strip().lower().replace("-", "_")
    if value in NAMED_POLARIZATIONS:
        return value
    parts = value.replace("(", "").replace(")", "").replace("[", "").replace("]", "").split(",")
    if len(parts) == 3:
        try:
            vector = [float(p) for p in parts]
        except ValueError:
            pass
        else:
            if any(vector):
                return ",".join(f"{c:g}" for c in vector)
    raise ValueError(
        f"unknown polarization {text!r} (expected one of {', '.join(NAMED_POLARIZATIONS)} or a vector 'a,b,c')"
    )


def utc_now() -> datetime:
    """The current time as a timezone-aware UTC datetime: the one clock for every timestamp xasrepo
    stores (import times, snapshot creation, report dates)."""
    return datetime.now(UTC)
