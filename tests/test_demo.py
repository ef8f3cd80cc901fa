"""`xasrepo demo`: database, UMAP/PCA/MDS snapshots and plots from a calculation set, idempotent."""

from __future__ import annotations

import json
import sys

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))


@pytest.mark.slow
def test_demo_builds_database_snapshots_and_plots_and_reuses_them(tmp_path, cli):
    from import_calcset import generate  # SYNTHETIC spectra on c-BN supercells

    generate(tmp_path / "set", n_structures=6, sites_per_structure=4, n_points=120)
    out = tmp_path / "demo"
    first = cli("demo", "--out", out, "--data", tmp_path / "set")
    assert first.exit_code == 0, first.output
    assert "imported: 24 spectra" in first.stdout
    # the synthetic spectra start at 185 eV, inside the 184-201 eV B K window: the demo says so
    assert "padded     B K: 24 of 24 spectra padded" in first.stdout, first.stdout
    pngs = sorted((out / "plots").glob("*.png"))
    # umap, pca, mds x defect_kind, dimensionality: the synthetic set has no polymorph labels, and
    # a plot of 24 "n/a" points would look like a result; the summary says why it is missing
    assert len(pngs) == 3 * 2 and not any("polymorph" in p.name for p in pngs)
    assert "skipped    B K plots by polymorph: no spectrum has a polymorph" in first.stdout, first.stdout
    assert all(p.stat().st_size > 10_000 for p in pngs)
    assert len(list((out / "xasrepo.snapshots").glob("*.parquet"))) == 3

    again = cli("demo", "--out", out, "--data", tmp_path / "set")
    assert again.exit_code == 0, again.output
    assert again.stdout.count("(reused)") == 3
    assert "unchanged" in again.stdout
    assert len(list((out / "xasrepo.snapshots").glob("*.parquet"))) == 3


def test_demo_without_a_data_set_says_what_to_do(tmp_path, cli):
    result = cli("demo", "--out", tmp_path / "demo", "--data", tmp_path / "nothing")
    assert result.exit_code == 2
    assert "no bundled data set at" in result.stderr and "calcset.toml missing" in result.stderr


@pytest.fixture
def small_set(tmp_path):
    from import_calcset import generate  # SYNTHETIC spectra on c-BN supercells

    generate(tmp_path / "set", n_structures=3, sites_per_structure=4, n_points=60)
    return tmp_path / "set"


@pytest.fixture
def pca_only(monkeypatch):
    """The demo with PCA and one colouring only: fast, no numba compilation."""
    from repository import demo

    monkeypatch.setattr(demo, "DEMO_METHODS", ("pca",))
    monkeypatch.setattr(demo, "COLOR_BY", ("dimensionality",))
    monkeypatch.delenv("XASREPO_SNAPSHOT_DIR", raising=False)


