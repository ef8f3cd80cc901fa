"""Bounded resources (issue 17): every documented limit of repository/limits.py refuses its input
with ONE line naming the file, the limit and the variable that raises it (exit 2, database
untouched); hostile files (NUL bytes, FIFOs, devices, gzip bombs, non-UTF-8 names, wrongly typed
Athena JSON, deep nesting) end the same way; XDI headers never hold a line break."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from repository.errors import InputError

from .conftest import file_digest

CU_K_EV = 8979.0


def _one_line(result, *needles: str) -> str:
    """The stderr of a refused command: exit 2, one line starting 'error: ', no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr[:2000]
    for needle in needles:
        assert needle in result.stderr, result.stderr
    return result.stderr


def _cu_columns(path: Path, points: int = 200) -> Path:
    """A plausible Cu K edge (a tanh step at the tabulated edge) as two columns."""
    energy = np.linspace(CU_K_EV - 60, CU_K_EV + 140, points)
    mu = 0.5 + 0.5 * np.tanh((energy - CU_K_EV) / 3.0)
    path.write_text("# energy mu\n" + "\n".join(f"{e:.4f} {m:.6f}" for e, m in zip(energy, mu)) + "\n")
    return path


def _import(cli, db, *paths, env=None, extra=("--element", "Cu", "--edge", "K")):
    return cli("import", *map(str, paths), *extra, "--db", db, env=env)


# --- the limits themselves ---------------------------------------------------------------------

def test_file_size_limit_names_the_limit_and_its_variable(cli, sqlite_db, tmp_path):
    data = _cu_columns(tmp_path / "cu.dat")  # ~6 kB
    before = file_digest(Path(sqlite_db))
    message = _one_line(_import(cli, sqlite_db, data, env={"XASREPO_MAX_FILE_MB": "0.001"}),
                        "cu.dat", "over the limit of 0.001 MB", "XASREPO_MAX_FILE_MB")
    assert "MB" in message
    assert file_digest(Path(sqlite_db)) == before
    assert _import(cli, sqlite_db, data).exit_code == 0  # the default limit lets it in


def _perl_athena(groups: int, points: int) -> bytes:
    energy = np.linspace(CU_K_EV - 60, CU_K_EV + 140, points)
    mu = 0.5 + 0.5 * np.tanh((energy - CU_K_EV) / 3.0)
    xs = ",".join(f"'{e:.4f}'" for e in energy)
    ys = ",".join(f"'{m:.6f}'" for m in mu)
    out = ["# Athena project file -- Demeter version 0.9.26", "# test", ""]
    for number in range(groups):
        out += [f"$old_group = 'g{number}';",
                f"@args = ('label','cu {number}','bkg_z','Cu','fft_edge','K','datatype','xmu');",
                f"@x = ({xs});", f"@y = ({ys});", "[record]"]
    return "\n".join(out).encode()


def test_a_gzip_bomb_is_refused_while_decompressing(cli, sqlite_db, tmp_path, monkeypatch):
    project = tmp_path / "bomb.prj"
    payload = _perl_athena(1, 200) + b"\n#" + b" " * 3_000_000  # expands 3 MB from a few kB
    project.write_bytes(gzip.compress(payload, compresslevel=9))
    assert project.stat().st_size < 50_000
    _one_line(_import(cli, sqlite_db, project, extra=(), env={"XASREPO_MAX_DECOMPRESSED_MB": "1"}),
              "bomb.prj", "gzip", "XASREPO_MAX_DECOMPRESSED_MB")
    # the decompressor stops at the limit, it does not expand everything first
    from repository import limits
    from repository.errors import LimitExceeded

    bomb = gzip.compress(b"\0" * 50_000_000)  # 49 kB
    monkeypatch.setenv("XASREPO_MAX_DECOMPRESSED_MB", "5")
    with pytest.raises(LimitExceeded, match="zeros.gz: the gzip data expands to more than 5.0 MB"):
        limits.decompress_gzip(bomb, "zeros.gz")
    monkeypatch.delenv("XASREPO_MAX_DECOMPRESSED_MB")
    ok = tmp_path / "ok.prj"
    ok.write_bytes(gzip.compress(_perl_athena(2, 200)))
    assert _import(cli, sqlite_db, ok, extra=()).exit_code == 0


