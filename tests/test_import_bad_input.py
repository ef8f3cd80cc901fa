"""Bad calculation sets are refused with one line naming file and field/line, exit code 2, and the
database is left byte-for-byte as it was."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import file_digest


def _replace(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"test setup: {old!r} not in {path}"
    path.write_text(text.replace(old, new, count))


def _set_line(path: Path, line_number: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line_number - 1] = text
    path.write_text("\n".join(lines) + "\n")


def _data_line(path: Path, nth: int) -> int:
    """1-based line number of the nth (1-based) data row of a text file."""
    rows = [i for i, line in enumerate(path.read_text().splitlines(), start=1) if line and not line.startswith("#")]
    return rows[nth - 1]


def _break_missing_file(s: Path):
    (s / "spectra" / "vN_B_iso.dat").unlink()
    return r"calcset\.toml: entries\[1\] \(hBN-221-vN/B1\)\.spectra\[0\]\.file: file 'spectra/vN_B_iso.dat' not found"


def _break_toml(s: Path):
    _replace(s / "calcset.toml", 'name = "example-hbn"', 'name = "example-hbn')
    return r"calcset\.toml: malformed TOML: .*line 4"


def _break_monotonic(s: Path):
    path = s / "spectra" / "hBN_B0_iso.dat"
    line = _data_line(path, 11)
    _set_line(path, line, "186.0 0.5")
    return rf"hBN_B0_iso\.dat: line {line}: energy is decreasing"


def _break_duplicate_energy(s: Path):
    path = s / "spectra" / "hBN_B0_iso.dat"
    line = _data_line(path, 6)
    previous = path.read_text().splitlines()[line - 2].split()[0]
    _set_line(path, line, f"{previous} 0.1")
    return rf"hBN_B0_iso\.dat: line {line}: energy is duplicated"


def _break_nan(s: Path):
    path = s / "spectra" / "vN_B_iso.dat"
    line = _data_line(path, 40)
    energy = path.read_text().splitlines()[line - 1].split()[0]
    _set_line(path, line, f"{energy} nan")
    return rf"vN_B_iso\.dat: line {line}: intensity has a non-finite value"


def _break_inf(s: Path):
    path = s / "spectra" / "vN_B_iso.dat"
    line = _data_line(path, 3)
    energy = path.read_text().splitlines()[line - 1].split()[0]
    _set_line(path, line, f"{energy} inf")
    return rf"vN_B_iso\.dat: line {line}: intensity has a non-finite value"


def _break_lengths(s: Path):
    path = s / "spectra" / "hBN_B0_iso.dat"
    line = _data_line(path, 20)
    energy = path.read_text().splitlines()[line - 1].split()[0]
    _set_line(path, line, energy)
    return rf"hBN_B0_iso\.dat: line {line}: expected 2 columns, found 1"


def _break_edge(s: Path):
    _replace(s / "calcset.toml", 'edge = "K"', 'edge = "Q7"')
    return r"calcset\.toml: entries\[0\] \(hBN-221/B0\)\.spectra\[0\]\.edge: unknown edge 'Q7'"


def _break_spectrum_type(s: Path):
    # NEXAFS is the soft-X-ray name for XANES: the message says so (as import --type), not a Python
    # enum message, and does not suggest EXAFS, the closest string
    _replace(s / "calcset.toml", 'type = "XANES"', 'type = "NEXAFS"')
    return (r"calcset\.toml: entries\[0\] \(hBN-221/B0\)\.spectra\[0\]\.type: unknown spectrum type 'NEXAFS' "
            r"\(NEXAFS is the soft-X-ray name for XANES: give XANES; expected one of XANES, EXAFS, XAFS\)$")


def _break_absorber_element(s: Path):
    _replace(s / "calcset.toml", "site_index = 1\nelement = \"B\"", "site_index = 8\nelement = \"B\"")
    return r"entries\[1\] \(hBN-221-vN/B1\)\.absorber\.site_index: site 8 is N, not the absorbing element B"


def _break_structure(s: Path):
    (s / "structures" / "hBN_221_vN.json").write_text('{"lattice": "not a lattice"}')
    return r"hBN_221_vN\.json: unreadable structure"


def _break_not_a_number(s: Path):
    path = s / "dos" / "hBN_B0_pdos.dat"
    line = _data_line(path, 2)
    _set_line(path, line, "-9.5 0.1 x 0.2 0.3")
    return rf"hBN_B0_pdos\.dat: line {line}: 'x' is not a number"


BREAKERS = {
    "missing file": _break_missing_file,
    "malformed TOML": _break_toml,
    "non-monotonic energy": _break_monotonic,
    "duplicated energy": _break_duplicate_energy,
    "NaN intensity": _break_nan,
    "inf intensity": _break_inf,
    "arrays of different lengths": _break_lengths,
    "unknown edge": _break_edge,
    "NEXAFS spectrum type": _break_spectrum_type,
    "absorber on another element": _break_absorber_element,
    "unreadable structure": _break_structure,
    "non-numeric DOS value": _break_not_a_number,
}


@pytest.mark.parametrize("problem", list(BREAKERS))
def test_bad_set_is_refused_with_one_line_and_database_unchanged(problem, cli, sqlite_db, example_set):
    # A database that already holds data, so "unchanged" is a meaningful claim.
    other = example_set.parent / "other"
    import shutil

    shutil.copytree(example_set, other)
    _replace(other / "calcset.toml", 'name = "example-hbn"', 'name = "already-there"')
    assert cli("import", other, "--db", sqlite_db).exit_code == 0
    db_file = Path(sqlite_db)
    before = {p.name: file_digest(p) for p in db_file.parent.glob(db_file.name + "*")}

    expected = BREAKERS[problem](example_set)
    result = cli("import", example_set, "--db", sqlite_db)

    assert result.exit_code == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "Traceback" not in result.output
    assert re.search(expected, message), message
    after = {p.name: file_digest(p) for p in db_file.parent.glob(db_file.name + "*")}
    assert after[db_file.name] == before[db_file.name]
    assert after == before


def test_unknown_manifest_key_names_the_field(example_set):
    from repository.calcset import read_calcset
    from repository.errors import InputError

    _replace(example_set / "calcset.toml", "polymorph = \"h-BN\"", "polymorf = \"h-BN\"")
    with pytest.raises(InputError, match=r"entries\[0\] \(hBN-221/B0\)\.polymorf: unknown key"):
        read_calcset(example_set)


def test_changed_entry_under_the_same_set_name_is_refused(sqlite_db, example_set, cli):
    assert cli("import", example_set, "--db", sqlite_db).exit_code == 0
    _replace(example_set / "calcset.toml", "value = 0.71", "value = 0.75")
    result = cli("import", example_set, "--db", sqlite_db)
    assert result.exit_code == 2
    assert "entry 'hBN-221/B0' changed since it was imported" in result.stderr


def test_edited_structure_label_is_refused_naming_the_field_and_database_unchanged(sqlite_db, example_set, cli):
    # polymorph/relaxation used to be outside the entry hash: the edit was "nothing changed", and lost
    assert cli("import", example_set, "--db", sqlite_db).exit_code == 0
    assert "nothing changed" in cli("import", example_set, "--db", sqlite_db).stdout
    before = file_digest(Path(sqlite_db))
    _replace(example_set / "calcset.toml", 'polymorph = "h-BN"', 'polymorph = "hBN"')
    result = cli("import", example_set, "--db", sqlite_db)
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output, message
    assert "entry 'hBN-221/B0' changed since it was imported (polymorph: stored 'h-BN', now 'hBN')" in message
    assert file_digest(Path(sqlite_db)) == before


def test_edited_relaxation_of_the_second_entry_is_refused(sqlite_db, example_set, cli):
    assert cli("import", example_set, "--db", sqlite_db).exit_code == 0
    _replace(example_set / "calcset.toml", 'relaxation = "none"', 'relaxation = "PBE, forces < 0.01 eV/A"', count=2)
    _replace(example_set / "calcset.toml", 'relaxation = "PBE, forces < 0.01 eV/A"', 'relaxation = "none"')
    result = cli("import", example_set, "--db", sqlite_db)
    assert result.exit_code == 2, result.output
    assert "entry 'hBN-221-vN/B1' changed since it was imported (relaxation: stored 'none'" in result.stderr


def test_changed_calculation_field_is_named(sqlite_db, example_set, cli):
    assert cli("import", example_set, "--db", sqlite_db).exit_code == 0
    _replace(example_set / "calcset.toml", "alignment_shift_ev = 189.9", "alignment_shift_ev = 190.1")
    result = cli("import", example_set, "--db", sqlite_db)
    assert result.exit_code == 2
    assert "(alignment_shift_ev: stored 189.9, now 190.1)" in result.stderr


def test_edited_set_description_alone_is_refused_not_stored_behind_nothing_changed(sqlite_db, example_set, cli):
    # the set row used to be rewritten while the command said "nothing changed"
    assert cli("import", example_set, "--db", sqlite_db).exit_code == 0
    before = file_digest(Path(sqlite_db))
    _replace(example_set / "calcset.toml", 'description = "Two entries', 'description = "2 entries')
    result = cli("import", example_set, "--db", sqlite_db)
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "set description changed since it was imported (stored 'Two entries" in message
    assert file_digest(Path(sqlite_db)) == before


def test_reformatted_manifest_is_nothing_changed_and_writes_nothing(sqlite_db, example_set, cli):
    assert cli("import", example_set, "--db", sqlite_db).exit_code == 0
    before = file_digest(Path(sqlite_db))
    manifest = example_set / "calcset.toml"
    manifest.write_text("# a comment added after the import\n" + manifest.read_text())
    result = cli("import", example_set, "--db", sqlite_db)
    assert result.exit_code == 0, result.output
    assert "already imported: nothing changed" in result.stdout
    assert file_digest(Path(sqlite_db)) == before


def test_entry_imported_before_labels_were_hashed_is_still_recognised(sqlite_db, example_set, cli):
    """A database whose entry hashes predate the labels: an unchanged entry is accepted when the set
    is extended, an edited label is still refused."""
    import shutil

    from sqlalchemy import update

    from repository import db
    from repository.calcset import read_calcset
    from repository.models import Calculation

    assert cli("import", example_set, "--db", sqlite_db).exit_code == 0
    plan = read_calcset(example_set)
    table = Calculation.__table__
    with db.connected(sqlite_db) as engine, engine.begin() as conn:
        for entry in plan.entries:
            conn.execute(update(table).where(table.c.entry_key == entry.key).values(entry_hash=entry.legacy_hash))
    # extend the set with a third entry (a copy of the second under a new key)
    text = (example_set / "calcset.toml").read_text()
    second = text[text.index('[[entries]]\nkey = "hBN-221-vN/B1"'):]
    (example_set / "calcset.toml").write_text(text + "\n" + second.replace("hBN-221-vN/B1", "hBN-221-vN/B1-copy"))
    edited = example_set.parent / "edited"
    shutil.copytree(example_set, edited)
    result = cli("import", example_set, "--db", sqlite_db)
    assert result.exit_code == 0, result.output
    _replace(edited / "calcset.toml", 'polymorph = "h-BN"', 'polymorph = "hBN"')
    result = cli("import", edited, "--db", sqlite_db)
    assert result.exit_code == 2
    assert "(polymorph: stored 'h-BN', now 'hBN')" in result.stderr


def test_paths_outside_the_set_directory_are_refused(example_set):
    from repository.calcset import read_calcset
    from repository.errors import InputError

    (example_set.parent / "outside.cif").write_text((example_set / "structures" / "hBN_prim.cif").read_text())
    _replace(example_set / "calcset.toml", 'structure = "structures/POSCAR_hBN_221"', 'structure = "../outside.cif"')
    with pytest.raises(InputError, match=r"entries\[0\] \(hBN-221/B0\)\.structure: '\.\./outside\.cif' is outside"):
        read_calcset(example_set)


def test_import_type_nexafs_is_told_to_give_xanes(cli, sqlite_db, tmp_path):
    """`import --type NEXAFS`: the same advice as a manifest's type (one parser), no EXAFS guess."""
    data = tmp_path / "bk.dat"
    data.write_text("".join(f"{180 + 0.5 * i:.1f} {1.0 / (1.0 + 2.718 ** (-(0.5 * i - 12))):.5f}\n" for i in range(80)))
    result = cli("import", data, "--element", "B", "--edge", "K", "--type", "NEXAFS", "--db", sqlite_db)
    assert result.exit_code == 2
    assert result.stderr == ("error: --type: unknown spectrum type 'NEXAFS' (NEXAFS is the soft-X-ray name for "
                             "XANES: give XANES; expected one of XANES, EXAFS, XAFS)\n")
    assert cli("import", data, "--element", "B", "--edge", "K", "--type", "xanes", "--db", sqlite_db).exit_code == 0


