"""Filters run against real databases (SQLite and PostgreSQL): every operator agrees with a
plain-Python reading of the overview rows, NOT is a complement, sort/limit, injection attempts,
the CLI formats, and the snapshot_points view."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import EXAMPLE_SET, analyst_url, file_digest, postgres_database

HEADLINE = ("element = B and edge = K and crystal_system = hexagonal and defect.name = v_N "
            "and absorber.defect_distance < 3")

EXTRA_ENTRIES = '''
[[entries]]
key = "hBN-221-vN/B4"
structure = "structures/hBN_221_vN.json"
polymorph = "h-BN"
relaxation = "none"

[entries.defect]
kind = "vacancy"
name = "v_N"
species = "N"
charge = 0
supercell = [2, 2, 1]
position_frac = [0.333333, 0.166667, 0.25]
host_structure = "structures/hBN_prim.cif"

[entries.absorber]
site_index = 4
element = "B"

[entries.calculation]
alignment_shift_ev = 188.7

[[entries.spectra]]
file = "spectra/vN_B4_iso.dat"
edge = "K"

[[entries]]
key = "hBN-221/N8"
structure = "structures/POSCAR_hBN_221"
polymorph = "h-BN"
relaxation = "none"

[entries.absorber]
site_index = 8
element = "N"
multiplicity = 8

[entries.calculation]
functional = "LDA"
alignment_shift_ev = 401.5

[[entries.spectra]]
file = "spectra/hBN_N8_x.dat"
edge = "K"
type = "XANES"
polarization = "x"

[[entries.descriptors]]
name = "bader_charge"
value = -2.1
unit = "e"
method = "Bader, GPAW ground state"
site_index = 8
'''


def write_richer_calcset(target: Path) -> Path:
    """The example set plus a v_N entry whose B absorber sits ~3.3 Å from the vacancy and an N K-edge
    entry (LDA, x polarization, a Bader charge): five spectra that tell the filters apart."""
    shutil.copytree(EXAMPLE_SET, target)
    spectra = target / "spectra"
    lines = (spectra / "vN_B_iso.dat").read_text().splitlines()
    header, rows = lines[0], [line.split() for line in lines[1:] if line.strip()]
    (spectra / "vN_B4_iso.dat").write_text(
        "\n".join([header] + [f"{e} {float(i) * 0.9:.6g}" for e, i in rows]) + "\n")
    (spectra / "hBN_N8_x.dat").write_text(
        "\n".join([header] + [f"{float(e) + 215.0:.6g} {i}" for e, i in rows]) + "\n")
    toml = target / "calcset.toml"
    toml.write_text(toml.read_text() + EXTRA_ENTRIES)
    return target


def populate(url: str, workdir: Path) -> None:
    from repository import db
    from repository.calcset import read_calcset
    from repository.importer import import_calcset

    db.upgrade(url)
    engine = db.connect(url)
    try:
        import_calcset(engine, read_calcset(write_richer_calcset(workdir / "calcset")))
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def populated(request, tmp_path_factory):
    """(url, engine) of a database holding the five-spectrum set, shared by the module's tests."""
    from repository import db

    workdir = tmp_path_factory.mktemp("query")
    if request.param == "sqlite":
        url = str(workdir / "query.db")
        populate(url, workdir)
        engine = db.connect(url, read_only=True)
        yield url, engine
        engine.dispose()
        return
    with postgres_database() as url:
        populate(url, workdir)
        engine = db.connect(url, read_only=True)
        yield url, engine
        engine.dispose()


@pytest.fixture(scope="module")
def rows(populated):
    from repository.query import query_spectra

    return query_spectra(populated[1], None, columns="*")


def ids_where(rows, predicate) -> list[int]:
    return [r["spectrum_id"] for r in rows if predicate(r)]


def test_the_five_spectra_tell_the_filters_apart(rows):
    assert len(rows) == 5
    distances = [r["absorber_defect_distance_a"] for r in rows if r["defect_name"] == "v_N"]
    assert min(distances) < 3 < max(distances), "one v_N absorber must be near the vacancy and one far"


def test_headline_query_finds_b_k_edges_of_hbn_within_3_angstrom_of_a_nitrogen_vacancy(populated, rows):
    from repository.query import spectrum_ids

    expected = ids_where(rows, lambda r: r["absorbing_element"] == "B" and r["edge"] == "K"
                         and r["crystal_system"] == "hexagonal" and r["defect_name"] == "v_N"
                         and r["absorber_defect_distance_a"] is not None and r["absorber_defect_distance_a"] < 3)
    assert expected and spectrum_ids(populated[1], HEADLINE) == expected


