"""How the CLI prints floats: tables with the digits the unit is worth (cli/output.py
``TABLE_DECIMALS``: eV 2 decimals, Å 3, charges 3), JSON and CSV with every digit stored.

The values are read back from the database with the stdlib sqlite3 module, not from the CLI.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from decimal import Decimal

import numpy as np
import pytest

from cli.output import format_float


def test_floats_in_a_table_are_rounded_by_the_unit_in_the_column_name():
    assert format_float(1.4460000000000002, "absorber_defect_distance_a") == "1.446"
    assert format_float(179.0187, "alignment_shift_ev") == "179.02"  # was "179" (4 significant digits)
    assert format_float(17038.4, "energy_max_ev") == "17038.40"  # Mo K: was "1.704e+04"
    assert format_float(9.04123, "volume_per_atom_a3") == "9.04"
    assert format_float(-0.06536, "hirshfeld_charge") == "-0.065"
    assert format_float(0.38764, "sigma_charge_transfer") == "0.388"
    assert format_float(-0.0004, "alignment_shift_ev") == "0.00"  # no "-0.00"
    assert format_float(np.float32(2.5), "broadening_ev") == "2.50"
    assert format_float(Decimal("1.44600000000000020000"), "avg_distance_a") == "1.446"  # PostgreSQL numeric
    assert format_float(0.123456, "x") == "0.1235"  # no unit known: 4 significant digits
    # ... but never fewer than the integer digits + 2: a computed or aliased column of energies
    # (a newcomer saw MAX(energy_max_ev) 11365.49 as "1.137e+04" and MIN 8774.104 as "8774")
    assert format_float(11365.49, "lo") == "11365.49"
    assert format_float(8774.104, "lo") == "8774.1"
    # the unit of the one column a computed column is made of decides, as for the column itself
    assert format_float(11365.49, "MAX(energy_max_ev)") == "11365.49"
    assert format_float(10145.8612, "round(energy_max_ev, 2)") == "10145.86"
    assert format_float(1.44600002, "avg(absorber_defect_distance_a)") == "1.446"
    assert format_float(3.14159, "energy_max_ev - absorber_defect_distance_a") == "3.142"  # two units: none
    assert format_float(float("nan"), "energy_min_ev") == "nan"
    # a value with its unit stored beside it (show: descriptors) follows the unit
    assert format_float(184.1634, "value", unit="eV") == "184.16"
    assert format_float(0.65020704, "value", unit="A") == "0.650"
    assert format_float(-0.06536, "value", unit="e") == "-0.065"


def _row(db_path: str) -> tuple[int, float, float, float]:
    """A spectrum whose stored distance and alignment shift have more digits than a table shows."""
    with sqlite3.connect(db_path) as conn:
        for sid, distance, shift, emin in conn.execute(
                "SELECT spectrum_id, absorber_defect_distance_a, alignment_shift_ev, energy_min_ev "
                "FROM spectrum_overview WHERE absorber_defect_distance_a IS NOT NULL ORDER BY spectrum_id"):
            if len(repr(distance).split(".")[1]) > 3 and len(repr(shift).split(".")[1]) > 2:
                return sid, distance, shift, emin
    pytest.skip("no spectrum with long decimals in the bundled set")


def test_query_table_rounds_and_json_csv_keep_full_precision(cli, bundled_bn_db):
    sid, distance, shift, emin = _row(bundled_bn_db)
    columns = "spectrum_id,absorber.defect_distance,alignment_shift_ev,energy_min_ev"
    args = ("query", f"spectrum_id = {sid}", "--columns", columns, "--db", bundled_bn_db)

    table = cli(*args)
    assert table.exit_code == 0, table.output
    cells = next(line for line in table.stdout.splitlines() if line.startswith("│") and f" {sid} " in line)
    cells = [c.strip() for c in cells.strip("│").split("│")]
    assert cells == [str(sid), f"{distance:.3f}", f"{shift:.2f}", f"{emin:.2f}"]
    assert repr(distance) not in table.stdout and repr(shift) not in table.stdout

    as_json = json.loads(cli(*args, "--format", "json").stdout)
    assert as_json == [{"spectrum_id": sid, "absorber_defect_distance_a": distance, "alignment_shift_ev": shift,
                        "energy_min_ev": emin}]  # exact: every digit
    as_csv = list(csv.DictReader(io.StringIO(cli(*args, "--format", "csv").stdout)))
    assert float(as_csv[0]["absorber_defect_distance_a"]) == distance and float(as_csv[0]["alignment_shift_ev"]) == shift
    assert as_csv[0]["absorber_defect_distance_a"] == repr(distance)


def test_sql_and_show_round_the_same_way(cli, bundled_bn_db):
    sid, distance, shift, _ = _row(bundled_bn_db)
    out = cli("sql", f"SELECT alignment_shift_ev, absorber_defect_distance_a FROM spectrum_overview "
                     f"WHERE spectrum_id = {sid}", "--db", bundled_bn_db).stdout
    assert f"{shift:.2f}" in out and f"{distance:.3f}" in out and repr(shift) not in out
    csv_out = cli("sql", f"SELECT alignment_shift_ev FROM spectrum_overview WHERE spectrum_id = {sid}",
                  "--db", bundled_bn_db, "--format", "csv").stdout
    assert csv_out.splitlines()[1] == repr(shift)
    shown = cli("show", str(sid), "--db", bundled_bn_db).stdout
    line = next(x for x in shown.splitlines() if "alignment_shift_ev" in x)
    assert line.split("│")[2].strip() == f"{shift:.2f}"
    with sqlite3.connect(bundled_bn_db) as conn:
        onset = conn.execute("SELECT value FROM descriptor WHERE name = 'delta_ks_onset' AND unit = 'eV' AND "
                             "calculation_id = (SELECT calculation_id FROM spectrum WHERE id = ?) AND (site_index IS NULL "
                             "OR site_index = (SELECT absorber_site_index FROM spectrum WHERE id = ?))",
                             (sid, sid)).fetchone()
    conn.close()
    assert onset is not None and len(repr(onset[0]).split(".")[1]) > 2
    assert f"name=delta_ks_onset, value={onset[0]:.2f}, unit=eV" in " ".join(shown.split())


def test_a_table_far_too_wide_to_read_is_printed_one_block_per_row(cli, bundled_bn_db):
    """``--columns '*'`` (56 columns) into a pipe: one field/value block per row, every field name
    whole on one line (rich would fold each header into a letter per line); an ordinary query stays
    one table with its header on one line."""
    import re

    wide = cli("query", "element = B", "--columns", "*", "--limit", "2", "--db", bundled_bn_db)
    assert wide.exit_code == 0
    assert "row 1 of 2" in wide.stdout and "row 2 of 2" in wide.stdout
    assert "one block per row" in wide.stderr
    names = [line.split("│")[1].strip() for line in wide.stdout.splitlines() if line.count("│") == 3]
    for field in ("spectrum_id", "absorbing_element", "absorber_defect_distance_a", "calculation_set"):
        assert names.count(field) == 2, field           # one line per row, the name unbroken
    narrow = cli("query", "element = B", "--columns", "spectrum_id,polymorph,edge", "--limit", "2",
                 "--db", bundled_bn_db)
    assert narrow.exit_code == 0 and "row 1 of" not in narrow.stdout
    assert any(re.search(r"spectrum_id\s*┃\s*polymorph\s*┃\s*edge", line) for line in narrow.stdout.splitlines())


def test_sql_aggregates_of_energies_keep_their_decimals(cli, bundled_bn_db):
    """An aggregate of an eV column is shown with the eV column's decimals, an aliased one with at
    least its integer digits + 2 significant digits (the values are read with sqlite3, not the CLI)."""
    with sqlite3.connect(bundled_bn_db) as conn:
        lo, hi = conn.execute("SELECT MIN(energy_min_ev), MAX(energy_max_ev) FROM spectrum_overview").fetchone()
    out = cli("sql", "SELECT MIN(energy_min_ev), MAX(energy_max_ev) AS top FROM spectrum_overview",
              "--db", bundled_bn_db).stdout
    assert f"{lo:.2f}" in out, out
    digits = len(str(int(abs(hi)))) + 2
    assert f"{hi:.{max(4, digits)}g}" in out and "e+" not in out, out