def test_points_per_spectrum(cli, sqlite_db, tmp_path):
    data = _cu_columns(tmp_path / "cu.dat", points=300)
    _one_line(_import(cli, sqlite_db, data, env={"XASREPO_MAX_POINTS": "100"}),
              "cu.dat", "300 points", "over the limit of 100 points", "XASREPO_MAX_POINTS")


def test_points_limit_in_a_calculation_set_spectrum(cli, sqlite_db, example_set):
    _one_line(cli("import", example_set, "--db", sqlite_db, env={"XASREPO_MAX_POINTS": "20"}),
              ".dat", "rows, over the limit of 20 points", "XASREPO_MAX_POINTS")


def test_entries_per_manifest_are_counted_before_parsing(cli, sqlite_db, example_set):
    before = file_digest(Path(sqlite_db))
    _one_line(cli("import", example_set, "--db", sqlite_db, env={"XASREPO_MAX_ENTRIES": "1"}),
              "calcset.toml", "entries", "over the limit of 1 entries", "XASREPO_MAX_ENTRIES")
    assert file_digest(Path(sqlite_db)) == before


def _dense_poscar(path: Path, atoms: int = 3000, cell_a: float = 2.0) -> Path:
    rng = np.random.default_rng(1)
    lines = ["dense", "1.0", f"{cell_a} 0 0", f"0 {cell_a} 0", f"0 0 {cell_a}", "B", str(atoms), "Direct"]
    lines += [" ".join(f"{x:.6f}" for x in row) for row in rng.random((atoms, 3))]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_dense_structure_is_refused_before_analysis(cli, sqlite_db, example_set):
    # 3,000 atoms in a 2 Å cell: 81 kB, and 5.7 GB of memory in the structure analysis before
    _dense_poscar(example_set / "structures" / "POSCAR_hBN_221")
    started = time.perf_counter()
    message = _one_line(cli("import", example_set, "--db", sqlite_db),
                        "POSCAR_hBN_221", "minimum interatomic distance of 0.5 Å", "XASREPO_MIN_DISTANCE_A")
    assert time.perf_counter() - started < 30, message
    assert "apart" in message


def test_atoms_per_structure(example_set):
    from repository.errors import LimitExceeded
    from repository.structures import read_structure

    os.environ["XASREPO_MAX_ATOMS"] = "10"
    try:
        with pytest.raises(LimitExceeded, match=r"POSCAR_hBN_221: the structure has \d+ atoms, over the limit of 10 "
                                                r"atoms .*XASREPO_MAX_ATOMS"):
            read_structure(example_set / "structures" / "POSCAR_hBN_221")
    finally:
        del os.environ["XASREPO_MAX_ATOMS"]


@pytest.mark.parametrize("cell", ["short", "pair"])
def test_minimum_distance_includes_periodic_images(tmp_path, cell):
    from repository.errors import LimitExceeded
    from repository.structures import read_structure

    if cell == "short":  # a 0.3 Å lattice vector: every atom next to its own image
        text = "short\n1.0\n0.3 0 0\n0 5 0\n0 0 5\nB\n1\nDirect\n0 0 0\n"
    else:  # two atoms 0.2 Å apart across the cell boundary (0.98 and 0.02 of a 5 Å cell)
        text = "pair\n1.0\n5 0 0\n0 5 0\n0 0 5\nB N\n1 1\nDirect\n0.98 0 0\n0.02 0 0\n"
    path = tmp_path / "POSCAR"
    path.write_text(text)
    with pytest.raises(LimitExceeded, match="below the minimum interatomic distance of 0.5 Å"):
        read_structure(path)


def _closest_pair_brute_force(structure, images: int = 4) -> float:
    """Shortest distance between two atoms, or an atom and its own image, over every lattice
    translation up to ``images`` cells away: the plain definition, no neighbour search."""
    shifts = np.array([(a, b, c) for a in range(-images, images + 1) for b in range(-images, images + 1)
                       for c in range(-images, images + 1)], dtype=float) @ structure.lattice.matrix
    cart = structure.cart_coords
    d = np.linalg.norm(cart[:, None, None, :] + shifts[None, None, :, :] - cart[None, :, None, :], axis=-1)
    n = len(cart)
    zero = int(np.flatnonzero(np.all(shifts == 0, axis=1))[0])
    d[np.arange(n), np.arange(n), zero] = np.inf  # an atom is not its own neighbour
    return float(d.min())


