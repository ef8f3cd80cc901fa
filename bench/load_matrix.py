"""Benchmark: load every spectrum of a 100k-spectrum database into one matrix.

Target (issue 18): ``repository.analysis.load.load_spectra(engine).matrix`` takes at most 1.3x the
time of raw numpy over the same bytes (was 2x); the memory target (1.2x) and the 10^6 curve are
measured by ``bench/scale.py`` (fresh processes, peak RSS). Two baselines are printed:

* ``raw sqlite3 + numpy``: ``SELECT intensity FROM spectrum ORDER BY id`` with the stdlib driver,
  then one ``np.frombuffer`` over the joined BLOBs (the same bytes, no library code) -- the target;
* ``np.fromfile``: the same bytes read back from one flat file (the floor, no database at all).

The database is SYNTHETIC (repository.analysis.synthetic shapes, 121 points each), built with bulk
SQL inserts (bench only; the importer is the one way data get in otherwise) and kept for reuse.

    .venv/bin/python bench/load_matrix.py [--n 100000] [--db /tmp/xasrepo-bench/load-100000.db]
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 1.3
STAMP = "2026-01-01 00:00:00.000000"
STRUCTURES = [  # reduced_formula, crystal_system, spacegroup number, symbol, dimensionality
    ("BN", "hexagonal", 194, "P6_3/mmc", 2),
    ("BN", "cubic", 216, "F-43m", 3),
    ("BN", "hexagonal", 186, "P6_3mc", 3),
]


def insert_structures(con: sqlite3.Connection) -> None:
    """The :data:`STRUCTURES` rows (ids 1..len) of a synthetic bench database."""
    for i, (formula, system, number, symbol, dim) in enumerate(STRUCTURES, start=1):
        con.execute("INSERT INTO structure (id, content_hash, structure_json, reduced_formula, elements, nelements, "
                    "nsites, spacegroup_number, spacegroup_symbol, crystal_system, dimensionality, density_g_cm3, "
                    "volume_per_atom_a3) VALUES (?, ?, '{}', ?, 'B,N', 2, 4, ?, ?, ?, ?, 2.2, 5.9)",
                    (i, f"bench-structure-{i}", formula, number, symbol, system, dim))


def build(path: Path, n_spectra: int, seed: int = 0) -> None:
    """A SYNTHETIC B K database of ``n_spectra`` spectra in three structure classes."""
    from repository import db
    from repository.analysis.synthetic import synthetic_grid, synthetic_intensity
    from repository.arrays import to_blob

    path.parent.mkdir(parents=True, exist_ok=True)
    db.upgrade(str(path))
    energy = synthetic_grid()
    blob_e = to_blob(energy)
    rng = np.random.default_rng(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    insert_structures(con)
    rows = []
    for i in range(n_spectra):
        label = i % len(STRUCTURES)
        blob_i = to_blob(synthetic_intensity(energy, label, rng))
        digest = hashlib.sha256(blob_i).hexdigest()
        rows.append((digest, label + 1, len(energy), float(energy[0]), float(energy[-1]), blob_e, blob_i,
                     f"synthetic-class-{label}", STAMP))
        if len(rows) == 10_000 or i == n_spectra - 1:
            con.executemany(
                "INSERT INTO spectrum (content_hash, origin, structure_id, absorbing_element, edge, spectrum_type, "
                "polarization, n_points, energy_min_ev, energy_max_ev, energy_ev, intensity, sample_name, "
                "metadata_json, imported_at) VALUES (?, 'computed', ?, 'B', 'K', 'XANES', 'iso', ?, ?, ?, ?, ?, ?, "
                "'{\"synthetic\": true}', ?)", rows)
            rows = []
    con.commit()
    con.close()


def ensure(path: Path, n_spectra: int) -> Path:
    if path.exists():
        with sqlite3.connect(path) as con:
            if con.execute("SELECT COUNT(*) FROM spectrum").fetchone()[0] == n_spectra:
                return path
        path.unlink()
    print(f"building {path} with {n_spectra} SYNTHETIC spectra ...", file=sys.stderr)
    build(path, n_spectra)
    return path


def best_of(repeats: int, function):
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = ensure(args.db or Path(tempfile.gettempdir()) / "xasrepo-bench" / f"load-{args.n}.db", args.n)

    from repository import db
    from repository.analysis.load import load_spectra

    def raw_sqlite():
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        blobs = [r[0] for r in con.execute("SELECT intensity FROM spectrum ORDER BY id")]
        con.close()
        return np.frombuffer(b"".join(blobs), dtype="<f8").reshape(len(blobs), -1)

    raw_s, raw_matrix = best_of(args.repeats, raw_sqlite)
    flat = path.with_suffix(".intensity.bin")
    raw_matrix.tofile(flat)
    file_s, from_file = best_of(args.repeats, lambda: np.fromfile(flat, dtype="<f8").reshape(raw_matrix.shape))
    engine = db.connect(str(path), read_only=True)
    ours_s, spectra = best_of(args.repeats, lambda: load_spectra(engine, with_shifts=False))
    engine.dispose()
    assert np.array_equal(spectra.matrix, raw_matrix) and np.array_equal(from_file, raw_matrix)
    flat.unlink()
    ratio = ours_s / raw_s
    print(f"load {raw_matrix.shape[0]} x {raw_matrix.shape[1]} float64 ({raw_matrix.nbytes / 1e6:.0f} MB), "
          f"best of {args.repeats}")
    print(f"{'what':<44}{'seconds':>10}{'x raw':>8}")
    print(f"{'np.fromfile (same bytes, flat file)':<44}{file_s:>10.3f}{file_s / raw_s:>8.2f}")
    print(f"{'raw sqlite3 + np.frombuffer (baseline)':<44}{raw_s:>10.3f}{1.0:>8.2f}")
    print(f"{'load_spectra (ids, hashes, grid check, matrix)':<44}{ours_s:>10.3f}{ratio:>8.2f}")
    print(f"target <= {TARGET_RATIO:.1f}x raw: {'PASS' if ratio <= TARGET_RATIO else 'FAIL'}")


if __name__ == "__main__":
    main()