def _dist(r):
    return r["absorber_defect_distance_a"]


ORACLES = [
    ("element = B", lambda r: r["absorbing_element"] == "B"),
    ("element == n", lambda r: r["absorbing_element"] == "N"),
    ("defect.name != v_N", lambda r: r["defect_name"] is not None and r["defect_name"] != "v_N"),
    ("absorber.cn <> 3", lambda r: r["absorber_cn"] != 3),
    ("absorber.defect_distance < 3", lambda r: _dist(r) is not None and _dist(r) < 3),
    ("absorber.defect_distance <= 3.33", lambda r: _dist(r) is not None and _dist(r) <= 3.33),
    ("absorber.defect_distance > 1.5", lambda r: _dist(r) is not None and _dist(r) > 1.5),
    ("absorber.cn >= 3", lambda r: r["absorber_cn"] >= 3),
    ("polarization in (x, z)", lambda r: r["polarization"] in ("x", "z")),
    ("polarization not in ('x', 'z')", lambda r: r["polarization"] not in ("x", "z")),
    ("spacegroup in (187)", lambda r: r["spacegroup_number"] == 187),
    ("chemical_formula_reduced like 'b%n7'", lambda r: r["reduced_formula"].lower().startswith("b")
     and r["reduced_formula"].lower().endswith("n7")),
    ("formula not like 'BN'", lambda r: r["reduced_formula"].lower() != "bn"),
    ("spacegroup_symbol contains '6_3'", lambda r: "6_3" in r["spacegroup_symbol"]),
    ("spacegroup_symbol contains 'MMC'", lambda r: "MMC" in r["spacegroup_symbol"]),
    ("formula starts with B8", lambda r: r["reduced_formula"].startswith("B8")),
    ("structure.spacegroup_symbol ends with mc", lambda r: r["spacegroup_symbol"].endswith("mc")),
    ('elements HAS ALL "B","N"', lambda r: {"B", "N"} <= set(r["elements"].split(","))),
    ('elements HAS ANY "C","N"', lambda r: bool({"C", "N"} & set(r["elements"].split(",")))),
    ('elements has only "B","N","C"', lambda r: set(r["elements"].split(",")) <= {"B", "N", "C"}),
    ('elements has only "B"', lambda r: set(r["elements"].split(",")) <= {"B"}),
    ("elements has C", lambda r: "C" in r["elements"].split(",")),
    ("nelements = 2 and dimensionality = 2", lambda r: r["nelements"] == 2 and r["dimensionality"] == 2),
    ("defect.name is unknown", lambda r: r["defect_name"] is None),
    ("defect.name is known", lambda r: r["defect_name"] is not None),
    ("bader_charge is not null", lambda r: r["bader_charge"] is not None),
    ("hirshfeld_charge is null", lambda r: r["hirshfeld_charge"] is None),
    ("sigma_charge_transfer < 0", lambda r: r["sigma_charge_transfer"] is not None and r["sigma_charge_transfer"] < 0),
    ("calculation.functional = LDA or absorber.cn = 2", lambda r: r["functional"] == "LDA" or r["absorber_cn"] == 2),
    ("element = B and (polarization = z or defect.kind = vacancy)",
     lambda r: r["absorbing_element"] == "B" and (r["polarization"] == "z" or r["defect_kind"] == "vacancy")),
    ("(element = B and polarization = z) or defect.kind = vacancy",
     lambda r: (r["absorbing_element"] == "B" and r["polarization"] == "z") or r["defect_kind"] == "vacancy"),
    ("not defect.name = v_N", lambda r: r["defect_name"] != "v_N"),
    ("NOT (element = B AND absorber.defect_distance > 3)",
     lambda r: not (r["absorbing_element"] == "B" and _dist(r) is not None and _dist(r) > 3)),
    # closed vocabularies are matched as they spell their values, whatever the case typed (like k -> K)
    ("edge = k and spectrum.type = xanes", lambda r: r["edge"] == "K" and r["spectrum_type"] == "XANES"),
    ("defect.kind = none", lambda r: r["defect_kind"] == "none"),
    ("set = 'example-hbn' and absorber.multiplicity = 8", lambda r: r["absorber_multiplicity"] == 8),
]


