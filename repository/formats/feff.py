"""FEFF output: ``xmu.dat`` (omega, e, k, mu, mu0, chi) or ``eels.dat``, with its ``feff.inp``.

The absorber and edge come from feff.inp (the ipot-0 potential and the EDGE card, K by default) or,
without feff.inp, from the xmu.dat header ("Abs Z= 8 ... K shell"). A FEFF cluster is not a periodic
structure, so the record keeps what is known about it in ``metadata["feff"]["cluster"]``: composition,
number of atoms, absorber and its neighbour shells. The cluster counts against the atoms-per-structure
limit (``XASREPO_MAX_ATOMS``, docs/limits.md) like any structure. A crystal structure file beside the run (CIF,
POSCAR/CONTCAR, ``*.vasp``, ``structure.json``), or ``ReadOptions.structure_path``, is attached as
the spectrum's structure.

pymatgen's FEFF parsers were tried first: ``Atoms.cluster_from_file`` reads potential tags such as
"B1" as oxidation states (B+) and fails on inputs without a distance column (examples/XANES/Cu), and
``Tags.from_file`` fails on the graphite k-space input; this reader handles all FEFF10 examples.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..conventions import Origin, SpectrumType
from ..errors import InputError
from ..limits import MAX_ATOMS, excerpt, shown_name
from ..values import SpectrumRecord
from .common import (
    DEFAULT_OPTIONS,
    ELEMENTS,
    ReadOptions,
    edge_name,
    file_sha256,
    make_record,
    read_text,
    sort_scan,
)

INPUT_NAME = "feff.inp"
# xmu.dat column line; NRIXS runs write S(q,w) in place of mu.
XMU_HEADER = re.compile(r"^#\s+omega\s+e\s+k\s+(mu\s+mu0\s+chi|S\(qw\)\s+S\^0\(qw\))", re.MULTILINE)
EELS_HEADER = re.compile(r"^#\s+Energy\s+total\b", re.MULTILINE)
ABSORBER_HEADER = re.compile(r"^#.*\bAbs\s+Z=\s*(\d+).*?\b([KLMN]\d?)\s+shell", re.MULTILINE)
STRUCTURE_NAMES = ("POSCAR", "CONTCAR", "structure.json")
STRUCTURE_SUFFIXES = (".cif", ".vasp")
# Neighbour shells kept in the metadata: atoms within this distance of the absorber, grouped by
# element and distance rounded to SHELL_DECIMALS.
NEIGHBOR_RADIUS_A = 6.0
SHELL_DECIMALS = 2
EMISSION_CARDS = ("XES",)
# Cards whose run writes the real part of the anomalous scattering factor f'(E) into the mu column of
# xmu.dat, not absorption (FEFF's fprime routine, "calculate f' ... Ankudinov, Rehr DANES paper"):
# the examples/DANES/BN reference runs from -4.8 down to -11.8 at the B K edge and back towards 0.
# Such a run leaves danes.dat (FEFF 9/10 reference runs: referencedanes.dat) beside its xmu.dat.
ANOMALOUS_CARDS = ("DANES", "FPRIME")
ANOMALOUS_OUTPUTS = ("danes.dat", "referencedanes.dat")
SPECTROSCOPY_CARDS = {"ELNES": "ELNES", "EXELFS": "EXELFS", "NRIXS": "NRIXS", "RIXS": "RIXS"}


def _find_files(path: Path) -> tuple[Path | None, Path]:
    """(feff.inp or None, spectrum file) for a run directory, a feff.inp or a spectrum file."""
    if path.is_dir():
        folder = path
        if not (folder / INPUT_NAME).is_file():
            spectra = [p for p in sorted(folder.iterdir()) if p.name.lower() in ("xmu.dat", "referencexmu.dat")]
            if spectra:
                return None, spectra[0]
    elif path.name.lower() == INPUT_NAME:
        folder = path.parent
    else:
        inp = path.parent / INPUT_NAME
        return (inp if inp.is_file() else None), path
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower() != INPUT_NAME)
    for pattern in ("xmu.dat", "referencexmu.dat", "eels.dat", "reference_eels.dat"):
        for p in candidates:
            if p.name.lower() == pattern:
                return (folder / INPUT_NAME if (folder / INPUT_NAME).is_file() else None), p
    raise InputError(folder, "no FEFF spectrum (xmu.dat or eels.dat) next to feff.inp")


def parse_feff_input(path: Path) -> dict[str, Any]:
    """Cards, potentials and atoms of a feff.inp; errors name the line.

    The ATOMS cluster is a structure like any other: more atoms than
    :data:`repository.limits.MAX_ATOMS` (``XASREPO_MAX_ATOMS``) are refused with
    :class:`~repository.errors.LimitExceeded` naming the file and the variable, after counting
    them all (rows past the limit are counted, not kept)."""
    cards: dict[str, str] = {}
    potentials: dict[int, dict[str, Any]] = {}
    atoms: list[tuple[float, float, float, int, str, int]] = []
    max_atoms = MAX_ATOMS.value()
    n_atoms = 0
    first_atom_line = None
    block = None
    for number, raw in enumerate(read_text(path).splitlines(), start=1):
        line = raw.split("*", 1)[0].strip() if not raw.strip().upper().startswith("TITLE") else raw.strip()
        if not line:
            continue
        words = line.split()
        head = words[0].upper()
        if head == "END":
            break
        if head[0].isalpha() and not (block == "ATOMS" and len(words) >= 4 and _is_number(words[0])):
            block = head if head in ("POTENTIALS", "ATOMS") else None
            if head not in ("POTENTIALS", "ATOMS"):
                cards[head] = " ".join(words[1:])
            continue
        where = f"line {number}"
        if block == "POTENTIALS":
            try:
                ipot, z = int(words[0]), int(words[1])
            except (ValueError, IndexError):
                raise InputError(path, f"POTENTIALS row {excerpt(line)} does not start with 'ipot Z'", where=where) from None
            if not 1 <= z <= len(ELEMENTS):
                raise InputError(path, f"atomic number {z} is not an element", where=where)
            potentials[ipot] = {"z": z, "element": ELEMENTS[z - 1], "label": words[2] if len(words) > 2 else None}
        elif block == "ATOMS":
            try:
                x, y, zc = (float(w) for w in words[:3])
                ipot = int(words[3])
            except (ValueError, IndexError):
                raise InputError(path, f"ATOMS row {excerpt(line)} is not 'x y z ipot [tag]'", where=where) from None
            n_atoms += 1
            first_atom_line = first_atom_line or number
            if n_atoms <= max_atoms:
                atoms.append((x, y, zc, ipot, words[4] if len(words) > 4 else "", number))
    MAX_ATOMS.check(n_atoms, shown_name(path), where=f"ATOMS from line {first_atom_line}",
                    found=f"the ATOMS cluster has {n_atoms:,} atoms")
    if not potentials:
        raise InputError(path, "no POTENTIALS card: cannot tell the absorber")
    if 0 not in potentials:
        raise InputError(path, "POTENTIALS has no ipot 0 (the absorber)")
    for x, y, z, ipot, _, number in atoms:
        if ipot not in potentials:
            raise InputError(path, f"atom with potential {ipot}, which POTENTIALS does not define", where=f"line {number}")
    return {"cards": cards, "potentials": potentials, "atoms": atoms}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def cluster_summary(parsed: dict[str, Any]) -> dict[str, Any]:
    """Composition, size, absorber and neighbour shells of the FEFF cluster."""
    potentials, atoms = parsed["potentials"], parsed["atoms"]
    absorber = potentials[0]["element"]
    summary: dict[str, Any] = {"absorber": absorber, "n_atoms": len(atoms)}
    if not atoms:
        return summary
    summary["composition"] = dict(sorted(Counter(potentials[a[3]]["element"] for a in atoms).items()))
    if "RECIPROCAL" in parsed["cards"]:
        summary["note"] = "k-space FEFF: ATOMS are unit-cell positions, not a cluster around the absorber"
        return summary
    coords = np.array([a[:3] for a in atoms])
    centre_rows = [i for i, a in enumerate(atoms) if a[3] == 0]
    centre = coords[centre_rows[0]] if centre_rows else np.zeros(3)
    distances = np.linalg.norm(coords - centre, axis=1)
    shells: Counter = Counter()
    for atom, distance in zip(atoms, distances):
        if 0 < distance <= NEIGHBOR_RADIUS_A:
            shells[(potentials[atom[3]]["element"], round(float(distance), SHELL_DECIMALS))] += 1
    summary["neighbors"] = [{"element": el, "distance_a": d, "count": n}
                             for (el, d), n in sorted(shells.items(), key=lambda kv: (kv[0][1], kv[0][0]))]
    return summary


def _structure_beside(folder: Path, options: ReadOptions):
    from ..structures import read_structure

    if options.structure_path is not None:
        return read_structure(Path(options.structure_path))
    for p in sorted(folder.iterdir()):
        if p.is_file() and (p.name in STRUCTURE_NAMES or p.suffix.lower() in STRUCTURE_SUFFIXES):
            return read_structure(p)
    return None


def _refuse_anomalous(inp: Path | None, spectrum_file: Path) -> None:
    """InputError for a DANES or FPRIME run (a card in feff.inp, or its danes.dat beside the spectrum):
    the mu column of its xmu.dat is f'(E), which falls at the edge, not an absorption spectrum."""
    beside = [p.name for p in spectrum_file.parent.iterdir() if p.is_file() and p.name.lower() in ANOMALOUS_OUTPUTS]
    cards = [c for c in ANOMALOUS_CARDS if c in parse_feff_input(inp)["cards"]] if inp is not None else []
    if cards or beside:
        why = f"the {cards[0]} card of {inp.name}" if cards else f"{beside[0]} beside it"
        raise InputError(spectrum_file, f"a FEFF anomalous-scattering (DANES/FPRIME) run ({why}): its mu column is "
                                        "the real part f'(E) of the anomalous scattering factor, not absorption; "
                                        "import a XANES run (XANES card) of the same cluster instead")


