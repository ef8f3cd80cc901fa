"""spectrum_overview view: one row per spectrum with structure, defect, calculation and key descriptors

Revision ID: 0002_overview_view
Revises: 0001_initial
"""
from alembic import op

revision = "0002_overview_view"
down_revision = "0001_initial"
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


def upgrade() -> None:
    op.execute(OVERVIEW_SQL)


def downgrade() -> None:
    op.execute("DROP VIEW spectrum_overview")