@pytest.mark.parametrize("text, predicate", ORACLES, ids=[o[0] for o in ORACLES])
def test_every_operator_selects_what_python_selects_from_the_same_rows(populated, rows, text, predicate):
    from repository.query import spectrum_ids

    assert spectrum_ids(populated[1], text) == ids_where(rows, predicate)


@pytest.mark.parametrize("text", ["defect.name = v_N", "absorber.defect_distance < 3", "bader_charge < 0",
                                  "polarization in (x, z)", "formula like 'b8%'", 'elements has only "B"'])
def test_not_is_the_exact_complement_even_where_values_are_unknown(populated, rows, text):
    from repository.query import spectrum_ids

    yes, no = set(spectrum_ids(populated[1], text)), set(spectrum_ids(populated[1], f"not ({text})"))
    assert not yes & no and yes | no == {r["spectrum_id"] for r in rows}


def test_sort_puts_unknown_values_last_and_breaks_ties_by_id(populated, rows):
    from repository.query import spectrum_ids

    def key(desc):
        return lambda r: (_dist(r) is None, -(_dist(r) or 0) if desc else (_dist(r) or 0), r["spectrum_id"])

    assert spectrum_ids(populated[1], None, sort="absorber.defect_distance") == \
        [r["spectrum_id"] for r in sorted(rows, key=key(False))]
    assert spectrum_ids(populated[1], None, sort="absorber.defect_distance:desc") == \
        [r["spectrum_id"] for r in sorted(rows, key=key(True))]
    assert spectrum_ids(populated[1], "element = B", sort="absorber.cn:desc,spectrum_id:desc", limit=2) == \
        [r["spectrum_id"] for r in sorted((r for r in rows if r["absorbing_element"] == "B"),
                                          key=lambda r: (-r["absorber_cn"], -r["spectrum_id"]))][:2]


def test_query_spectra_returns_requested_columns_by_canonical_name(populated):
    from repository.query import query_spectra

    result = query_spectra(populated[1], "defect.name = v_N", columns=["absorber.cn", "defect.name"])
    assert result and all(set(r) == {"absorber_cn", "defect_name"} for r in result)
    default = query_spectra(populated[1], "bader_charge < 0", sort="nsites")
    assert {"spectrum_id", "bader_charge", "nsites"} <= set(default[0])


