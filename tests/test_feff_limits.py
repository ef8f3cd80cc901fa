"""A FEFF ATOMS cluster counts against the atoms-per-structure limit (XASREPO_MAX_ATOMS,
repository/limits.py, default 10,000) like any structure: over it, one line naming feff.inp, the
limit and the variable; exit 2; nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from repository.errors import LimitExceeded
from repository.formats import read_path
from repository.limits import MAX_ATOMS
from tests.conftest import file_digest

XMU = ("# B K edge FEFF 10.0.0\n"
       "#  omega    e    k    mu    mu0     chi\n"
       + "".join(f"{190.0 + 0.5 * i:.3f} {0.5 * i:.3f} {0.1 * i:.3f} {0.1 + 0.01 * i:.4f} {0.1:.4f} {0.0:.4f}\n"
                 for i in range(40)))


def _feff_run(folder, n_atoms: int):
    """A B K FEFF run whose ATOMS card lists ``n_atoms`` atoms (absorber first, then N and B on a
    simple cubic grid 2 Å apart, so no two atoms are closer than the minimum distance)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["  0.0000  0.0000  0.0000  0  B"]
    side = int(round(n_atoms ** (1 / 3))) + 2
    for i in range(side):
        for j in range(side):
            for k in range(side):
                if len(rows) == n_atoms:
                    break
                if (i, j, k) != (0, 0, 0):
                    rows.append(f"  {2.0 * i:.4f}  {2.0 * j:.4f}  {2.0 * k:.4f}  {1 + (i + j + k) % 2}")
    assert len(rows) == n_atoms
    (folder / "feff.inp").write_text("TITLE synthetic cluster\nEDGE K\nXANES\nPOTENTIALS\n  0 5 B\n  1 7 N\n  2 5 B\n"
                                     "ATOMS\n" + "\n".join(rows) + "\nEND\n")
    (folder / "xmu.dat").write_text(XMU)
    return folder


def test_a_cluster_at_the_default_limit_is_read_and_one_atom_more_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("XASREPO_MAX_ATOMS", raising=False)
    limit = int(MAX_ATOMS.value())
    assert limit == 10_000  # the documented default (docs/limits.md)
    (record,) = read_path(_feff_run(tmp_path / "ok", limit))
    assert record.metadata["feff"]["cluster"]["n_atoms"] == limit
    with pytest.raises(LimitExceeded) as err:
        read_path(_feff_run(tmp_path / "big", limit + 1))
    message = str(err.value)
    assert "\n" not in message and "feff.inp" in message
    assert "10,001 atoms" in message and "10,000 atoms" in message and "XASREPO_MAX_ATOMS" in message


def test_the_real_cu_example_is_refused_below_its_size_and_read_at_it(shared_fixtures, tmp_path, monkeypatch):
    source = shared_fixtures / "feff10" / "examples" / "XANES" / "Cu"
    run = tmp_path / "Cu"
    shutil.copytree(source, run)
    # the ATOMS rows counted independently: lines after ATOMS up to END that start with x y z ipot
    lines = (run / "feff.inp").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().upper() == "ATOMS")
    rows = 0
    for line in lines[start + 1:]:
        words = line.split()
        if words and words[0].upper() == "END":
            break
        if len(words) >= 4 and all(w.replace(".", "", 1).lstrip("-").isdigit() for w in words[:4]):
            rows += 1
    assert rows > 100
    monkeypatch.setenv("XASREPO_MAX_ATOMS", str(rows))
    (record,) = read_path(run)
    assert record.metadata["feff"]["cluster"]["n_atoms"] == rows
    monkeypatch.setenv("XASREPO_MAX_ATOMS", str(rows - 1))
    with pytest.raises(LimitExceeded, match=rf"feff\.inp: ATOMS from line {start + 2}: the ATOMS cluster has "
                                            rf"{rows:,} atoms, over the limit of {rows - 1:,} atoms .*XASREPO_MAX_ATOMS"):
        read_path(run)


def test_cli_import_of_an_oversized_cluster_is_one_line_exit_2_and_writes_nothing(cli, sqlite_db, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setenv("XASREPO_MAX_ATOMS", "50")
    run = _feff_run(tmp_path / "run", 51)
    before = file_digest(Path(sqlite_db))
    result = cli("import", run, "--db", sqlite_db)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert "feff.inp" in result.stderr and "51 atoms" in result.stderr and "XASREPO_MAX_ATOMS" in result.stderr
    assert file_digest(Path(sqlite_db)) == before