def read_feff(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> list[SpectrumRecord]:
    """A FEFF run (directory, feff.inp or xmu.dat/eels.dat) -> one computed spectrum.

    Raises InputError for what is not an absorption spectrum: emission (XES card), a DANES or
    FPRIME run (f'(E) in the mu column), or a file that is not FEFF output."""
    from ..textcolumns import read_numeric_table

    inp, spectrum_file = _find_files(path)
    _refuse_anomalous(inp, spectrum_file)
    text = read_text(spectrum_file)
    feff: dict[str, Any] = {"spectrum_file": spectrum_file.name}
    element = edge = None
    match = ABSORBER_HEADER.search(text)
    if match and 1 <= int(match.group(1)) <= len(ELEMENTS):
        element, edge = ELEMENTS[int(match.group(1)) - 1], match.group(2)
    spectroscopy = "XAS"
    spectrum_type = None
    if inp is not None:
        parsed = parse_feff_input(inp)
        cards = parsed["cards"]
        feff["input_file"] = inp.name
        feff["input_sha256"] = file_sha256(inp)
        feff["cards"] = cards
        feff["cluster"] = cluster_summary(parsed)
        element = parsed["potentials"][0]["element"]
        edge_card = cards.get("EDGE", "").split()
        edge = edge_card[0] if edge_card else (edge or "K")  # FEFF's default edge is K
        for card in EMISSION_CARDS:
            if card in cards:
                raise InputError(inp, f"FEFF computed an emission spectrum ({card} card); xasrepo stores absorption "
                                      "spectra")
        spectroscopy = next((name for card, name in SPECTROSCOPY_CARDS.items() if card in cards), spectroscopy)
        if "EXAFS" in cards and "XANES" not in cards:
            spectrum_type = SpectrumType.EXAFS.value
        elif "XANES" in cards or spectroscopy in ("ELNES", "NRIXS"):
            spectrum_type = SpectrumType.XANES.value
    if edge is not None:
        edge = edge_name(edge, inp or spectrum_file, what="FEFF edge")
    header = [line for line in text.splitlines() if line.startswith("#")]
    if source := next((line for line in header[:3] if "FEFF" in line), None):
        feff["code_version"] = source.split("FEFF", 1)[1].strip() and "FEFF " + source.split("FEFF", 1)[1].strip()
    table, lines = read_numeric_table(spectrum_file)
    if XMU_HEADER.search(text):
        if table.shape[1] < 5:
            raise InputError(spectrum_file, f"an xmu.dat has 6 columns (omega e k mu mu0 chi), found {table.shape[1]}",
                             where=f"line {int(lines[0])}")
        energy, intensity = table[:, 0], table[:, 3]
        feff["columns"] = "omega (eV) -> energy, " + ("S(q,w)" if "S(qw)" in XMU_HEADER.search(text).group(0)
                                                      else "mu") + " -> intensity"
        feff["mu0"] = table[:, 4].tolist()
    elif EELS_HEADER.search(text):
        spectroscopy = "ELNES" if spectroscopy == "XAS" else spectroscopy
        energy, intensity = table[:, 0], table[:, 1]
        feff["columns"] = "Energy (eV) -> energy, total -> intensity"
    else:
        raise InputError(spectrum_file, "not a FEFF xmu.dat (no '#  omega  e  k  mu  mu0  chi' line) or eels.dat")
    feff["spectroscopy"] = spectroscopy
    energy, intensity, lines = sort_scan(spectrum_file, energy, intensity, lines)
    structure = _structure_beside(spectrum_file.parent, options)
    site = None
    if structure is not None and element is not None:
        sites = [i for i, s in enumerate(structure) if s.specie.symbol == element]
        site = sites[0] if len(sites) == 1 else None
    digest = file_sha256(spectrum_file)
    return [make_record(spectrum_file, digest, options, energy=energy, signal=intensity, element=element, edge=edge,
                        origin=Origin.COMPUTED, line_of_point=lines, spectrum_type=spectrum_type,
                        structure=structure, absorber_site_index=site, metadata={"format": "feff", "feff": feff})]