def test_two_entries_labelling_one_structure_differently_are_refused(sqlite_db, example_set, cli):
    """The structure row has one polymorph: an entry that shares another entry's structure but
    calls it something else used to lose its label silently on first import (the first won)."""
    manifest = example_set / "calcset.toml"
    text = manifest.read_text()
    extra = ('\n[[entries]]\nkey = "hBN-221/B1"\nstructure = "structures/POSCAR_hBN_221"\n'
             'polymorph = "r-BN"\nrelaxation = "none"\n\n[entries.absorber]\nsite_index = 1\nelement = "B"\n\n'
             '[entries.calculation]\nalignment_shift_ev = 189.9\n\n[[entries.spectra]]\n'
             'file = "spectra/hBN_B0_iso.dat"\nedge = "K"\ntype = "XANES"\npolarization = "iso"\n')
    manifest.write_text(text + extra)
    before = file_digest(Path(sqlite_db))
    result = cli("import", example_set, "--db", sqlite_db)
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output, message
    assert "entries[2] (hBN-221/B1).polymorph" in message
    assert "'r-BN' for the structure that entries[0] (hBN-221/B0) gives 'h-BN'" in message, message
    assert file_digest(Path(sqlite_db)) == before
    # the same label is no conflict: the set imports
    manifest.write_text(text + extra.replace('polymorph = "r-BN"', 'polymorph = "h-BN"'))
    assert cli("import", example_set, "--db", sqlite_db).exit_code == 0