def test_minimum_distance_check_agrees_with_a_brute_force_search():
    # skewed cells with atoms far outside the unit cell: the check searches the LLL-reduced lattice
    # without rebuilding the structure, and must find exactly the pairs the plain definition finds
    from pymatgen.core import Lattice, Structure

    from repository.errors import LimitExceeded
    from repository.structures import check_structure

    rng = np.random.default_rng(7)
    refused = passed = 0
    for _ in range(60):
        matrix = np.diag(rng.uniform(1.2, 4.0, 3)) + rng.normal(0, 0.8, (3, 3))
        if abs(np.linalg.det(matrix)) < 3.0:
            continue
        n = int(rng.integers(1, 6))
        structure = Structure(Lattice(matrix), ["B"] * n, rng.uniform(-2, 3, (n, 3)))
        closest = _closest_pair_brute_force(structure)
        if abs(closest - 0.5) < 1e-6:
            continue  # on the limit: either answer is right
        if closest < 0.5:
            with pytest.raises(LimitExceeded, match="below the minimum interatomic distance of 0.5 Å"):
                check_structure(structure, "cell.json")
            refused += 1
        else:
            check_structure(structure, "cell.json")
            passed += 1
    assert refused >= 5 and passed >= 5, (refused, passed)  # both answers were exercised


def test_real_structures_pass_the_structure_limits(example_set):
    from repository.structures import read_structure

    for path in sorted((example_set / "structures").iterdir()):
        assert len(read_structure(path)) > 0


