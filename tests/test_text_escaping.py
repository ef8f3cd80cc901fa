"""Stored text is never interpreted by what shows it (issue 17): rich markup, terminal escape
sequences, Unicode line separators and HTML fragments in metadata come back unchanged from JSON
and CSV, show literally (controls made visible) in tables, cannot forge XDI header lines, and
cannot break the explorer page. Also: a database path with #, ? and % is one file for every command."""

import csv
import io
import json
import re

import numpy as np
import pandas as pd
import pytest

from cli.output import visible

MARKUP = "LiFePO4 [charged] [/] [bold]x[/bold]"
ESCAPES = "\x1b[31mred\x1b]0;title\x07 \x9b2J"
SEPARATORS = ["\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def _xdi(path, sample="plain"):
    energy = np.linspace(7050.0, 7300.0, 60)
    mu = 1 / (1 + np.exp(-(energy - 7112.0) / 3.0))
    lines = ["# XDI/1.0", "# Element.symbol: Fe", "# Element.edge: K", "# Column.1: energy eV",
             "# Column.2: mutrans", f"# Sample.name: {sample}", "#----", "# energy mutrans"]
    lines += [f"{e:.3f} {m:.6f}" for e, m in zip(energy, mu)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def stored(tmp_path, cli):
    """A database with one Fe K spectrum whose sample name holds markup and escape sequences."""
    database = tmp_path / "t.db"
    assert cli("init", "--db", database).exit_code == 0
    name = f"{MARKUP} {ESCAPES}"
    result = cli("import", _xdi(tmp_path / "fe.xdi"), "--db", database, "--sample", name)
    assert result.exit_code == 0, result.output
    return database, name


def test_visible_escapes_every_control_format_and_line_separator_character():
    assert visible("a\x1b[31mb") == "a\\x1b[31mb"
    assert visible("x\u2028y\u202ez\u200b") == "x\\u2028y\\u202ez\\u200b"
    assert visible("tab\there\nnext") == "tab\\there\\nnext"
    assert visible("LiFePO4 [charged] é 硼") == "LiFePO4 [charged] é 硼"


def test_markup_and_escape_sequences_show_literally_in_every_table(stored, cli):
    database, name = stored
    for args in (("list",), ("show", "1"), ("query", "element = Fe", "--columns", "sample_name"),
                 ("sql", "SELECT sample_name FROM spectrum")):
        result = cli(*args, "--db", database)
        assert result.exit_code == 0, (args, result.output)
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout and "\x9b" not in result.stdout
    shown = cli("show", "1", "--db", database).stdout
    assert MARKUP in shown and "\\x1b[31mred\\x1b]0;title\\x07 \\x9b2J" in shown
    assert MARKUP in cli("sql", "SELECT sample_name FROM spectrum", "--db", database).stdout


def test_json_and_csv_give_the_stored_value_exactly(stored, cli):
    database, name = stored
    rows = json.loads(cli("sql", "SELECT sample_name FROM spectrum", "-f", "json", "--db", database).stdout)
    assert rows == [{"sample_name": name}]
    listed = json.loads(cli("list", "-f", "json", "--db", database).stdout)
    assert listed[0]["sample_name"] == name
    text = cli("query", "element = Fe", "--columns", "sample_name", "-f", "csv", "--db", database).stdout
    assert list(csv.DictReader(io.StringIO(text)))[0]["sample_name"] == name


@pytest.mark.parametrize("separator", SEPARATORS, ids=[f"U+{ord(s):04X}" for s in SEPARATORS])
def test_a_line_separator_in_a_sample_name_cannot_forge_xdi_header_lines(tmp_path, cli, separator):
    database = tmp_path / "t.db"
    cli("init", "--db", database)
    forged = f"innocent{separator}# Element.symbol: Cu{separator}# Element.edge: L3"
    assert cli("import", _xdi(tmp_path / "fe.xdi"), "--db", database, "--sample", forged).exit_code == 0
    out = tmp_path / "out"
    assert cli("export", "1", "--db", database, "-o", out).exit_code == 0
    (written,) = out.glob("*.xdi")
    header = written.read_text(encoding="utf-8").split("#----")[0]
    lines = header.splitlines()
    assert [line for line in lines if line.lstrip("# ").startswith("Element.")] == ["# Element.edge: K", "# Element.symbol: Fe"]
    again = tmp_path / "again.db"
    cli("init", "--db", again)
    assert cli("import", written, "--db", again).exit_code == 0
    rows = json.loads(cli("sql", "SELECT absorbing_element, edge, sample_name FROM spectrum", "-f", "json",
                          "--db", again).stdout)
    assert rows[0]["absorbing_element"] == "Fe" and rows[0]["edge"] == "K"
    assert rows[0]["sample_name"] == "innocent # Element.symbol: Cu # Element.edge: L3"


def test_html_in_metadata_cannot_end_the_explorer_script_or_comment_it_out(tmp_path):
    from repository.plots.explorer import write_explorer

    hostile = ['</script><script>alert(1)</script>', '<!--<script>', "a & b > c", "</SCRIPT >"]
    frame = pd.DataFrame({"spectrum_id": [1, 2, 3, 4], "x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 0.0, 1.0, 0.0],
                          "sample_name": hostile})
    page = write_explorer(frame, tmp_path / "e.html", title="t").read_text()
    match = re.search(r'<script type="application/json" id="xr-data">(.*?)</script>', page, re.S)
    data = match.group(1)
    assert "<" not in data and ">" not in data and "&" not in data
    assert json.loads(data)["columns"]["sample_name"] == hostile
    assert page.count("<!--") == 0


@pytest.mark.parametrize("name", ["a#b.db", "q?x=1.db", "p%20c.db", "all #?%41 of them.db"])
def test_a_database_path_with_hash_question_mark_or_percent_is_one_file_for_every_command(tmp_path, cli,
                                                                                         monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    assert cli("init", "--db", name).exit_code == 0
    assert cli("import", _xdi(tmp_path / "fe.xdi"), "--db", name).exit_code == 0
    assert _files(tmp_path, name) == sorted([name, "fe.xdi"])
    assert json.loads(cli("list", "-f", "json", "--db", name).stdout)[0]["absorbing_element"] == "Fe"
    assert cli("query", "element = Fe", "-f", "ids", "--db", name).stdout == "1\n"
    assert cli("sql", "SELECT count(*) AS n FROM spectrum", "-f", "csv", "--db", name).stdout == "n\n1\n"
    assert _files(tmp_path, name) == sorted([name, "fe.xdi"])


def _files(folder, name):
    """Files in ``folder`` but SQLite's own -wal/-shm beside the database (a reader of a WAL
    database may leave them; that is not a stray file of a misparsed path)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in (f"{name}-wal", f"{name}-shm"))
