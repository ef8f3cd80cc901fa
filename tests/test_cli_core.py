"""The first CLI commands, end to end: init, import, list, show."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import EXAMPLE_SET, ROOT


def test_init_import_list_show_round(cli, tmp_path):
    path = tmp_path / "cli.db"
    assert "created database" in cli("init", "--db", path).stdout
    assert "is up to date" in cli("init", "--db", path).stdout
    first = cli("import", EXAMPLE_SET, "--db", path)
    assert first.exit_code == 0, first.output
    assert "imported set 'example-hbn': 2 entries, 3 spectra" in first.stdout
    again = cli("import", EXAMPLE_SET, "--db", path)
    assert "already imported: nothing changed" in again.stdout

    listed = json.loads(cli("list", "--db", path, "--format", "json").stdout)
    assert [r["polarization"] for r in listed] == ["iso", "z", "iso"]
    assert {r["defect_name"] for r in listed} == {None, "v_N"}
    ids = cli("list", "--db", path, "--format", "ids").stdout.split()
    assert ids == [str(r["spectrum_id"]) for r in listed]
    csv_lines = cli("list", "--db", path, "--format", "csv", "--edge", "L3").stdout.splitlines()
    assert csv_lines[0].startswith("spectrum_id,") and len(csv_lines) == 1  # a header, so readers see columns
    cut = cli("list", "--db", path, "--limit", "2", "--format", "ids")
    assert cut.stdout.split() == ids[:2] and "showing 2 of 3 spectra" in cut.stderr
    assert "showing" not in cli("list", "--db", path, "--limit", "3").stderr

    spectrum = json.loads(cli("show", ids[-1], "--db", path, "--format", "json").stdout)
    assert spectrum["defect_name"] == "v_N" and len(spectrum["energy_ev"]) == spectrum["n_points"]
    structure = json.loads(cli("show", f"structure:{spectrum['structure_id']}", "--db", path, "-f", "json").stdout)
    assert structure["reduced_formula"] == "B8N7" and int(ids[-1]) in structure["spectrum_ids"]
    assert structure["defects"][0]["name"] == "v_N"
    table = cli("show", ids[0], "--db", path).stdout
    assert "hexagonal" in table and "P6_3/mmc" in table


def test_unknown_id_is_a_one_line_error(cli, sqlite_db):
    result = cli("show", "structure:999", "--db", sqlite_db)
    assert result.exit_code == 2 and result.stderr.strip() == "error: no structure with id 999"
    result = cli("show", "molecule:1", "--db", sqlite_db)
    assert result.exit_code == 2 and "unknown record kind 'molecule'" in result.stderr


def test_help_does_not_import_heavy_libraries():
    code = ("import sys, runpy; sys.argv=['xasrepo','--help']\n"
            "from cli.main import app\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('umap','numba','pymatgen','sklearn','pyarrow','matplotlib','sqlalchemy') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout
    assert "HEAVY []" in out, out


def test_every_command_has_help_and_a_db_option():
    from typer.main import get_command

    from cli.main import app

    group = get_command(app)

    def walk(command, prefix=()):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, prefix + (name,))
        else:
            yield prefix, command

    for path, command in walk(group):
        assert (command.help or "").strip(), f"xasrepo {' '.join(path)} has no help"
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert "--db" in options, f"xasrepo {' '.join(path)} has no --db option"


@pytest.mark.parametrize("args, names", [
    (["embed", "--method", "tsne"], ["xasrepo embed", "--method", "'tsne' is not one of"]),
    (["list", "--limit", "many"], ["xasrepo list", "--limit"]),
    (["project", "--shift", "abc"], ["xasrepo project", "--shift"]),
    (["snapshots", "nosuch"], ["xasrepo snapshots", "nosuch"]),
    (["--bogus"], ["xasrepo", "--bogus"]),
    (["show", "1", "--format", "csv"], ["xasrepo show", "--format", "'table', 'json'"]),  # one record: no CSV
    (["snapshots", "show", "1", "-f", "ids"], ["xasrepo snapshots show", "--format"]),
    (["nosuchcommand"], ["nosuchcommand"]),
])
def test_bad_options_are_one_line_errors_with_exit_code_2(cli, args, names):
    result = cli(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(name in lines[0] for name in names), lines[0]
    assert "Value error" not in lines[0] and "╭" not in result.stderr


def test_a_file_that_is_not_a_database_is_a_one_line_error(cli, tmp_path):
    junk = tmp_path / "notes.db"
    junk.write_text("these are my notes, not a database\n")
    for command in (["list"], ["init"], ["import", EXAMPLE_SET]):
        result = cli(*command, "--db", junk)
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == f"error: database {junk}: not an SQLite database file"
    assert junk.read_text() == "these are my notes, not a database\n"


def test_an_unreachable_server_is_a_one_line_error(cli):
    # port 9 (discard) on localhost: nothing listens there on a test machine
    result = cli("list", "--db", "postgresql://nobody@127.0.0.1:9/none")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: database postgresql") and "cannot be opened" in lines[0]


def test_version_is_the_one_in_pyproject(cli):
    """`xasrepo --version` prints the installed version (pyproject's), exit code 0 (a newcomer's
    first command; it used to be "No such option", exit 2)."""
    import tomllib

    from .conftest import ROOT

    want = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"xasrepo {want}"
