"""Named vocabularies and constants used across xasrepo.

Photon energies are always in eV. Edges follow the IUPAC/XDI names ``K, L1, L2, L3, M1..M5``;
``"L2,3"`` is allowed only for stitched L2+L3 spectra.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum


class Edge(StrEnum):
    K = "K"
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    L23 = "L2,3"  # only for stitched L2+L3 spectra
    M1 = "M1"
    M2 = "M2"
    M3 = "M3"
    M4 = "M4"
    M5 = "M5"
    N1 = "N1"


class SpectrumType(StrEnum):
    XANES = "XANES"
    EXAFS = "EXAFS"
    XAFS = "XAFS"


class Origin(StrEnum):
    COMPUTED = "computed"
    EXPERIMENTAL = "experimental"


class DefectKind(StrEnum):
    NONE = "none"
    VACANCY = "vacancy"
    SUBSTITUTION = "substitution"
    INTERSTITIAL = "interstitial"
    ANTISITE = "antisite"
    STONE_WALES = "stone_wales"
    COMPLEX = "complex"


class CoreHoleMethod(StrEnum):
    HALF_CORE_HOLE = "half_core_hole"  # Slater transition state
    FULL_CORE_HOLE = "full_core_hole"
    Z_PLUS_1 = "z_plus_1"
    XCH = "xch"  # excited electron and core hole
    GROUND_STATE = "ground_state"  # no core hole (initial-state rule)
    MULTIPLE_SCATTERING = "multiple_scattering"  # e.g. FEFF self-consistent potentials
    OTHER = "other"


class DosProjection(StrEnum):
    TOTAL = "total"
    ELEMENT = "element"
    SITE = "site"


class Orbital(StrEnum):
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
    TOTAL = "total"
    UP = "up"
    DOWN = "down"


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
    onset = "onset"
    fit = "fit"


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


def parse_edge(text: str) -> Edge:
    """Parse an edge name, accepting common spellings (``k``, ``L23``, ``L2,3``)."""
    cleaned = text.strip().upper().replace(" ", "")
    aliases = {"L23": "L2,3", "L2+3": "L2,3", "L2,3": "L2,3"}
    cleaned = aliases.get(cleaned, cleaned)
    try:
        return Edge(cleaned)
    except ValueError:
        valid = ", ".join(e.value for e in Edge)
        raise ValueError(f"unknown edge {text!r} (expected one of {valid})") from None


def parse_choice(enum: type[StrEnum], text: str, what: str) -> StrEnum:
    """Parse ``text`` into ``enum``; the error lists the valid values."""
    normalized = str(text).strip().lower().replace("-", "_").replace(" ", "_")
    for member in enum:
        if member.value.lower() == normalized or member.name.lower() == normalized:
            return member
    valid = ", ".join(m.value for m in enum)
    raise ValueError(f"unknown {what} {text!r} (expected one of {valid})")


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