def test_demo_snapshots_go_where_later_commands_put_theirs_and_the_summary_shows_relative_paths(
        tmp_path, small_set, pca_only, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    result = cli("demo", "--out", "xasrepo-demo", "--data", small_set)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "xasrepo-demo" / "xasrepo.snapshots"  # <database stem>.snapshots/ beside the db
    assert len(list(folder.glob("*.parquet"))) == 1
    assert not (tmp_path / "xasrepo-demo" / "snapshots").exists()
    lines = result.stdout.splitlines()
    assert lines[0].startswith("database   xasrepo-demo/xasrepo.db  (imported: 12 spectra")
    assert "snapshots  xasrepo-demo/xasrepo.snapshots" in lines
    assert any(line.startswith("plots      xasrepo-demo/plots  (1 PNG files)") for line in lines)
    assert "--db xasrepo-demo/xasrepo.db" in result.stdout and str(tmp_path) not in result.stdout

    # a later embed on the demo's database adds to the same folder (what docs/sql.md's DuckDB glob reads)
    later = cli("embed", "--method", "pca", "--force", "--db", "xasrepo-demo/xasrepo.db", "--format", "json")
    assert later.exit_code == 0, later.output
    assert len(list(folder.glob("*.parquet"))) == 2


def test_demo_outside_the_current_directory_shows_absolute_paths(tmp_path, small_set, pca_only, monkeypatch, cli):
    here = tmp_path / "elsewhere"
    here.mkdir()
    monkeypatch.chdir(here)
    out = tmp_path / "demo"
    result = cli("demo", "--out", out, "--data", small_set)
    assert result.exit_code == 0, result.output
    assert f"database   {out / 'xasrepo.db'}  (" in result.stdout
    assert f"snapshots  {out / 'xasrepo.snapshots'}\n" in result.stdout
    assert f"plots      {out / 'plots'}  (" in result.stdout


def test_the_next_hint_names_the_command_as_the_user_can_run_it(tmp_path, small_set, pca_only, monkeypatch, cli):
    from cli.commands_demo import command_name

    script = tmp_path / ".venv" / "bin" / "xasrepo"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")
    # after ./run demo: .venv/bin/xasrepo is running and not on the PATH
    monkeypatch.setattr(sys, "argv", [".venv/bin/xasrepo", "demo"])
    result = cli("demo", "--out", "d", "--data", small_set)
    assert result.exit_code == 0, result.output
    # the synthetic set has no defect and no polymorph: the hint's filter is one that finds its spectra
    assert "next       .venv/bin/xasrepo query 'polarization = iso' --db d/xasrepo.db\n" in result.stdout
    assert "           .venv/bin/xasrepo explore " in result.stdout
    assert command_name(str(script)) == ".venv/bin/xasrepo"  # an absolute argv[0] inside the cwd
    monkeypatch.chdir(script.parent)
    assert command_name("xasrepo") == "./xasrepo"
    # on the PATH (an activated venv, pipx...): the bare name
    monkeypatch.setenv("PATH", str(script.parent))
    assert command_name(str(script)) == "xasrepo"
    # not a console script (python -m cli.main, a test runner): the bare name
    assert command_name(str(tmp_path / "main.py")) == "xasrepo"


def test_the_next_hint_queries_what_the_database_holds(tmp_path, bundled_bn_db, cli):
    """The hint's filter finds spectra: a defect kind the database holds, else its commonest polymorph
    (the v2 set had no vacancy spectra when it became the bundled set), else every isotropic one."""
    import shutil

    from repository import db
    from repository.demo import example_query

    url = str(tmp_path / "bn.db")
    shutil.copy(bundled_bn_db, url)
    hints = []
    for change in (None, "SET kind = 'substitution' WHERE kind = 'vacancy'", "SET kind = 'interstitial'"):
        with db.connected(url) as engine:
            if change:      # without vacancies: the next kind the database holds; without any: a polymorph
                with engine.begin() as conn:
                    conn.exec_driver_sql(f"UPDATE defect {change}")
            hints.append(example_query(engine))
        found = cli("query", hints[-1], "--db", url, "--format", "json")
        assert found.exit_code == 0 and json.loads(found.stdout), (hints[-1], found.output)
    assert hints == ["defect.kind = vacancy", "defect.kind = substitution", 'polymorph = "h-BN"']


def test_the_demo_of_one_set_has_no_note_and_names_a_second_set_in_its_database(tmp_path, small_set, pca_only):
    """The demo embeds one calculation set: no note. Built into a database that already holds
    another set, it embeds both and says so (repository.analysis.create.selection_note)."""
    from repository import db
    from repository.calcset import read_calcset
    from repository.demo import run_demo
    from repository.importer import import_calcset

    from .conftest import EXAMPLE_SET

    alone = run_demo(tmp_path / "alone", small_set)
    assert alone.snapshots and alone.notes == []
    shared = str(tmp_path / "shared.db")
    db.upgrade(shared)
    with db.connected(shared) as engine:
        import_calcset(engine, read_calcset(EXAMPLE_SET))
    mixed = run_demo(tmp_path / "mixed", small_set, db=shared)
    names = {read_calcset(EXAMPLE_SET).name, read_calcset(small_set).name}
    assert len(mixed.notes) == 1 and all(f"{name} (" in mixed.notes[0] for name in names), mixed.notes


def test_display_path_is_relative_inside_the_current_directory_else_absolute(tmp_path):
    from repository.demo import display_path

    assert display_path(tmp_path / "a" / "b.db", cwd=tmp_path) == "a/b.db"
    assert display_path(tmp_path, cwd=tmp_path) == "."
    assert display_path(tmp_path / "b.db", cwd=tmp_path / "a") == str((tmp_path / "b.db").resolve())


@pytest.mark.slow
def test_demo_reports_how_many_spectra_the_window_pads_and_by_how_much(tmp_path, pca_only):
    """The default B K window (184-201 eV) pads every monolayer spectrum (they end at 196.8-198.4 eV)
    and two bulk h-BN ones at its end (v1, data/bn), and the spectra that start above 184 eV at its start: the demo
    says how many and the longest padding, checked here against the stored energies themselves."""
    import re

    import numpy as np

    from repository import db
    from repository.analysis.project import query_from_database
    from repository.demo import run_demo

    # v1 by name: its monolayer spectra end inside the window (v2's reach +20 eV), so both counts of
    # the padding line are exercised
    v1 = ROOT / "data" / "bn"
    if not (v1 / "calcset.toml").exists():
        pytest.skip("the v1 BN set (data/bn) is absent")
    result = run_demo(tmp_path / "demo", v1)
    lines = {line.split(":")[0]: line for line in result.padding}
    assert len(result.padding) == len(lines)  # one line per element and edge, not per method
    with db.connected(str(result.database_file)) as engine:
        with engine.connect() as conn:
            ids = [int(i) for (i,) in conn.exec_driver_sql(
                "SELECT id FROM spectrum WHERE absorbing_element = 'B' AND edge = 'K' AND polarization = 'iso'")]
        ends = np.array([[q.energy_ev[0], q.energy_ev[-1]] for q in (query_from_database(engine, i) for i in ids)])
    short_end = ends[:, 1] < 201.0
    short_start = ends[:, 0] > 184.0
    n_padded = int((short_end | short_start).sum())
    assert int(short_end.sum()) == 19  # the number `embed` warns about at the window's end
    line = lines["B K"]
    assert line.startswith(f"B K: {n_padded} of {len(ids)} spectra padded to the 184-201 eV window")
    end = re.search(r"(\d+) end inside it \(last value held constant for up to ([\d.]+) eV\)", line)
    assert int(end.group(1)) == 19
    assert float(end.group(2)) == pytest.approx(201.0 - ends[short_end, 1].min(), abs=0.05)
    assert 201.0 - 196.8 - 0.1 <= float(end.group(2)) <= 201.0 - 196.7  # the monolayers end at 196.75-198.4 eV
    start = re.search(r"(\d+) start inside it \(first value held constant for up to ([\d.]+) eV\)", line)
    assert int(start.group(1)) == int(short_start.sum())
    # the two counts overlap where a spectrum is short at both ends; the line says how many, so
    # that its numbers add up to the total (a newcomer: "19 + 71 is not 80")
    both = re.search(r"(\d+) of them at both ends", line)
    assert int(both.group(1)) == int((short_end & short_start).sum()) > 0
    assert int(end.group(1)) + int(start.group(1)) - int(both.group(1)) == n_padded
    assert float(start.group(2)) == pytest.approx(ends[short_start, 0].max() - 184.0, abs=0.05)
