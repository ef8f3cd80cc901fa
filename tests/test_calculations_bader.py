"""The cube file handed to baderkit keeps the electron count and the geometry (atomic units)."""

import numpy as np

from repository.calculations.bader import ATOMIC_NUMBER, BOHR_A, write_cube


def _read_cube(path):
    lines = path.read_text().splitlines()
    natoms = int(lines[2].split()[0])
    n, vox = [], []
    for i in range(3):
        parts = lines[3 + i].split()
        n.append(int(parts[0]))
        vox.append([float(x) for x in parts[1:]])
    atoms = [[float(x) for x in lines[6 + k].split()] for k in range(natoms)]
    data = np.array(" ".join(lines[6 + natoms:]).split(), float).reshape(n)
    return np.array(vox), np.array(atoms), data


def test_cube_keeps_the_electron_count_and_positions(tmp_path):
    cell = np.array([[3.0, 0, 0], [0, 4.0, 0], [1.0, 0, 5.0]])           # Å, not orthogonal
    n = (6, 8, 10)
    rng = np.random.default_rng(0)
    rho = rng.random(n)                                                # e/Å³
    volume = abs(np.linalg.det(cell))
    electrons = rho.mean() * volume
    pos = np.array([[0.1, 0.2, 0.3], [1.5, 2.0, 2.5]])
    f = tmp_path / "d.cube"
    write_cube(f, rho, cell, pos, ["B", "N"])
    vox, atoms, data = _read_cube(f)
    assert np.allclose(vox * np.array(n)[:, None] * BOHR_A, cell, atol=1e-5)
    assert np.allclose(atoms[:, 2:] * BOHR_A, pos, atol=1e-5)
    assert list(atoms[:, 0]) == [ATOMIC_NUMBER["B"], ATOMIC_NUMBER["N"]]
    # e/bohr³ summed over voxels of volume det(vox) bohr³ = the same number of electrons
    assert np.isclose(data.sum() * abs(np.linalg.det(vox)), electrons, rtol=1e-5)
    assert np.allclose(data, rho * BOHR_A ** 3, rtol=1e-5)     # grid order x, y, z kept