def test_nesting_depth_json_and_toml_name_the_file(cli, sqlite_db, tmp_path, example_set):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    _one_line(_import(cli, sqlite_db, deep, extra=()), "deep.json", "nested 100,000 levels deep", "XASREPO_MAX_NESTING")
    manifest = example_set / "calcset.toml"
    manifest.write_text(manifest.read_text() + "\n[extra]\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    _one_line(cli("import", example_set, "--db", sqlite_db), "calcset.toml", "nested", "XASREPO_MAX_NESTING")


def test_nesting_depth_ignores_brackets_in_strings():
    from repository import limits

    assert limits.nesting_depth('{"a": "[[[[[[", "b": [1, [2]]}') == 3
    assert limits.nesting_depth("x = '[[[['  # [[[[\n[[entries]]\n") == 2


def test_a_limit_variable_that_is_not_a_number_is_one_line(cli, sqlite_db, tmp_path):
    data = _cu_columns(tmp_path / "cu.dat")
    _one_line(_import(cli, sqlite_db, data, env={"XASREPO_MAX_FILE_MB": "lots"}), "XASREPO_MAX_FILE_MB", "lots")


# --- hostile files -----------------------------------------------------------------------------

def test_nul_bytes_in_a_calculation_set_spectrum_give_a_short_line(cli, sqlite_db, example_set):
    # before: the whole 2 MB token was quoted (repr 8 MB) on stderr; 200 MB wrote 838 MB
    (example_set / "spectra" / "hBN_B0_iso.dat").write_bytes(b"\0" * 2_000_000)
    message = _one_line(cli("import", example_set, "--db", sqlite_db), "hBN_B0_iso.dat", "binary")
    assert len(message) < 500


def test_a_huge_token_is_quoted_as_an_excerpt(tmp_path):
    from repository.textcolumns import read_numeric_table

    path = tmp_path / "x.dat"
    path.write_text("1 2\n" + "a" * 1_000_000 + " 3\n")
    with pytest.raises(InputError) as caught:
        read_numeric_table(path)
    assert "line 2" in str(caught.value) and "1,000,000 characters" in str(caught.value)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_fifo_and_devices_are_refused_before_opening(cli, sqlite_db, tmp_path, kind):
    if kind == "fifo":
        target = tmp_path / "pipe.dat"
        os.mkfifo(target)  # opening it for reading would block forever
        needle = "named pipe"
    else:
        target = Path("/dev/zero")  # reading it never ends
        if not target.exists():
            pytest.skip("no /dev/zero here")
        needle = "character device"
    _one_line(_import(cli, sqlite_db, target), needle, "not a regular file")
    if kind == "fifo":  # inside a folder it is refused too, not skipped silently
        _cu_columns(tmp_path / "cu.dat")
        _one_line(_import(cli, sqlite_db, tmp_path), "pipe.dat", "named pipe")


def test_a_file_name_that_is_not_utf8_does_not_block_its_folder(cli, sqlite_db, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    _cu_columns(folder / "good.dat")
    bad_name = os.path.join(os.fsencode(folder), b"M\xfcller.dat")  # Latin-1 bytes, not UTF-8
    with open(bad_name, "w") as handle:
        handle.write(_cu_columns(tmp_path / "tmp.dat", points=250).read_text())
    result = _import(cli, sqlite_db, folder)
    assert result.exit_code == 0, result.output
    assert "imported 2 spectra from 2 file(s)" in result.stdout
    listed = cli("sql", "SELECT source_file FROM spectrum ORDER BY source_file", "--format", "csv", "--db", sqlite_db)
    assert "M\\xfcller.dat" in listed.stdout  # stored with the byte escaped, never as a lone surrogate
    # a refused file with such a name is named the same way, on one line
    with open(bad_name, "w") as handle:
        handle.write("# energy mu\n1 2\nx y\n")
    _one_line(_import(cli, sqlite_db, folder), "M\\xfcller.dat", "line 3")


ATHENA_HEADER = {"_____header1": "# Athena project file -- Demeter version 0.9.26"}


@pytest.mark.parametrize("document, problem", [
    ({"_____order": "a", "a": {"args": {}, "x": [1], "y": [1]}}, "_____order must be a list"),
    ({"_____order": ["a"], "a": {"args": "Cu", "x": [1], "y": [1]}}, "'args' must be a JSON object"),
    ({"_____order": ["a"], "a": {"args": {}, "x": 5, "y": [1]}}, "'x' must be a list of numbers"),
    ({"_____order": ["a"], "a": {"args": {}, "x": [1, {"b": 1}], "y": [1, 2]}}, "'x' must be a list of numbers"),
    ({"_____order": ["a"], "a": {"args": {"bkg_z": "Cu", "fft_edge": "K"}, "x": ["8970", "abc"], "y": [1, 2]}},
     "not a number"),
])
def test_athena_json_with_wrong_types_is_one_line(cli, sqlite_db, tmp_path, document, problem):
    project = tmp_path / "wrong.prj"
    project.write_text(json.dumps({**ATHENA_HEADER, **document}))
    _one_line(_import(cli, sqlite_db, project, extra=()), "wrong.prj", problem)


def test_athena_json_arguments_of_the_wrong_type_are_not_stored_as_text(cli, sqlite_db, tmp_path):
    energy = np.linspace(CU_K_EV - 60, CU_K_EV + 140, 200)
    mu = 0.5 + 0.5 * np.tanh((energy - CU_K_EV) / 3.0)
    project = tmp_path / "odd.prj"
    project.write_text(json.dumps({**ATHENA_HEADER, "_____order": ["cu_foil"], "cu_foil": {
        "args": {"label": {"text": "foil"}, "beamline": ["20-BM"], "bkg_z": "Cu", "fft_edge": "K"},
        "x": energy.tolist(), "y": mu.tolist()}}))
    result = _import(cli, sqlite_db, project, extra=())
    assert result.exit_code == 0, result.output
    shown = cli("sql", "SELECT sample_name, beamline FROM spectrum", "--format", "csv", "--db", sqlite_db).stdout
    assert shown.splitlines()[1] == "cu_foil,"  # the group's name; no beamline rather than "['20-BM']"


# --- XDI headers: one rule for line breaks -----------------------------------------------------

@pytest.mark.parametrize("separator", ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_write_xdi_keeps_every_header_value_on_one_line(tmp_path, separator):
    from repository.formats import read_path, write_spectrum

    source = _cu_columns(tmp_path / "cu.dat")
    record = read_path(source, element="Cu", edge="K",
                       sample_name=f"x{separator}Element.symbol: Fe{separator}Element.edge: L3")[0]
    out = write_spectrum(record, tmp_path / "cu.xdi", "xdi")
    again = read_path(out)[0]
    assert (again.spectrum.absorbing_element, again.spectrum.edge.value) == ("Cu", "K")
    assert "Fe" in again.sample.sample_name and separator not in again.sample.sample_name
