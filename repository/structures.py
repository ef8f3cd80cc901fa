"""Crystal structures: reading files, canonical hashing and properties derived with pymatgen.

Properties are derived once per distinct structure (the importer caches by content hash), and
per absorber site only what that site needs (coordination number, distance to the defect).
pymatgen is imported inside functions so the CLI starts fast.
"""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .conventions import BOND_TOLERANCE, CN_SHELL_FACTOR, SYMPREC_A
from .errors import InputError, LimitExceeded
from .limits import MAX_ATOMS, MAX_STRUCTURE_FILE, check_input_file, load_json, min_distance_a, shown_name

if TYPE_CHECKING:
    from pymatgen.core import Structure

# Rounding used for the canonical form: 1e-6 Angstrom / 1e-6 fractional is far below any
# physically meaningful difference and far above float noise from file round-trips.
CANONICAL_DECIMALS = 6


@dataclass(frozen=True)
class StructureProperties:
    """Typed columns of the ``structure`` table, derived with pymatgen."""

    reduced_formula: str
    elements: tuple[str, ...]
    nsites: int
    spacegroup_number: int
    spacegroup_symbol: str
    crystal_system: str
    dimensionality: int
    density_g_cm3: float
    volume_per_atom_a3: float

    @property
    def nelements(self) -> int:
        return len(self.elements)


