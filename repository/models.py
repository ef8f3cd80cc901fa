"""The relational schema (SQLModel). Changes go through Alembic revisions in ``migrations/``.

Tables:
- ``structure``: one row per distinct crystal structure (content hash of the canonical pymatgen
  JSON) with typed columns derived once with pymatgen;
- ``defect``: defect metadata of a defect supercell, linked to the supercell and host structures;
- ``calculation_set`` and ``calculation``: provenance of computed data;
- ``spectrum``: computed or experimental spectra, arrays as little-endian float64 BLOBs;
- ``spectrum_defect``: the defect of a spectrum imported from a file that names it (no calculation);
- ``spectrum_defect_free``: a spectrum imported from a file whose structure was STATED to have no
  defect (its file's context, or ``import --defect-free``); without a row (or a calculation) a file
  spectrum's defect status is unknown, never assumed pristine;
- ``dos``: total and projected densities of states; ``descriptor``: scalar site/structure
  descriptors such as Hirshfeld charges and sigma charge transfer;
- ``snapshot``: one row per embedding snapshot version: where its Parquet file and fitted-model
  artifact are, their SHA-256, what went in (input-set hash, recipe, method, parameters, seed,
  filter) and which snapshot it supersedes (``parent_id``). Rows are never updated. Written and
  read by :mod:`repository.snapshots.registry`;
- ``snapshot_point``: the coordinates of every spectrum of a snapshot, keyed by
  (snapshot_id, spectrum_id), so analysts can join them with ``spectrum_overview`` in plain SQL.

Timestamps are timezone-aware UTC (:func:`repository.conventions.utc_now`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .conventions import utc_now


class Structure(SQLModel, table=True):
    """A distinct crystal structure (SHA-256 of its canonical pymatgen JSON) with typed columns derived
    once (formula, space group, crystal system, dimensionality, ...)."""

    __tablename__ = "structure"

    id: int | None = Field(default=None, primary_key=True)
    content_hash: str = Field(unique=True, max_length=64)
    structure_json: str = Field(sa_column=Column(Text, nullable=False))
    reduced_formula: str = Field(index=True, max_length=64)
    elements: str = Field(index=True, max_length=200)  # sorted, comma separated: "B,N"
    nelements: int = Field(index=True)
    nsites: int = Field(index=True)
    spacegroup_number: int = Field(index=True)
    spacegroup_symbol: str = Field(max_length=32)
    crystal_system: str = Field(index=True, max_length=16)
    dimensionality: int = Field(index=True)  # Larsen method, covalent-radius bonds
    density_g_cm3: float
    volume_per_atom_a3: float
    polymorph: str | None = Field(default=None, index=True, max_length=64)  # e.g. "h-BN"
    relaxation: str | None = Field(default=None, max_length=400)  # "none" or how it was relaxed


class CalculationSet(SQLModel, table=True):
    """A calculation set as imported (name, manifest hash, provenance JSON, import time in UTC)."""

    __tablename__ = "calculation_set"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    description: str | None = Field(default=None, sa_column=Column(Text))
    source: str | None = Field(default=None, sa_column=Column(Text))
    provenance_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    manifest_hash: str = Field(max_length=64)
    imported_at: datetime = Field(default_factory=utc_now,
                                  sa_column=Column(DateTime(timezone=True), nullable=False))


class Defect(SQLModel, table=True):
    """A defect of a supercell: kind, name (v_N, C_B, ...), charge (e) separate, position, host."""

    __tablename__ = "defect"
    __table_args__ = (
        UniqueConstraint("structure_id", "name", "charge", "position_key", name="uq_defect_identity"),
    )

    id: int | None = Field(default=None, primary_key=True)
    structure_id: int = Field(foreign_key="structure.id", index=True)  # the defect supercell
    host_structure_id: int | None = Field(default=None, foreign_key="structure.id", index=True)
    kind: str = Field(index=True, max_length=32)
    name: str = Field(index=True, max_length=64)  # pymatgen-analysis-defects style: v_N, C_B
    species: str | None = Field(default=None, max_length=64)
    charge: int = Field(default=0, index=True)
    supercell: str | None = Field(default=None, max_length=32)  # "3x3x1"
    position_frac: str | None = Field(default=None, max_length=120)  # "x,y,z" in the supercell
    position_key: str = Field(default="", max_length=120)  # position_frac or "" (for uniqueness)


class Calculation(SQLModel, table=True):
    """One calculation (code, method, parameters JSON, alignment shift in eV) of a set."""

    __tablename__ = "calculation"
    __table_args__ = (UniqueConstraint("calculation_set_id", "entry_key", name="uq_calculation_entry"),)

    id: int | None = Field(default=None, primary_key=True)
    calculation_set_id: int = Field(foreign_key="calculation_set.id", index=True)
    entry_key: str = Field(max_length=200)
    entry_hash: str = Field(max_length=64)
    structure_id: int = Field(foreign_key="structure.id", index=True)
    defect_id: int | None = Field(default=None, foreign_key="defect.id", index=True)
    code: str = Field(index=True, max_length=64)
    code_version: str | None = Field(default=None, max_length=64)
    method: str = Field(index=True, max_length=32)
    functional: str | None = Field(default=None, index=True, max_length=64)
    parameters_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    broadening_ev: float | None = None
    energy_reference: str | None = Field(default=None, sa_column=Column(Text))
    alignment: str | None = Field(default=None, max_length=64)
    alignment_shift_ev: float | None = None
    source: str | None = Field(default=None, sa_column=Column(Text))


class Spectrum(SQLModel, table=True):
    """A computed or measured spectrum; energy_ev and intensity are little-endian float64 BLOBs."""

    __tablename__ = "spectrum"
    __table_args__ = (Index("ix_spectrum_element_edge", "absorbing_element", "edge"),)

    id: int | None = Field(default=None, primary_key=True)
    content_hash: str = Field(unique=True, max_length=64)
    origin: str = Field(index=True, max_length=16)  # computed | experimental
    calculation_id: int | None = Field(default=None, foreign_key="calculation.id", index=True)
    structure_id: int | None = Field(default=None, foreign_key="structure.id", index=True)
    absorbing_element: str = Field(max_length=3)
    edge: str = Field(max_length=8)
    spectrum_type: str = Field(index=True, max_length=8)
    polarization: str = Field(default="iso", index=True, max_length=40)
    absorber_site_index: int | None = None
    absorber_multiplicity: int | None = None
    absorber_cn: int | None = Field(default=None, index=True)
    absorber_defect_distance_a: float | None = Field(default=None, index=True)
    n_points: int
    energy_min_ev: float
    energy_max_ev: float
    energy_ev: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    intensity: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sample_name: str | None = Field(default=None, index=True, max_length=200)
    facility: str | None = Field(default=None, max_length=200)
    beamline: str | None = Field(default=None, max_length=200)
    measurement_mode: str | None = Field(default=None, max_length=64)
    calibration_shift_ev: float | None = None
    temperature_k: float | None = None
    source_file: str | None = Field(default=None, sa_column=Column(Text))
    source_sha256: str | None = Field(default=None, max_length=64)
    metadata_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    imported_at: datetime = Field(default_factory=utc_now,
                                  sa_column=Column(DateTime(timezone=True), nullable=False))
    # SHA-256 of element, edge and the stored energy/intensity arrays: the same data whatever file
    # it came in (repository.importer.spectrum_data_hash); not unique (content_hash is the row identity)
    data_hash: str | None = Field(default=None, index=True, max_length=64)
    # XAS (absorption: XANES/EXAFS/XAFS) or another spectroscopy (conventions.Spectroscopy); only
    # XAS spectra are absorption spectra for embeddings
    spectroscopy: str = Field(default="XAS", index=True, max_length=16,
                              sa_column_kwargs={"server_default": "XAS"})


class SpectrumCalculation(SQLModel, table=True):
    """A spectrum belongs to every calculation that computed it (one spectrum, several sets)."""

    __tablename__ = "spectrum_calculation"

    spectrum_id: int = Field(foreign_key="spectrum.id", primary_key=True)
    calculation_id: int = Field(foreign_key="calculation.id", primary_key=True, index=True)


class SpectrumDefect(SQLModel, table=True):
    """The defect of a spectrum that has no calculation (a file import whose file names the defect of
    its structure, e.g. a pymatgen JSON export); a calculated spectrum's defect is its calculation's."""

    __tablename__ = "spectrum_defect"

    spectrum_id: int = Field(foreign_key="spectrum.id", primary_key=True)
    defect_id: int = Field(foreign_key="defect.id", index=True)


# SpectrumDefectFree.stated_by: who said the structure has no defect
DEFECT_FREE_BY_FILE = "file"  # the file's xasrepo context: defect_kind "none" (what `xasrepo export` writes)
DEFECT_FREE_BY_OPTION = "--defect-free"  # the user, with `xasrepo import --defect-free`


class SpectrumDefectFree(SQLModel, table=True):
    """A spectrum without a calculation whose structure was stated to have no defect (revision 0009).

    ``spectrum_overview.defect_kind`` is ``'none'`` for a file spectrum only with a row here; a
    calculated spectrum without a defect is pristine by the calcset convention (no
    ``[entries.defect]``). ``stated_by``: :data:`DEFECT_FREE_BY_FILE` or :data:`DEFECT_FREE_BY_OPTION`.
    A spectrum never has both this row and a ``spectrum_defect`` row (the importer refuses a file
    that says both)."""

    __tablename__ = "spectrum_defect_free"

    spectrum_id: int = Field(foreign_key="spectrum.id", primary_key=True)
    stated_by: str = Field(max_length=16)


class Dos(SQLModel, table=True):
    """A total or projected DOS curve; energy_ev (eV) and density are float64 BLOBs."""

    __tablename__ = "dos"

    id: int | None = Field(default=None, primary_key=True)
    calculation_id: int = Field(foreign_key="calculation.id", index=True)
    projection: str = Field(index=True, max_length=16)  # total | element | site
    element: str | None = Field(default=None, max_length=3)
    site_index: int | None = None
    orbital: str = Field(index=True, max_length=16)  # total, s, p, p_sigma, p_pi, ...
    spin: str = Field(default="total", max_length=8)
    fermi_energy_ev: float | None = None
    n_points: int
    energy_ev: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    density: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # states/eV
    source_file: str | None = Field(default=None, sa_column=Column(Text))


class Descriptor(SQLModel, table=True):
    """A scalar descriptor of a site or structure (e.g. Hirshfeld charge in e, sigma charge transfer)."""

    __tablename__ = "descriptor"
    __table_args__ = (Index("ix_descriptor_calculation_site", "calculation_id", "site_index"),)

    id: int | None = Field(default=None, primary_key=True)
    calculation_id: int | None = Field(default=None, foreign_key="calculation.id", index=True)
    structure_id: int | None = Field(default=None, foreign_key="structure.id", index=True)
    site_index: int | None = None
    name: str = Field(index=True, max_length=64)
    value: float
    unit: str | None = Field(default=None, max_length=32)
    method: str | None = Field(default=None, max_length=200)


class Snapshot(SQLModel, table=True):
    """One embedding snapshot version: its files and their SHA-256, inputs, recipe, method, seed, parent."""

    __tablename__ = "snapshot"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(unique=True, max_length=64)  # e.g. "umap_20261128T180102_3fa2c1"
    parent_id: int | None = Field(default=None, foreign_key="snapshot.id", index=True)
    method: str = Field(index=True, max_length=16)  # umap | pca | mds
    n_components: int
    seed: int | None = None
    created_at: datetime = Field(default_factory=utc_now,
                                 sa_column=Column(DateTime(timezone=True), nullable=False))
    path: str = Field(sa_column=Column(Text, nullable=False))  # the Parquet file
    sha256: str = Field(max_length=64)
    row_count: int
    model_path: str | None = Field(default=None, sa_column=Column(Text))  # .npz artifact for projection
    model_sha256: str | None = Field(default=None, max_length=64)
    input_hash: str = Field(index=True, max_length=64)  # spectrum ids and content hashes
    params_hash: str = Field(index=True, max_length=64)  # input hash + recipe + method + parameters + seed
    recipe_json: str = Field(sa_column=Column(Text, nullable=False))
    params_json: str = Field(sa_column=Column(Text, nullable=False))
    filter_text: str | None = Field(default=None, sa_column=Column(Text))
    element: str | None = Field(default=None, max_length=3)
    edge: str | None = Field(default=None, max_length=8)
    library_versions_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class SnapshotPoint(SQLModel, table=True):
    """A spectrum's coordinates in a snapshot (z is NULL for 2-D embeddings)."""

    __tablename__ = "snapshot_point"

    snapshot_id: int = Field(foreign_key="snapshot.id", primary_key=True)
    spectrum_id: int = Field(foreign_key="spectrum.id", primary_key=True, index=True)
    x: float | None = None
    y: float | None = None
    z: float | None = None  # NULL for 2-D embeddings



ALL_TABLES = [Structure, CalculationSet, Defect, Calculation, Spectrum, SpectrumDefect, SpectrumDefectFree, Dos,
              Descriptor, Snapshot, SnapshotPoint]
