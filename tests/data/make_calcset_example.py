"""Regenerates tests/data/calcset_example (run from the repository root).

The spectra are SYNTHETIC (Gaussian peaks placed by hand), labelled so in the manifest: they test
the file format and importer, not physics.
"""

from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Structure

root = Path(__file__).parent / "calcset_example"
a, c = 2.504, 6.66
prim = Structure(Lattice.hexagonal(a, c), ["B", "B", "N", "N"],
                 [(1 / 3, 2 / 3, 0.25), (2 / 3, 1 / 3, 0.75), (2 / 3, 1 / 3, 0.25), (1 / 3, 2 / 3, 0.75)])
prim.to(filename=str(root / "structures/hBN_prim.cif"))
supercell = prim * (2, 2, 1)
supercell.to(filename=str(root / "structures/POSCAR_hBN_221"), fmt="poscar")
vacancy = supercell.copy()
n_index = next(i for i, s in enumerate(vacancy) if s.specie.symbol == "N")
vacancy_position = vacancy[n_index].frac_coords.tolist()
vacancy.remove_sites([n_index])
(root / "structures/hBN_221_vN.json").write_text(vacancy.to_json())

energy = np.round(np.arange(185.0, 215.0, 0.25), 3)


def peaks(*centres_heights_widths):
    y = np.zeros_like(energy)
    for centre, height, width in centres_heights_widths:
        y += height * np.exp(-0.5 * ((energy - centre) / width) ** 2)
    return y


np.savetxt(root / "spectra/hBN_B0_iso.dat", np.c_[energy, peaks((192, 1.0, 0.4), (199, 0.6, 1.5))],
           fmt="%.5g", header="energy_ev intensity (SYNTHETIC test spectrum)")
np.savetxt(root / "spectra/hBN_B0_z.dat", np.c_[energy, peaks((192, 3.0, 0.4))], fmt="%.5g", delimiter=",",
           header="energy_ev,intensity (SYNTHETIC)")
np.savetxt(root / "spectra/vN_B_iso.dat", np.c_[energy, peaks((190.5, 0.4, 0.4), (192, 0.8, 0.5), (199, 0.6, 1.5))],
           fmt="%.5g", header="energy_ev intensity (SYNTHETIC test spectrum)")
dos_energy = np.round(np.arange(-10, 10, 0.5), 3)
np.savetxt(root / "dos/hBN_B0_pdos.dat",
           np.c_[dos_energy, np.exp(-(dos_energy + 3) ** 2), np.exp(-(dos_energy - 4) ** 2),
                 0.6 * np.exp(-(dos_energy - 4) ** 2), 0.4 * np.exp(-(dos_energy - 4) ** 2)],
           fmt="%.5g", header="energy_ev s p p_sigma p_pi (SYNTHETIC)")
# Absorber of the v_N entry: the B nearest the vacancy.
vac_b = min((i for i, s in enumerate(vacancy) if s.specie.symbol == "B"),
            key=lambda i: vacancy.lattice.get_distance_and_image(vacancy[i].frac_coords, vacancy_position)[0])
print("vacancy position", vacancy_position, "nearest B", vac_b)
