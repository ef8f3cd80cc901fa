"""The documented example calculation set imports, and the documentation shows exactly it."""

import re

import numpy as np
import pytest

from repository import catalog, db
from repository.calcset import read_calcset
from repository.importer import import_calcset

from .conftest import EXAMPLE_SET, ROOT


def test_docs_show_the_example_manifest_verbatim():
    doc = (ROOT / "docs" / "calcset-format.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", doc, flags=re.S)
    assert (EXAMPLE_SET / "calcset.toml").read_text() in blocks


def test_example_set_imports_with_links_and_derived_columns(any_db):
    engine = db.connect(any_db)
    summary = import_calcset(engine, read_calcset(EXAMPLE_SET))
    assert (summary.status, summary.entries_new, summary.spectra_new) == ("imported", 2, 3)
    assert (summary.dos_new, summary.descriptors_new, summary.structures_new) == (4, 3, 3)
    rows = {r["spectrum_id"]: r for r in catalog.list_spectra(engine)}
    vacancy = catalog.get_spectrum(engine, max(rows))
    assert vacancy["defect_name"] == "v_N" and vacancy["defect_kind"] == "vacancy"
    assert vacancy["reduced_formula"] == "B8N7" and vacancy["nsites"] == 15
    # the B next to a removed N has two B-N bonds left, 1.45 Angstrom from the vacancy
    assert vacancy["absorber_cn"] == 2
    assert vacancy["absorber_defect_distance_a"] == pytest.approx(1.4457, abs=1e-3)
    assert vacancy["sigma_charge_transfer"] == pytest.approx(-0.05)
    pristine = catalog.get_spectrum(engine, min(rows))
    assert pristine["crystal_system"] == "hexagonal" and pristine["spacegroup_number"] == 194
    assert pristine["dimensionality"] == 2 and pristine["absorber_cn"] == 3
    assert pristine["hirshfeld_charge"] == pytest.approx(0.71)
    assert {d["orbital"] for d in pristine["dos"]} == {"s", "p", "p_sigma", "p_pi"}
    raw = np.loadtxt(EXAMPLE_SET / "spectra" / "hBN_B0_iso.dat")
    np.testing.assert_array_equal(pristine["energy_ev"], raw[:, 0])
    np.testing.assert_array_equal(pristine["intensity"], raw[:, 1])
    engine.dispose()


def test_reimport_changes_nothing_and_new_entries_extend_the_set(sqlite_db, example_set):
    engine = db.connect(sqlite_db)
    first = import_calcset(engine, read_calcset(example_set))
    again = import_calcset(engine, read_calcset(example_set))
    assert first.changed and not again.changed
    assert catalog.count_rows(engine)["spectrum"] == 3
    manifest = example_set / "calcset.toml"
    manifest.write_text(manifest.read_text() + '\n[[entries]]\nkey = "extra"\nstructure = "structures/hBN_prim.cif"\n'
                        '[entries.absorber]\nsite_index = 1\nelement = "B"\n[[entries.spectra]]\n'
                        'file = "spectra/hBN_B0_z.dat"\nedge = "K"\npolarization = "x"\n')
    extended = import_calcset(engine, read_calcset(example_set))
    assert (extended.status, extended.entries_new, extended.entries_skipped, extended.spectra_new) == ("extended", 1, 2, 1)
    assert catalog.count_rows(engine)["spectrum"] == 4
    engine.dispose()
