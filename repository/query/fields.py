"""The fields a filter may name: an allowlist of ``spectrum_overview`` columns with types and aliases.

Every name a filter uses is looked up here; the SQL only ever contains the column names below,
never text from the filter. Names come in three spellings that all mean the same column:

* the column name of the ``spectrum_overview`` view (``absorber_cn``, ``defect_name``);
* a dotted name grouping it by the object it describes (``absorber.cn``, ``defect.name``,
  ``structure.crystal_system``, ``host.crystal_system``, ``calculation.code``);
* the OPTIMADE name where one exists (``elements``, ``nelements``, ``chemical_formula_reduced``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from ..conventions import CRYSTAL_SYSTEMS, DefectKind, Origin, Spectroscopy, SpectrumType
from ..errors import UsageError


class FieldType(StrEnum):
    """What values a field holds, which decides the operators and literals it accepts."""

    text = "text"
    integer = "integer"
    number = "number"
    elements = "elements"  # a set of element symbols, stored sorted and comma separated ("B,N")

    @property
    def description(self) -> str:
        return {
            "text": "a string (quoted, or a bare word)",
            "integer": "an integer",
            "number": "a number",
            "elements": 'element symbols (use HAS / HAS ALL / HAS ANY / HAS ONLY "B","N")',
        }[self.value]

    @property
    def numeric(self) -> bool:
        return self in (FieldType.integer, FieldType.number)


@dataclass(frozen=True)
class FieldSpec:
    """One filterable field: its canonical name, the column it reads, its type and other spellings.

    ``categorical``: a text field with a small set of values (an edge, a polymorph, a defect name),
    so that a filter that matches nothing can say which of its values the database does not hold
    (:func:`repository.query.search.no_match_hints`). ``choices``: the only values the field can
    ever hold (a closed vocabulary): the parser spells a value as the vocabulary does (case-
    insensitively) and refuses any other, since it could never match."""

    name: str
    column: str
    type: FieldType
    aliases: tuple[str, ...] = ()
    unit: str | None = None
    help: str = ""
    categorical: bool = False
    choices: tuple[str, ...] | None = None


T, I, N, E = FieldType.text, FieldType.integer, FieldType.number, FieldType.elements
C = {"categorical": True}  # a text field with a small set of values


def _closed(values) -> dict:
    """A categorical field whose values can only be ``values`` (a vocabulary of repository.conventions)."""
    return {"categorical": True, "choices": tuple(str(getattr(v, "value", v)) for v in values)}


FIELDS: tuple[FieldSpec, ...] = (
    # spectrum
    FieldSpec("spectrum_id", "spectrum_id", I, ("id", "spectrum.id"), help="spectrum id"),
    FieldSpec("origin", "origin", T, ("spectrum.origin",), help="computed | experimental", **_closed(Origin)),
    FieldSpec("absorbing_element", "absorbing_element", T, ("element", "absorber.element"),
              help="absorbing element symbol, e.g. B", **C),
    FieldSpec("edge", "edge", T, ("spectrum.edge",), help="K, L1, L2, L3 (L2,3 for stitched spectra)", **C),
    FieldSpec("spectrum_type", "spectrum_type", T, ("type", "spectrum.type"), help="XANES | EXAFS | XAFS", **_closed(SpectrumType)),
    FieldSpec("spectroscopy", "spectroscopy", T, ("spectrum.spectroscopy",),
              help="XAS (absorption) | NRIXS | EELS | ELNES | EXELFS | XES | RIXS", **_closed(Spectroscopy)),
    FieldSpec("polarization", "polarization", T, ("spectrum.polarization",), help="iso, x, y, z, in_plane, ...", **C),
    FieldSpec("absorber_site_index", "absorber_site_index", I, ("absorber.site_index", "absorber.site"),
              help="index of the absorbing site in the structure"),
    FieldSpec("absorber_multiplicity", "absorber_multiplicity", I, ("absorber.multiplicity",),
              help="number of symmetry-equivalent absorber sites"),
    FieldSpec("absorber_cn", "absorber_cn", I, ("absorber.cn",), help="coordination number of the absorber"),
    FieldSpec("absorber_defect_distance_a", "absorber_defect_distance_a", N,
              ("absorber.defect_distance", "absorber.defect_distance_a"), unit="Å",
              help="shortest periodic distance from the absorber to the defect centre (the set's "
                   "position_frac) in the stored structure, relaxed where the set relaxed it; the BN "
                   "sets' descriptor distance_to_defect is the same in the unrelaxed cell"),
    FieldSpec("n_points", "n_points", I, ("spectrum.n_points",), help="number of energy points"),
    FieldSpec("energy_min_ev", "energy_min_ev", N, ("spectrum.energy_min",), unit="eV"),
    FieldSpec("energy_max_ev", "energy_max_ev", N, ("spectrum.energy_max",), unit="eV"),
    FieldSpec("sample_name", "sample_name", T, ("sample.name",), help="experimental sample"),
    FieldSpec("facility", "facility", T, ("sample.facility",), **C),
    FieldSpec("beamline", "beamline", T, ("sample.beamline",), **C),
    FieldSpec("measurement_mode", "measurement_mode", T, ("sample.measurement_mode",), **C),
    FieldSpec("source_file", "source_file", T, ("spectrum.source_file",)),
    # structure
    FieldSpec("structure_id", "structure_id", I, ("structure.id",)),
    FieldSpec("reduced_formula", "reduced_formula", T,
              ("chemical_formula_reduced", "formula", "structure.formula"), help="e.g. BN", **C),
    FieldSpec("elements", "elements", E, ("structure.elements",), help='elements HAS ALL "B","N"'),
    FieldSpec("nelements", "nelements", I, ("structure.nelements",)),
    FieldSpec("nsites", "nsites", I, ("structure.nsites",)),
    FieldSpec("spacegroup_number", "spacegroup_number", I, ("spacegroup", "structure.spacegroup")),
    FieldSpec("spacegroup_symbol", "spacegroup_symbol", T, ("structure.spacegroup_symbol",), help="e.g. P6_3/mmc", **C),
    FieldSpec("crystal_system", "crystal_system", T, ("structure.crystal_system",),
              help="of the computed cell (a defect supercell's own, e.g. trigonal for C_B in h-BN)",
              **_closed(CRYSTAL_SYSTEMS)),
    FieldSpec("dimensionality", "dimensionality", I, ("structure.dimensionality",), help="0, 1, 2 or 3"),
    FieldSpec("density_g_cm3", "density_g_cm3", N, ("density", "structure.density"), unit="g/cm³"),
    FieldSpec("volume_per_atom_a3", "volume_per_atom_a3", N, ("structure.volume_per_atom",), unit="Å³"),
    FieldSpec("polymorph", "polymorph", T, ("structure.polymorph",), help="e.g. h-BN", **C),
    FieldSpec("relaxation", "relaxation", T, ("structure.relaxation",), **C),
    # host structure (a defect's host; for a cell without a defect, the cell itself)
    FieldSpec("host_structure_id", "host_structure_id", I, ("host.id", "host.structure_id")),
    FieldSpec("host_crystal_system", "host_crystal_system", T, ("host.crystal_system",),
              help="of the host structure, e.g. hexagonal for any defect in h-BN", **_closed(CRYSTAL_SYSTEMS)),
    FieldSpec("host_spacegroup_symbol", "host_spacegroup_symbol", T, ("host.spacegroup_symbol",),
              help="of the host structure, e.g. P6_3/mmc", **C),
    FieldSpec("host_dimensionality", "host_dimensionality", I, ("host.dimensionality",),
              help="of the host structure: 2 layered, 3 framework"),
    FieldSpec("host_polymorph", "host_polymorph", T, ("host.polymorph",), help="e.g. h-BN", **C),
    # defect
    FieldSpec("defect_id", "defect_id", I, ("defect.id",)),
    FieldSpec("defect_kind", "defect_kind", T, ("defect.kind",),
              help="vacancy, substitution, ...; none: a structure STATED to have no defect (a calculation-set entry "
                   "without one, a file whose context says so, import --defect-free); unknown when nothing says",
              **_closed(DefectKind)),
    FieldSpec("defect_name", "defect_name", T, ("defect.name",), help="e.g. v_N, C_B", **C),
    FieldSpec("defect_species", "defect_species", T, ("defect.species",), **C),
    FieldSpec("defect_charge", "defect_charge", I, ("defect.charge",)),
    FieldSpec("defect_supercell", "defect_supercell", T, ("defect.supercell",), help='e.g. "3x3x1"', **C),
    # calculation
    FieldSpec("calculation_id", "calculation_id", I, ("calculation.id",)),
    FieldSpec("code", "code", T, ("calculation.code",), **C),
    FieldSpec("code_version", "code_version", T, ("calculation.code_version",), **C),
    FieldSpec("method", "method", T, ("calculation.method",), **C),
    FieldSpec("functional", "functional", T, ("calculation.functional",), **C),
    FieldSpec("broadening_ev", "broadening_ev", N, ("calculation.broadening_ev",), unit="eV"),
    FieldSpec("alignment", "alignment", T, ("calculation.alignment",), **C),
    FieldSpec("alignment_shift_ev", "alignment_shift_ev", N, ("calculation.alignment_shift_ev",), unit="eV"),
    FieldSpec("calculation_set_id", "calculation_set_id", I, ("set.id", "calculation_set.id")),
    FieldSpec("calculation_set", "calculation_set", T, ("set", "set.name", "calculation_set.name"), **C),
    # descriptors (absorber site)
    FieldSpec("hirshfeld_charge", "hirshfeld_charge", N, ("descriptor.hirshfeld_charge",), unit="e"),
    FieldSpec("sigma_charge_transfer", "sigma_charge_transfer", N, ("descriptor.sigma_charge_transfer",), unit="e"),
    FieldSpec("bader_charge", "bader_charge", N, ("descriptor.bader_charge",), unit="e"),
)

# Extra fields of embedding snapshots (coordinates), valid only when filtering snapshot rows.
SNAPSHOT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("x", "x", N, ("point.x",), help="embedding coordinate"),
    FieldSpec("y", "y", N, ("point.y",), help="embedding coordinate"),
    FieldSpec("z", "z", N, ("point.z",), help="embedding coordinate (3-D snapshots)"),
)


def _index(fields: tuple[FieldSpec, ...]) -> dict[str, FieldSpec]:
    index: dict[str, FieldSpec] = {}
    for spec in fields:
        for name in (spec.name, *spec.aliases):
            assert name.lower() not in index, f"duplicate field name {name}"
            index[name.lower()] = spec
    return index


FIELD_INDEX: dict[str, FieldSpec] = _index(FIELDS)
SNAPSHOT_FIELD_INDEX: dict[str, FieldSpec] = _index(FIELDS + SNAPSHOT_FIELDS)


def field_names(fields: tuple[FieldSpec, ...] = FIELDS) -> list[str]:
    """Canonical names, in the order of the table above."""
    return [spec.name for spec in fields]


def not_a_snapshot_column(name: str, columns: Sequence[str]) -> str:
    """The message for a query field (spelled ``name``) that a snapshot has no column for, listing
    the snapshot's ``columns``: the field is real, so "unknown field" would mislead."""
    return (f"field {name} is a query field but not a snapshot column; snapshot columns: "
            f"{', '.join(columns) or '(none)'}")


def field_column(name: str) -> str | None:
    """The column of the query field (or snapshot coordinate) spelled ``name`` in any of its
    spellings (:data:`SNAPSHOT_FIELD_INDEX`, case-insensitive), or None for no such field."""
    spec = SNAPSHOT_FIELD_INDEX.get(name.strip().lower())
    return spec.column if spec is not None else None


def snapshot_column(name: str, columns: Sequence[str], *, shown: Sequence[str] | None = None) -> str | None:
    """The column of a snapshot (whose columns are ``columns``) that ``name`` names: a column of
    exactly that name, else the column of the query field spelled ``name`` in any of its spellings
    (:data:`SNAPSHOT_FIELD_INDEX`, case-insensitive: ``absorber.defect_distance`` ->
    ``absorber_defect_distance_a``). None when ``name`` is neither (the caller says what there is).
    Raises :class:`UsageError` (:func:`not_a_snapshot_column`, listing ``shown`` or ``columns``)
    for a query field that the snapshot has no column for, e.g. ``host.polymorph``."""
    if name in columns:
        return name
    column = field_column(name)
    if column is not None and column not in columns:
        raise UsageError(not_a_snapshot_column(name, list(columns if shown is None else shown)))
    return column