INJECTIONS = [
    "defect.name = \"v_N' OR '1'='1\"",
    "defect.name = 'x\\'; DROP TABLE spectrum; --'",
    "formula like \"%' OR 1=1 --\"",
    "element in ('B'' OR ''1''=''1', \"N); DELETE FROM spectrum; --\")",
    "elements has 'B,N'",
    "sample.name = \"'); DROP TABLE structure; --\"",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_attempts_match_nothing_and_change_nothing(populated, text):
    from repository.catalog import count_rows
    from repository.query import FilterError, spectrum_ids

    url, engine = populated
    before = (count_rows(engine), file_digest(Path(url)) if "://" not in url else "")
    try:
        assert spectrum_ids(engine, text) == []
    except FilterError as err:
        assert "\n" not in str(err)
    assert (count_rows(engine), file_digest(Path(url)) if "://" not in url else "") == before


@pytest.mark.parametrize("text", ["spectrum_id; DROP TABLE spectrum = 1", "spectrum_id = 1; DROP TABLE spectrum",
                                  "1 = 1", "spectrum_id = 1 or 1 = 1", "spectrum_id = (select 1)",
                                  "\"spectrum_id\" = 1", "sort_by = 1 -- comment"])
def test_sql_in_field_positions_is_a_filter_error(populated, text):
    from repository.query import FilterError, spectrum_ids

    with pytest.raises(FilterError):
        spectrum_ids(populated[1], text)


def test_sort_accepts_only_allowlisted_fields(populated):
    from repository.query import FilterError, spectrum_ids

    with pytest.raises(FilterError, match="valid fields"):
        spectrum_ids(populated[1], None, sort="spectrum_id; DROP TABLE spectrum")
    with pytest.raises(FilterError, match="sort direction"):
        spectrum_ids(populated[1], None, sort="spectrum_id:sideways")


def test_query_cli_prints_ids_json_csv_and_a_table(cli, populated, rows):
    import csv
    import io

    url = populated[0]
    expected = ids_where(rows, lambda r: r["absorbing_element"] == "B")
    result = cli("query", "element = B", "--db", url, "--format", "ids")
    assert result.exit_code == 0 and [int(x) for x in result.stdout.split()] == expected
    result = cli("query", "element = B", "--db", url, "--format", "json", "--sort", "spectrum_id:desc", "--limit", "2")
    assert [r["spectrum_id"] for r in json.loads(result.stdout)] == sorted(expected, reverse=True)[:2]
    result = cli("query", "element = B", "--db", url, "--format", "csv", "--columns", "id,absorber.cn")
    parsed = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [int(r["spectrum_id"]) for r in parsed] == expected and set(parsed[0]) == {"spectrum_id", "absorber_cn"}
    result = cli("query", HEADLINE, "--db", url)
    assert result.exit_code == 0 and "v_N" in result.stdout and "1 spectrum" in result.stdout


@pytest.mark.parametrize("text, expected", [
    ("defect.nme = v_N", "unknown field 'defect.nme' (did you mean defect.name?); valid fields: spectrum_id,"),
    ("absorber.cn = three", "absorber_cn expects an integer"),
    ("element = B and", "filter syntax error"),
])
def test_query_cli_errors_are_one_line_with_exit_code_2(cli, populated, text, expected):
    result = cli("query", text, "--db", populated[0])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and expected in result.stderr


def test_fields_lists_every_field_with_its_type_and_values_in_the_database(cli, populated):
    from repository.query import FIELDS

    result = cli("fields", "--db", populated[0], "--format", "json")
    listed = {r["field"]: r for r in json.loads(result.stdout)}
    assert list(listed) == [f.name for f in FIELDS]
    assert listed["absorber_cn"]["type"] == "integer" and "absorber.cn" in listed["absorber_cn"]["aliases"]
    assert "v_N" in listed["defect_name"]["values"]


def test_snapshot_points_view_joins_coordinates_with_the_overview(populated, tmp_path):
    from repository import db
    from repository.analysis.create import create_snapshot
    from repository.query import run_sql

    url = populated[0]
    engine = db.connect(url)
    try:
        result = create_snapshot(engine, method="pca", element="B", edge="K", directory=tmp_path)
    finally:
        engine.dispose()
    uid = result.record["uid"]
    url = analyst_url(url)
    _, points = run_sql(url, "SELECT snapshot_uid, spectrum_id, x, y, defect_name, absorber_cn "
                                   f"FROM snapshot_points WHERE snapshot_uid = '{uid}' ORDER BY spectrum_id")
    # embed keeps the iso curves when the selection does not name a polarisation
    _, overview = run_sql(url, "SELECT spectrum_id, defect_name, absorber_cn FROM spectrum_overview "
                               "WHERE absorbing_element = 'B' AND edge = 'K' AND polarization = 'iso' "
                               "ORDER BY spectrum_id")
    assert [(p[1], p[4], p[5]) for p in points] == overview
    assert all(isinstance(p[2], float) and isinstance(p[3], float) for p in points)


def test_downgrading_below_0004_drops_the_snapshot_points_view_and_upgrading_restores_it(any_db):
    from repository import db
    from repository.query import run_sql

    db.downgrade(any_db, "0003_snapshots")
    with pytest.raises(Exception, match="snapshot_points"):
        engine = db.make_engine(db.resolve_url(any_db))
        try:
            with engine.connect() as conn:
                from sqlalchemy import text

                conn.execute(text("SELECT * FROM snapshot_points"))
        finally:
            engine.dispose()
    db.upgrade(any_db)
    assert run_sql(analyst_url(any_db), "SELECT count(*) FROM snapshot_points") == (["count(*)"] if "://" not in any_db
                                                                        else ["count"], [(0,)])


def test_a_read_only_connection_streams_the_matrix_and_still_refuses_writes(populated):
    """The loader streams rows through a server-side cursor on PostgreSQL; the read-only 'begin'
    hook must not go through it (it did: the server got ``DECLARE ... CURSOR FOR SET TRANSACTION
    READ ONLY``, a syntax-error traceback). Writes stay refused on the same engine."""
    import sqlalchemy

    from repository.analysis.load import load_matrix

    _url, engine = populated
    ids, _energy, matrix = load_matrix(engine, element="B", edge="K")
    assert matrix.shape[0] == len(ids) > 0 and np.isfinite(matrix).all()
    with pytest.raises(sqlalchemy.exc.DBAPIError):
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM spectrum")
