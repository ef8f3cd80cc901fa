"""spectrum_overview: the host structure's labels beside the supercell's

A defect supercell's ``crystal_system`` and ``dimensionality`` are spglib's and Larsen's for the
supercell (a substitution in h-BN makes it trigonal, a Stone-Wales defect triclinic). The new
columns give the same properties of the HOST structure (``defect.host_structure_id``); for a cell
without a defect they are the cell's own:

* ``host_structure_id``, ``host_crystal_system``, ``host_spacegroup_symbol``, ``host_dimensionality``
  (NULL for a defect recorded without a host structure);
* ``host_polymorph``: the host structure's polymorph name, else the supercell's (which a calculation
  set already gives as the host's name, e.g. "h-BN" for h-BN with v_N).

``snapshot_points`` expands ``o.*`` of this view, so it is dropped and created again around it
(PostgreSQL records the dependency). No data changes.

Revision ID: 0006_host_labels
Revises: 0005_identity_links_spectroscopy
"""
from alembic import op

revision = "0006_host_labels"
down_revision = "0005_identity_links_spectroscopy"
branch_labels = None
depends_on = None

# Descriptors attached to the absorber site of a spectrum's calculation (or to the whole
# calculation when site_index is NULL). Kept in one place so the view and docs agree.
KEY_DESCRIPTORS = ("hirshfeld_charge", "sigma_charge_transfer", "bader_charge")


def _descriptor_column(name: str) -> str:
    return (
        f"(SELECT MAX(d.value) FROM descriptor d WHERE d.calculation_id = s.calculation_id "
        f"AND d.name = '{name}' AND (d.site_index = s.absorber_site_index OR d.site_index IS NULL)) AS {name}"
    )


OVERVIEW_SQL = f"""
CREATE VIEW spectrum_overview AS
SELECT
    s.id AS spectrum_id,
    s.origin,
    s.absorbing_element,
    s.edge,
    s.spectrum_type,
    s.spectroscopy,
    s.polarization,
    s.absorber_site_index,
    s.absorber_multiplicity,
    s.absorber_cn,
    s.absorber_defect_distance_a,
    s.n_points,
    s.energy_min_ev,
    s.energy_max_ev,
    s.sample_name,
    s.facility,
    s.beamline,
    s.measurement_mode,
    s.source_file,
    s.content_hash,
    st.id AS structure_id,
    st.reduced_formula,
    st.elements,
    st.nelements,
    st.nsites,
    st.spacegroup_number,
    st.spacegroup_symbol,
    st.crystal_system,
    st.dimensionality,
    st.density_g_cm3,
    st.volume_per_atom_a3,
    st.polymorph,
    st.relaxation,
    CASE WHEN df.id IS NULL THEN st.id ELSE df.host_structure_id END AS host_structure_id,
    CASE WHEN df.id IS NULL THEN st.crystal_system ELSE hst.crystal_system END AS host_crystal_system,
    CASE WHEN df.id IS NULL THEN st.spacegroup_symbol ELSE hst.spacegroup_symbol END AS host_spacegroup_symbol,
    CASE WHEN df.id IS NULL THEN st.dimensionality ELSE hst.dimensionality END AS host_dimensionality,
    CASE WHEN df.id IS NULL THEN st.polymorph ELSE COALESCE(hst.polymorph, st.polymorph) END AS host_polymorph,
    df.id AS defect_id,
    COALESCE(df.kind, CASE WHEN st.id IS NULL THEN NULL ELSE 'none' END) AS defect_kind,
    df.name AS defect_name,
    df.species AS defect_species,
    df.charge AS defect_charge,
    df.supercell AS defect_supercell,
    c.id AS calculation_id,
    c.code,
    c.code_version,
    c.method,
    c.functional,
    c.broadening_ev,
    c.alignment,
    c.alignment_shift_ev,
    cs.id AS calculation_set_id,
    cs.name AS calculation_set,
    {", ".join(_descriptor_column(n) for n in KEY_DESCRIPTORS)}
FROM spectrum s
LEFT JOIN calculation c ON c.id = s.calculation_id
LEFT JOIN calculation_set cs ON cs.id = c.calculation_set_id
LEFT JOIN structure st ON st.id = COALESCE(s.structure_id, c.structure_id)
LEFT JOIN defect df ON df.id = c.defect_id
LEFT JOIN structure hst ON hst.id = df.host_structure_id
"""

OLD_OVERVIEW_SQL = f"""
CREATE VIEW spectrum_overview AS
SELECT
    s.id AS spectrum_id,
    s.origin,
    s.absorbing_element,
    s.edge,
    s.spectrum_type,
    s.spectroscopy,
    s.polarization,
    s.absorber_site_index,
    s.absorber_multiplicity,
    s.absorber_cn,
    s.absorber_defect_distance_a,
    s.n_points,
    s.energy_min_ev,
    s.energy_max_ev,
    s.sample_name,
    s.facility,
    s.beamline,
    s.measurement_mode,
    s.source_file,
    s.content_hash,
    st.id AS structure_id,
    st.reduced_formula,
    st.elements,
    st.nelements,
    st.nsites,
    st.spacegroup_number,
    st.spacegroup_symbol,
    st.crystal_system,
    st.dimensionality,
    st.density_g_cm3,
    st.volume_per_atom_a3,
    st.polymorph,
    st.relaxation,
    df.id AS defect_id,
    COALESCE(df.kind, CASE WHEN st.id IS NULL THEN NULL ELSE 'none' END) AS defect_kind,
    df.name AS defect_name,
    df.species AS defect_species,
    df.charge AS defect_charge,
    df.supercell AS defect_supercell,
    c.id AS calculation_id,
    c.code,
    c.code_version,
    c.method,
    c.functional,
    c.broadening_ev,
    c.alignment,
    c.alignment_shift_ev,
    cs.id AS calculation_set_id,
    cs.name AS calculation_set,
    {", ".join(_descriptor_column(n) for n in KEY_DESCRIPTORS)}
FROM spectrum s
LEFT JOIN calculation c ON c.id = s.calculation_id
LEFT JOIN calculation_set cs ON cs.id = c.calculation_set_id
LEFT JOIN structure st ON st.id = COALESCE(s.structure_id, c.structure_id)
LEFT JOIN defect df ON df.id = c.defect_id
"""

SNAPSHOT_POINTS_SQL = """
CREATE VIEW snapshot_points AS
SELECT
    sn.id AS snapshot_id,
    sn.uid AS snapshot_uid,
    sn.method AS snapshot_method,
    sn.created_at AS snapshot_created_at,
    sp.x,
    sp.y,
    sp.z,
    o.*
FROM snapshot_point sp
JOIN snapshot sn ON sn.id = sp.snapshot_id
JOIN spectrum_overview o ON o.spectrum_id = sp.spectrum_id
"""


def upgrade() -> None:
    op.execute("DROP VIEW snapshot_points")
    op.execute("DROP VIEW spectrum_overview")
    op.execute(OVERVIEW_SQL)
    op.execute(SNAPSHOT_POINTS_SQL)


def downgrade() -> None:
    op.execute("DROP VIEW snapshot_points")
    op.execute("DROP VIEW spectrum_overview")
    op.execute(OLD_OVERVIEW_SQL)
    op.execute(SNAPSHOT_POINTS_SQL)