def read_structure(path: Path) -> "Structure":
    """Read a CIF, POSCAR/CONTCAR (``*.vasp``) or pymatgen JSON file; errors name the file."""
    # lazy import: start-up time (pymatgen is heavy; only this path needs it)
    from pymatgen.core import Structure

    check_input_file(path, MAX_STRUCTURE_FILE)
    name = path.name.lower()
    try:
        if name.endswith(".json"):
            data = load_json(path.read_text(), path)
            if isinstance(data, dict) and "structure" in data and "lattice" not in data:
                data = data["structure"]
            check_structure_dict(data, path)
            structure = Structure.from_dict(data)
        elif name.endswith(".cif"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                structure = Structure.from_file(str(path))
        elif name.endswith(".vasp") or name.startswith(("poscar", "contcar")):
            structure = Structure.from_file(str(path))
        else:
            raise InputError(path, "unknown structure format (expected .cif, .json, .vasp, POSCAR or CONTCAR)")
    except InputError:
        raise
    except Exception as exc:  # pymatgen raises many types for unreadable files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(path, f"unreadable structure ({reason})") from None
    if len(structure) == 0:
        raise InputError(path, "structure has no sites")
    if not structure.is_ordered:
        raise InputError(path, "structure is disordered (partial occupancies are not supported)")
    check_structure(structure, path)
    return structure


def check_structure_dict(data: Any, file: str | Path, where: str | None = None) -> None:
    """Refuse a pymatgen ``Structure.as_dict()`` with more sites than :data:`repository.limits.MAX_ATOMS`
    before pymatgen builds it (pymatgen holds ~2 kB per site)."""
    sites = data.get("sites") if isinstance(data, dict) else None
    if isinstance(sites, list):
        MAX_ATOMS.check(len(sites), shown_name(file), where=where, found=f"the structure has {len(sites):,} atoms")


# Pairs (centre x atom) per neighbour search in check_structure: bounds its memory (~50 bytes a pair)
# for any structure, also one whose atoms all sit on one point; one search for up to 1,000 atoms.
_DISTANCE_PAIRS = 1_000_000
_COINCIDENT_A = 1e-8  # pymatgen's default numerical tolerance of its neighbour search (Angstrom)


def check_structure(structure: "Structure", file: str | Path, where: str | None = None) -> None:
    """Refuse, before any analysis, a structure with more atoms than ``MAX_ATOMS`` or two atoms
    (or an atom and its own periodic image) closer than the minimum interatomic distance
    (:func:`repository.limits.min_distance_a`, 0.5 Å: H2's bond is 0.74 Å).

    Raises :class:`~repository.errors.LimitExceeded` naming ``file``, the atoms and their distance.
    Memory stays bounded: the shortest lattice vector of the LLL-reduced cell is checked first (a
    cell shorter than the limit puts an atom next to its own image), then the neighbours within the
    limit are searched for a few atoms at a time (pymatgen's cell-list search).
    """
    shown = shown_name(file)
    MAX_ATOMS.check(len(structure), shown, where=where, found=f"the structure has {len(structure):,} atoms")
    limit = min_distance_a()
    if limit <= 0:
        return
    hint = ("a unit error, fractional vs Cartesian or Bohr vs Å? If the structure is right, lower the limit "
            "with XASREPO_MIN_DISTANCE_A=...")
    reduced = structure.lattice.get_lll_reduced_lattice()
    shortest = float(min(reduced.abc))
    if shortest < limit:
        raise LimitExceeded(shown, f"the cell has a lattice vector of {shortest:.3g} Å: every atom is that close to "
                                   f"its own periodic image, below the minimum interatomic distance of {limit:g} Å "
                                   f"({hint})", where=where)
    # The LLL-reduced lattice keeps the periodic images searched few. The search runs on the
    # Cartesian coordinates with that lattice (pymatgen's own neighbour routine, which
    # Structure.get_neighbor_list calls) instead of building the reduced Structure: the same pairs
    # and distances (checked on 300 random cells, issue 18) without ~0.23 ms of pymatgen object
    # construction per cell.
    # lazy import: start-up time (pymatgen is heavy; only this path needs it)
    from pymatgen.optimization.neighbors import find_points_in_spheres

    coords = np.ascontiguousarray(structure.cart_coords, dtype=float)
    lattice = np.ascontiguousarray(reduced.matrix, dtype=float)
    pbc = np.ascontiguousarray(structure.pbc, dtype=np.int64)
    chunk = max(1, _DISTANCE_PAIRS // len(coords))
    for start in range(0, len(coords), chunk):
        centers, neighbors, images, distances = find_points_in_spheres(
            coords, coords[start:start + chunk], r=limit, pbc=pbc, lattice=lattice, tol=_COINCIDENT_A)
        # pymatgen numbers the centres within the chunk: drop each atom's pair with itself
        itself = (centers + start == neighbors) & np.all(images == 0, axis=1)
        close = np.flatnonzero((distances < limit) & ~itself)
        if close.size:
            k = close[int(np.argmin(distances[close]))]
            i, j = sorted((start + int(centers[k]), int(neighbors[k])))
            raise LimitExceeded(shown, f"atoms {i} ({structure[i].species_string}) and {j} "
                                       f"({structure[j].species_string}) are {distances[k]:.3g} Å apart, below the "
                                       f"minimum interatomic distance of {limit:g} Å ({hint})", where=where)


def canonical_form(structure: "Structure") -> dict[str, Any]:
    """An order-preserving, rounded description: same crystal and site order -> same hash.

    Site order is kept because absorber site indices refer to it.
    """
    lattice = np.round(structure.lattice.matrix, CANONICAL_DECIMALS) + 0.0
    frac = np.round(np.mod(structure.frac_coords, 1.0), CANONICAL_DECIMALS) % 1.0 + 0.0
    return {
        "lattice": lattice.tolist(),
        "species": [site.species_string for site in structure],
        "frac_coords": frac.tolist(),
        "charge": float(structure.charge or 0.0),
    }


def structure_hash(structure: "Structure") -> str:
    """SHA-256 (64 hex digits) of the structure's canonical form (:func:`canonical_form`): the same
    crystal with the same site order gives the same hash (site order is kept: absorber indices refer to it)."""
    payload = json.dumps(canonical_form(structure), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def structure_json(structure: "Structure") -> str:
    """The structure as pymatgen's ``as_dict`` JSON with sorted keys and no spaces (what is stored)."""
    return json.dumps(structure.as_dict(), sort_keys=True, separators=(",", ":"))


def _bond_cutoffs(structure: "Structure") -> tuple[dict[tuple[str, str], float], float]:
    return _cutoffs_for(tuple(sorted(structure.symbol_set)))


@functools.lru_cache(maxsize=256)
def _cutoffs_for(symbols: tuple[str, ...]) -> tuple[dict[tuple[str, str], float], float]:
    """Bond cutoffs BOND_TOLERANCE x (r_a + r_b) from Cordero's covalent radii (pymatgen's table)."""
    # lazy import: start-up time (pymatgen is heavy; only this path needs it)
    from pymatgen.analysis.molecule_structure_comparator import CovalentRadius
    from pymatgen.core.periodic_table import Element

    radius = {}
    for symbol in symbols:
        element = Element(symbol)
        fallback = element.atomic_radius_calculated or element.atomic_radius or 1.5
        radius[symbol] = float(CovalentRadius.radius.get(symbol, fallback))
    cutoffs = {(a, b): BOND_TOLERANCE * (radius[a] + radius[b]) for a in symbols for b in symbols}
    return cutoffs, max(cutoffs.values())


@dataclass(frozen=True)
class Bonds:
    """Bonded pairs of a structure under the covalent-radius criterion (:func:`bonds`), one row per
    (centre, neighbour, image): ``centers``/``neighbors`` (n,) int site indices, ``images`` (n, 3) int
    lattice translations of the neighbour, ``distances`` (n,) float in Angstrom."""

    centers: np.ndarray
    neighbors: np.ndarray
    images: np.ndarray
    distances: np.ndarray


def bonds(structure: "Structure") -> Bonds:
    """Bonded pairs (i, j, image, distance): every pair closer than BOND_TOLERANCE x (r_i + r_j)
    (Cordero's covalent radii, :mod:`repository.conventions`), from one pymatgen neighbour list.

    Both :func:`larsen_dimensionality` and :func:`coordination_numbers` use these; pass the result to
    both (as :func:`analyze_with_coordination` does) to build the neighbour list once per structure.
    """
    cutoffs, r_max = _bond_cutoffs(structure)
    centers, neighbors, images, distances = structure.get_neighbor_list(r_max)
    # the cutoff of each pair from a species-by-species table (numpy indexing; the same floats as
    # looking each pair up in ``cutoffs``, ~0.3 ms less per 64-atom cell than a Python loop over pairs)
    symbols = sorted({symbol for symbol, _ in cutoffs})
    code = {symbol: k for k, symbol in enumerate(symbols)}
    table = np.array([[cutoffs[(a, b)] for b in symbols] for a in symbols], dtype=float)
    site_code = np.array([code[site.specie.symbol] for site in structure], dtype=int)
    if len(distances):
        limit = table[site_code[centers], site_code[neighbors]]
        keep = (distances <= limit) & (distances > 1e-8)
    else:
        keep = np.zeros(0, bool)
    return Bonds(centers[keep], neighbors[keep], np.rint(images[keep]).astype(int), distances[keep])


def _bonds(structure: "Structure"):
    """Bonded pairs (i, j, image, distance) as a tuple of arrays (see :func:`bonds`)."""
    b = bonds(structure)
    return b.centers, b.neighbors, b.images, b.distances


def larsen_dimensionality(structure: "Structure", bonded: Bonds | None = None) -> int:
    """Dimensionality (0-3) by the Larsen et al. (2019) rank method on covalent-radius bonds.

    Walk each bonded cluster keeping every atom's lattice image; a bond that closes a loop into
    another image contributes a translation vector, and the rank of those vectors is the
    cluster's dimensionality. The structure's is the largest over its clusters. ``bonded``: the
    structure's :func:`bonds`, when already computed.
    """
    bonded = bonds(structure) if bonded is None else bonded
    n = len(structure)
    # Python ints and tuples rather than 3-element numpy arrays per step: the walk visits every
    # bond twice, and numpy's per-call overhead made it ~1 ms per 64-atom cell (measured, issue 18).
    adjacency: list[list[tuple[int, int, int, int]]] = [[] for _ in range(n)]
    for i, j, (a, b, c) in zip(bonded.centers.tolist(), bonded.neighbors.tolist(), bonded.images.tolist()):
        adjacency[i].append((j, a, b, c))
    offset: list[tuple[int, int, int] | None] = [None] * n
    best = 0
    for start in range(n):
        if offset[start] is not None:
            continue
        offset[start] = (0, 0, 0)
        stack, translations = [start], set()
        while stack:
            i = stack.pop()
            oi = offset[i]
            for j, a, b, c in adjacency[i]:
                expected = (oi[0] + a, oi[1] + b, oi[2] + c)
                oj = offset[j]
                if oj is None:
                    offset[j] = expected
                    stack.append(j)
                elif oj != expected:
                    translations.add((expected[0] - oj[0], expected[1] - oj[1], expected[2] - oj[2]))
        if translations:  # the rank of a set of integer vectors does not depend on repeats or order
            best = max(best, int(np.linalg.matrix_rank(np.array(sorted(translations), dtype=float))))
        if best == 3:
            break
    return best


@functools.lru_cache(maxsize=None)
def _atomic_mass_amu(species) -> float:
    """pymatgen's atomic mass (amu) of an Element or Species, cached per species."""
    return float(species.atomic_mass)


@functools.lru_cache(maxsize=1)
def _density_factors() -> tuple[float, float]:
    """(g per amu, cm^3 per A^3) exactly as pymatgen's ``Structure.density`` converts them."""
    # lazy import: start-up time (pymatgen is heavy; only this path needs it)
    from pymatgen.core.units import Length, Mass

    return float(Mass(1, "amu").to("g")), float(Length(1, "ang").to("cm") ** 3)


def density_g_cm3(composition, volume_a3: float) -> float:
    """Density in g/cm^3 of ``composition`` (a pymatgen Composition, the cell's content) in a cell of
    ``volume_a3`` cubic Angstrom: the same float as pymatgen's ``Structure.density``, computed the
    same way (sum of amount x atomic mass in the composition's order, x g/amu, / (V x cm^3/A^3))
    without pymatgen's unit objects (0.4 ms per 64-atom cell, measured for issue 18)."""
    grams_per_amu, cm3_per_a3 = _density_factors()
    weight = sum(amount * _atomic_mass_amu(species) for species, amount in composition.items())
    return (weight * grams_per_amu) / (volume_a3 * cm3_per_a3)


# International Tables space-group number ranges of the crystal systems (the upper bound, exclusive),
# as pymatgen's SpacegroupAnalyzer.get_crystal_system.
_CRYSTAL_SYSTEMS = ((3, "triclinic"), (16, "monoclinic"), (75, "orthorhombic"), (143, "tetragonal"),
                    (168, "trigonal"), (195, "hexagonal"), (231, "cubic"))


def _spacegroup(structure: "Structure") -> tuple[int, str, str]:
    """(number, Hermann-Mauguin symbol, crystal system) by spglib at SYMPREC_A and 5 degrees.

    A structure of plain elements without site properties goes to spglib directly with the cell
    pymatgen's SpacegroupAnalyzer would build (lattice, fractional coordinates, species numbered in
    order of first appearance): the analyzer's set-up in Python (site properties, magnetic moments)
    costs more than spglib itself on a 64-atom cell (measured, issue 18). Anything else (species with
    oxidation states or spins, magnetic moments) goes through SpacegroupAnalyzer.
    Raises whatever spglib or pymatgen raise for a cell they cannot analyse.
    """
    # lazy import: start-up time (pymatgen is heavy; only this path needs it)
    from pymatgen.core.periodic_table import Element

    species = [site.specie for site in structure]
    plain = all(type(s) is Element for s in species) and not any(site.properties for site in structure)
    if not plain:
        # lazy import: start-up time (pymatgen is heavy; only this path needs it)
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        analyzer = SpacegroupAnalyzer(structure, symprec=SYMPREC_A)
        return (int(analyzer.get_space_group_number()), analyzer.get_space_group_symbol(),
                analyzer.get_crystal_system())
    # lazy import: start-up time (spglib loads only with the structure analysis)
    import spglib

    numbers: dict[Any, int] = {}
    zs = tuple(numbers.setdefault(s, len(numbers) + 1) for s in species)
    cell = (tuple(map(tuple, structure.lattice.matrix.tolist())), tuple(map(tuple, structure.frac_coords.tolist())), zs)
    dataset = spglib.get_symmetry_dataset(cell, symprec=SYMPREC_A, angle_tolerance=5)
    if dataset is None:
        raise ValueError("spglib could not determine the symmetry")
    number = int(dataset.number)
    system = next(name for bound, name in _CRYSTAL_SYSTEMS if number < bound)
    return number, dataset.international, system


def analyze(structure: "Structure", bonded: Bonds | None = None) -> StructureProperties:
    """Derive the typed columns of a structure (space group by spglib, Larsen dimensionality).

    ``bonded``: the structure's :func:`bonds` when already computed (one neighbour list per cell).
    """
    try:
        number, symbol, system = _spacegroup(structure)
    except Exception:  # spglib can fail on pathological cells: P1 is the honest answer
        number, symbol, system = 1, "P1", "triclinic"
    composition = structure.composition
    volume = structure.volume
    return StructureProperties(
        reduced_formula=composition.reduced_formula,
        elements=tuple(sorted(el.symbol for el in composition.elements)),
        nsites=len(structure),
        spacegroup_number=number,
        spacegroup_symbol=symbol,
        crystal_system=system,
        dimensionality=larsen_dimensionality(structure, bonded),
        density_g_cm3=density_g_cm3(composition, volume),
        volume_per_atom_a3=float(volume / len(structure)),
    )


def analyze_with_coordination(structure: "Structure") -> tuple[StructureProperties, np.ndarray]:
    """:func:`analyze` and :func:`coordination_numbers` of one structure from one neighbour list:
    (properties, CN per site as an (nsites,) int array). Same values as calling both."""
    bonded = bonds(structure)
    return analyze(structure, bonded), coordination_numbers(structure, bonded)


def coordination_numbers(structure: "Structure", bonded: Bonds | None = None) -> np.ndarray:
    """Coordination number of every site: bonded neighbours within CN_SHELL_FACTOR x the site's
    nearest-neighbour distance (see :mod:`repository.conventions`). One neighbour list serves all
    sites, which is cheaper than per-site queries when several absorbers of a structure are imported.
    ``bonded``: the structure's :func:`bonds`, when already computed."""
    bonded = bonds(structure) if bonded is None else bonded
    centers, distances = bonded.centers, bonded.distances
    counts = np.zeros(len(structure), dtype=int)
    if len(centers) == 0:
        return counts
    centers = centers.astype(int)
    nearest = np.full(len(structure), np.inf)
    np.minimum.at(nearest, centers, distances)
    in_shell = distances <= CN_SHELL_FACTOR * nearest[centers]
    np.add.at(counts, centers[in_shell], 1)
    return counts


def coordination_number(structure: "Structure", site_index: int) -> int:
    """Coordination number of one site (same definition as :func:`coordination_numbers`)."""
    return int(coordination_numbers(structure)[site_index])


def distance_to_point(structure: "Structure", site_index: int, frac_point: tuple[float, float, float]) -> float:
    """Shortest periodic distance (Angstrom) from a site to a point in fractional coordinates."""
    distance, _ = structure.lattice.get_distance_and_image(structure[site_index].frac_coords, np.asarray(frac_point))
    return float(distance)
