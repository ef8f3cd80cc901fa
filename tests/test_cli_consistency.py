"""What a newcomer's trial (2026-11-30) found: wrong options accepted with exit 0, case handled
differently by each command, doubled or vague messages, help that disagreed with the code.

Each test names the behaviour a scientist relies on; every refusal is one line with exit code 2
and leaves the database as it was."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from repository import conventions
from repository.errors import UsageError

from .conftest import EXAMPLE_SET, ROOT, file_digest


def _one_line_error(result, *fragments: str) -> str:
    """The stderr of a refused command: exit code 2, one line, no traceback, each fragment in it."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return result.stderr


@pytest.fixture
def example_db(cli, tmp_path) -> str:
    """The example set (h-BN pristine and v_N, B K) in a fresh SQLite database."""
    path = str(tmp_path / "example.db")
    assert cli("init", "--db", path).exit_code == 0
    assert cli("import", EXAMPLE_SET, "--db", path).exit_code == 0
    return path


@pytest.fixture(scope="module")
def bn(bundled_bn_db, tmp_path_factory):
    """A copy of the bundled BN database with its PCA B K snapshot, and that snapshot's uid."""
    from repository import db
    from repository.snapshots.registry import list_snapshots

    folder = tmp_path_factory.mktemp("consistency") / "bn"
    shutil.copytree(Path(bundled_bn_db).parent, folder)  # the database and its snapshot folder beside it
    path = folder / "bn.db"
    with db.connected(str(path)) as engine:
        uid = list_snapshots(engine)[0]["uid"]
    return str(path), uid


def _bk_member(db_path: str) -> dict:
    """A stored B K spectrum (iso, h-BN) with its arrays."""
    from repository import catalog, db
    from repository.query import spectrum_ids

    with db.connected(db_path) as engine:
        first = spectrum_ids(engine, 'element = B and polymorph = "h-BN" and polarization = iso', limit=1)[0]
        return catalog.get_spectrum(engine, first)


# -- 1. options that disagree with the file -------------------------------------------------------

def test_project_refuses_a_file_stating_another_element_than_the_option(bn, cli, tmp_path):
    from repository.formats import write_spectrum

    db_path, uid = bn
    row = _bk_member(db_path)
    path = write_spectrum(row, tmp_path / "bk.xdi", "xdi")  # the file states Element.symbol B, edge K
    for align in ("none", "fit"):  # the energy check is off with fit: the stated element is still checked
        result = cli("project", path, "--snapshot", uid, "--db", db_path, "--element", "N", "--edge", "K",
                     "--align", align)
        _one_line_error(result, "bk.xdi", "states element B", "--element N")
    # the same element, in any case, is no disagreement: the member is found exactly
    result = cli("project", path, "--snapshot", uid, "--db", db_path, "--element", "b", "--edge", "k", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["neighbors"][0]["spectrum_id"] == row["spectrum_id"]


def test_project_options_for_a_stored_spectrum_are_refused_not_ignored(bn, cli):
    db_path, uid = bn
    row = _bk_member(db_path)
    result = cli("project", "--spectrum", row["spectrum_id"], "--snapshot", uid, "--db", db_path, "--element", "N")
    _one_line_error(result, "apply to FILE, not to --spectrum")


def _fe_columns(tmp_path):
    """A synthetic Fe K transmission scan (E, I0, I): an edge step at the tabulated 7112 eV."""
    energy = np.arange(7050.0, 7250.0, 1.0)
    mu = 0.3 + 1.0 / (1.0 + np.exp(-(energy - 7112.0) / 1.5))
    i0 = np.full_like(energy, 1.0e5)
    path = tmp_path / "fe.dat"
    np.savetxt(path, np.column_stack([energy, i0, i0 * np.exp(-mu)]), header="energy i0 itrans", comments="# ")
    return path


def test_a_misspelt_measurement_mode_is_refused_with_the_spelling_it_meant(cli, sqlite_db, tmp_path):
    path = _fe_columns(tmp_path)
    before = file_digest(tmp_path / "test.db")
    result = cli("import", path, "--db", sqlite_db, "--element", "Fe", "--edge", "K", "--signal-col", "itrans",
                 "--i0-col", "i0", "--mode", "transmision")
    _one_line_error(result, "--mode", "'transmision'", "did you mean 'transmission'?", "TEY")
    assert file_digest(tmp_path / "test.db") == before
    # any case, and the usual long names, are the vocabulary's spelling
    assert conventions.parse_measurement_mode("Transmission") == "transmission"
    assert conventions.parse_measurement_mode("total electron yield") == "TEY"


def test_already_present_says_which_options_were_not_applied(cli, sqlite_db, tmp_path):
    from repository import catalog, db

    path = _fe_columns(tmp_path)
    common = ("--db", sqlite_db, "--element", "Fe", "--edge", "K", "--signal-col", "itrans", "--i0-col", "i0")
    first = cli("import", path, *common, "--mode", "transmission")
    assert first.exit_code == 0 and "imported 1 spectrum" in first.stdout, first.stderr
    # the same options again: the same spectrum, and the output says the options were read
    again = cli("import", path, *common, "--mode", "transmission")
    assert again.exit_code == 0
    assert "is spectrum 1 (read with" in again.stdout and "--mode transmission" in again.stdout
    assert "warning" not in again.stderr
    # the same arrays (by I0 and ln), other labels: nothing is changed, and the user is told so
    before = file_digest(tmp_path / "test.db")
    labelled = cli("import", path, *common, "--mode", "transmission", "--sample", "hematite", "--beamline", "20-BM")
    assert labelled.exit_code == 0
    assert "not applied" in labelled.stderr and "--sample hematite (stored: none)" in labelled.stderr
    assert "--beamline 20-BM (stored: none)" in labelled.stderr and "--mode" not in labelled.stderr
    assert file_digest(tmp_path / "test.db") == before
    with db.connected(sqlite_db) as engine:
        stored = catalog.get_spectrum(engine, 1, with_arrays=True)
    assert stored["sample_name"] is None and stored["measurement_mode"] == "transmission"
    # what was stored is ln(I0/I) of the file, the mu the scan was made from
    energy, i0, transmitted = np.loadtxt(path, unpack=True)
    mu = 0.3 + 1.0 / (1.0 + np.exp(-(energy - 7112.0) / 1.5))
    assert np.allclose(stored["intensity"], mu, atol=1e-6)


# -- 1. query values the database does not hold -------------------------------------------------

@pytest.mark.parametrize("text, hint", [
    ('polymorph = "hBN"', 'polymorph has no value "hBN" here (did you mean "h-BN"? values: h-BN)'),
    ("defect.name = vN", 'defect_name has no value "vN" here (did you mean "v_N"? values: v_N)'),
    ("element = Fe", 'absorbing_element has no value "Fe" here (values: B)'),
    ('polymorph in ("h-BN", "cBN") and element = N', 'absorbing_element has no value "N" here'),
])
def test_a_query_for_a_value_not_held_says_so_and_what_is_held(cli, example_db, text, hint):
    for fmt in ("table", "csv", "ids"):
        result = cli("query", text, "--db", example_db, "-f", fmt)
        assert result.exit_code == 0, result.stderr  # no match is not an error
        assert result.stderr.startswith("no rows match; ") and hint in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    assert "cBN" not in cli("query", text, "--db", example_db).stderr or "cBN" in text


def test_no_hint_when_every_value_is_held(cli, example_db):
    # v_N exists and h-BN exists: only their combination with polarization z matches nothing
    result = cli("query", 'defect.name = v_N and polarization = z', "--db", example_db)
    assert result.exit_code == 0 and result.stderr == "no rows match\n"
    result = cli("query", 'not polymorph = "hBN"', "--db", example_db, "-f", "ids")
    assert result.exit_code == 0 and result.stdout.split() and result.stderr == ""


@pytest.mark.parametrize("text, fragments", [
    ("edge = k1", ("unknown edge 'k1'", "did you mean 'K'?")),
    ("type = XANEZ", ("spectrum_type can never be 'XANEZ'", "did you mean 'XANES'?")),
    ("crystal_system = hex", ("crystal_system can never be 'hex'", "did you mean 'hexagonal'?")),
    ("defect.kind in (vacancy, vacncy)", ("defect_kind can never be 'vacncy'", "did you mean 'vacancy'?")),
])
def test_a_value_no_spectrum_can_ever_hold_is_refused(cli, example_db, text, fragments):
    _one_line_error(cli("query", text, "--db", example_db), *fragments)


def test_no_match_hints_on_every_backend(any_db):
    from repository import db
    from repository.calcset import read_calcset
    from repository.importer import import_calcset
    from repository.query import no_match_hints

    with db.connected(any_db) as engine:
        import_calcset(engine, read_calcset(EXAMPLE_SET))
        assert no_match_hints(engine, 'polymorph = "h-bn" or set = example') == [
            'polymorph has no value "h-bn" here (did you mean "h-BN"? values: h-BN)',
            'calculation_set has no value "example" here (did you mean "example-hbn"? values: example-hbn)']
        assert no_match_hints(engine, 'polymorph = "h-BN" and polarization = z') == []


# -- 2. one parse of element symbols and edge names ---------------------------------------------

def test_every_command_reads_element_and_edge_in_any_case(cli, example_db):
    by_query = cli("query", "element = b and edge = k", "--db", example_db, "-f", "ids").stdout.split()
    assert len(by_query) == 3
    assert cli("list", "--db", example_db, "--element", "b", "--edge", "k", "-f", "ids").stdout.split() == by_query
    assert cli("list", "--db", example_db, "--element", "B", "--edge", "K", "-f", "ids").stdout.split() == by_query
    _one_line_error(cli("list", "--db", example_db, "--element", "Boron"), "--element", "'Boron' is not an element")
    _one_line_error(cli("list", "--db", example_db, "--edge", "k1"), "--edge", "did you mean 'K'?")


def test_embed_selects_the_same_spectra_for_b_and_B(bn, cli, tmp_path):
    db_path, _ = bn
    made = cli("embed", "-m", "pca", "--element", "b", "--edge", "k", "--where", "polarization = iso",
               "--db", db_path, "--snapshot-dir", tmp_path, "-f", "json")
    assert made.exit_code == 0, made.stderr
    record = json.loads(made.stdout)
    again = cli("embed", "-m", "pca", "--element", "B", "--edge", "K", "--where", "polarization = iso",
                "--db", db_path, "--snapshot-dir", tmp_path, "-f", "json")
    assert json.loads(again.stdout)["uid"] == record["uid"] and json.loads(again.stdout)["status"] == "reused"
    assert (record["element"], record["edge"]) == ("B", "K")


# -- 3. messages -----------------------------------------------------------------------------------

def test_a_bad_spectrum_type_names_the_option_and_its_choices(cli, sqlite_db, tmp_path):
    result = cli("import", _fe_columns(tmp_path), "--db", sqlite_db, "--element", "Fe", "--edge", "K",
                 "--signal-col", "itrans", "--type", "XANEZ")
    _one_line_error(result, "--type: unknown spectrum type 'XANEZ'", "did you mean 'XANES'?", "XANES, EXAFS, XAFS")
    assert "SpectrumType" not in result.stderr


def test_a_file_is_named_once_in_a_re_raised_error(bn, cli, tmp_path):
    db_path, uid = bn
    row = _bk_member(db_path)
    path = tmp_path / "cbn.csv"
    np.savetxt(path, np.column_stack([row["energy_ev"], row["intensity"]]), delimiter=",")
    result = cli("project", path, "--snapshot", uid, "--db", db_path, "--element", "N", "--edge", "K")
    stderr = _one_line_error(result, "do not reach the N K edge", "--align edge-onset/fit")
    assert stderr.startswith("error: ") and "<input>" not in stderr and stderr.count("cbn.csv") == 1


def test_swapped_columns_are_named_and_the_advice_works(bn, cli, tmp_path):
    db_path, _ = bn
    row = _bk_member(db_path)
    path = tmp_path / "swapped.csv"
    np.savetxt(path, np.column_stack([row["intensity"], row["energy_ev"]]), delimiter=",")  # (mu, E)
    result = cli("import", path, "--db", db_path, "--element", "B", "--edge", "K")
    stderr = _one_line_error(result, "the columns look swapped", "around the B K edge",
                             "give --energy-col 2 --signal-col 1")
    assert "--edge-energy" not in stderr
    followed = cli("import", path, "--db", db_path, "--element", "B", "--edge", "K", "--energy-col", "2",
                   "--signal-col", "1", "--origin", "computed")
    assert followed.exit_code == 0 and f"is spectrum {row['spectrum_id']}" in followed.stdout, followed.stderr


def test_relative_energies_are_not_called_swapped(cli, sqlite_db, tmp_path):
    # energies relative to the edge with a steadily rising signal: the advice stays --edge-energy
    energy = np.linspace(-10.0, 30.0, 41)
    path = tmp_path / "relative.csv"
    np.savetxt(path, np.column_stack([energy, 1.0 + 0.01 * energy]), delimiter=",")
    result = cli("import", path, "--db", sqlite_db, "--element", "B", "--edge", "K")
    stderr = _one_line_error(result, "give --edge-energy")
    assert "swapped" not in stderr


def test_one_column_is_one_column(cli, sqlite_db, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("1\n2\n3\n")
    _one_line_error(cli("import", path, "--db", sqlite_db, "--element", "B", "--edge", "K"),
                    "the file has 1 column (col1)")
    two = tmp_path / "two.csv"
    two.write_text("190,1\n191,2\n")
    _one_line_error(cli("import", two, "--db", sqlite_db, "--element", "B", "--edge", "K", "--energy-col", "3"),
                    "(the file has 2 columns)")


# -- 4. help ---------------------------------------------------------------------------------------

def test_help_says_what_the_code_does(cli):
    from repository.analysis.project import FIT_FEATURE_SLACK_EV, FIT_SEARCH_EV, MAX_ALIGNMENT_SHIFT_EV
    from repository.analysis.recipe import PRESETS

    project = " ".join(cli("project", "--help").stdout.split())
    assert f"within +-{FIT_SEARCH_EV:g} eV of that" in project
    assert f"maximum within {FIT_FEATURE_SLACK_EV:g} eV of the window" in project
    assert f"more than {MAX_ALIGNMENT_SHIFT_EV:g} eV" in project
    compare = " ".join(cli("compare", "--help").stdout.split())
    assert all(f"{name}:" in compare for name in PRESETS)
    diff = " ".join(cli("snapshots", "diff", "--help").stdout.split())
    assert "ID_B <str> The snapshot to compare with ID" in diff


# -- 5. outputs the demo suggests are not picked up by git -----------------------------------------

@pytest.mark.parametrize("name", ["explorer.html", "spectra.png", "bn-overview.pdf", "defects.svg", "1_B_K_BN.xdi",
                                  "out/umap.png", "xasrepo-demo/xasrepo.db"])
def test_outputs_written_into_the_checkout_are_ignored(name):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(["git", "check-ignore", "-q", "--no-index", name], cwd=ROOT)
    assert done.returncode == 0, f"{name} is not ignored"


def test_conventions_parse_names_once():
    assert conventions.parse_element(" b ") == "B" and conventions.parse_element("FE") == "Fe"
    assert conventions.parse_edge("l23").value == "L2,3"
    with pytest.raises(ValueError, match="not an element symbol"):
        conventions.parse_element("Boron")
    with pytest.raises(ValueError, match=r"did you mean 'fluorescence'\?"):
        conventions.parse_measurement_mode("fluorescense")
    from repository.formats.common import ReadOptions

    assert ReadOptions(element="b", edge="k", spectrum_type="xanes", measurement_mode="tey").edge == "K"
    with pytest.raises(UsageError, match="--origin: unknown origin 'measured'"):
        ReadOptions(origin="measured")


# ----------------------------------------------------------------------------------------------
# renamed options (newcomer finding 8): one spelling per concept, the old one kept for one release



def test_renamed_options_are_the_ones_help_shows(cli):
    assert "--read-format" in cli("import", "--help").stdout
    assert "--format" not in cli("import", "--help").stdout      # import reads; --format is output
    assert "--norm " in cli("embed", "--help").stdout and "--normalize" not in cli("embed", "--help").stdout
    assert "--normalize" not in cli("plot", "spectra", "--help").stdout


def test_import_options_documented_in_formats_md_are_the_ones_import_shows(cli):
    # the docs must not teach a deprecated spelling (--format was renamed --read-format)
    import re

    from tests.conftest import ROOT

    text = (ROOT / "docs" / "formats.md").read_text()
    table = text.split("### Options", 1)[1].split("\n### ", 1)[0]
    documented = set(re.findall(r"`(--[a-z0-9-]+)", table))
    shown = set(re.findall(r"--[a-z0-9-]+", cli("import", "--help", env={"COLUMNS": "200"}).stdout))
    assert "--read-format" in documented and "--format" not in documented
    assert documented <= shown, sorted(documented - shown)


def test_old_normalize_of_embed_makes_the_same_recipe_with_one_note(cli, bn):
    example_db, _ = bn
    bk = ("--element", "B", "--edge", "K")
    new = cli("embed", "--method", "pca", *bk, "--db", example_db, "--norm", "area", "--format", "json")
    assert new.exit_code == 0, new.stderr
    old = cli("embed", "--method", "pca", *bk, "--db", example_db, "--normalize", "area", "--format", "json")
    assert old.exit_code == 0, old.stderr
    assert old.stderr.startswith("note: --normalize is deprecated, use --norm\n")
    assert old.stderr.count("deprecated") == 1 and "deprecated" not in new.stderr
    assert json.loads(old.stdout)["status"] == "reused"          # the very same recipe
    assert json.loads(old.stdout)["uid"] == json.loads(new.stdout)["uid"]
    clash = cli("embed", "--method", "pca", *bk, "--db", example_db, "--normalize", "area", "--norm", "max")
    _one_line_error(clash, "--normalize", "--norm max", "disagree")


def test_old_normalize_flag_of_plot_spectra_is_norm_max(cli, example_db, tmp_path):
    old = cli("plot", "spectra", "1", "--normalize", "-o", tmp_path / "a.png", "--db", example_db)
    assert old.exit_code == 0 and old.stderr == "note: --normalize is deprecated, use --norm max\n"
    same = cli("plot", "spectra", "1", "--normalize", "--norm", "max", "-o", tmp_path / "b.png", "--db", example_db)
    assert same.exit_code == 0
    clash = cli("plot", "spectra", "1", "--normalize", "--norm", "area", "-o", tmp_path / "c.png", "--db", example_db)
    _one_line_error(clash, "--norm area", "disagree")
    assert not (tmp_path / "c.png").exists()


def test_old_format_of_import_reads_the_same_spectrum(cli, tmp_path):
    db_path = str(tmp_path / "r.db")
    assert cli("init", "--db", db_path).exit_code == 0
    data = tmp_path / "bk.dat"
    e = np.linspace(180.0, 220.0, 81)
    data.write_text("".join(f"{x:.3f} {1.0 / (1.0 + np.exp(-(x - 192.0))):.6f}\n" for x in e))
    args = ("--element", "B", "--edge", "K", "--type", "XANES", "--db", db_path)
    old = cli("import", data, "--format", "columns", *args)
    assert old.exit_code == 0, old.stderr
    assert old.stderr.startswith("note: --format is deprecated, use --read-format\n")
    new = cli("import", data, "--read-format", "columns", *args)
    assert new.exit_code == 0 and "already present" in new.stdout, new.stdout
    clash = cli("import", data, "--format", "columns", "--read-format", "xdi", *args)
    _one_line_error(clash, "--format", "--read-format xdi", "disagree")


def test_old_align_onset_of_project_is_edge_onset_with_one_note(bn, cli, tmp_path):
    """`project --align onset` became `edge-onset` (the recipe's spelling of the same alignment):
    the old value gives the same placement and shift with one note; help shows only the new one;
    a value that is neither is one line and exit 2."""
    from repository.formats import write_spectrum

    db_path, uid = bn
    row = _bk_member(db_path)
    path = write_spectrum(row, tmp_path / "bk.xdi", "xdi")
    new = cli("project", path, "--snapshot", uid, "--db", db_path, "--align", "edge-onset", "-f", "json")
    assert new.exit_code == 0, new.stderr
    old = cli("project", path, "--snapshot", uid, "--db", db_path, "--align", "onset", "-f", "json")
    assert old.exit_code == 0, old.stderr
    assert old.stderr == "note: --align onset is deprecated, use --align edge-onset\n"
    assert "deprecated" not in new.stderr
    a, b = json.loads(old.stdout), json.loads(new.stdout)
    assert (a["coordinates"], a["energy_shift_ev"]) == (b["coordinates"], b["energy_shift_ev"])
    assert "[none|edge-onset|fit]" in cli("project", "--help").stdout
    _one_line_error(cli("project", path, "--snapshot", uid, "--db", db_path, "--align", "edge"),
                    "--align", "'edge' is not one of none, edge-onset, fit")


def test_library_reads_the_old_alignment_name_and_refuses_unknown_ones():
    from repository.analysis.project import projection_alignment

    assert projection_alignment("onset") == projection_alignment("edge_onset") == "edge_onset"
    with pytest.raises(UsageError, match="unknown alignment 'edge-onset'"):
        projection_alignment("edge-onset")  # the CLI's spelling is the CLI's; the library's is edge_onset


# ----------------------------------------------------------------------------------------------
# choice spellings (newcomer finding 8b): help shows dashes in every command; the recipes' spelling
# with underscores names the same choice and is accepted silently by every command


def test_embed_reads_the_recipe_spelling_as_the_dashed_one(cli, bn):
    db_path, _ = bn
    bk = ("--method", "pca", "--element", "B", "--edge", "K", "--db", db_path, "--format", "json")
    dashed = cli("embed", *bk, "--norm", "edge-step", "--align", "edge-onset")
    assert dashed.exit_code == 0, dashed.stderr
    recipe = json.loads(dashed.stdout)["recipe"]
    assert (recipe["normalization"], recipe["alignment"]) == ("edge_step", "edge_onset")
    underscored = cli("embed", *bk, "--norm", "edge_step", "--align", "edge_onset")
    assert underscored.exit_code == 0, underscored.stderr
    assert "note" not in underscored.stderr
    assert json.loads(underscored.stdout)["uid"] == json.loads(dashed.stdout)["uid"]   # the same recipe
    old = cli("embed", *bk, "--normalize", "edge_step", "--align", "edge-onset")
    assert old.exit_code == 0 and json.loads(old.stdout)["uid"] == json.loads(dashed.stdout)["uid"]
    _one_line_error(cli("embed", *bk, "--norm", "step"), "--norm", "'step' is not one of none, max, area, edge-step")
    _one_line_error(cli("embed", *bk, "--align", "onset"), "--align",
                    "'onset' is not one of none, edge-onset, stored-shift")


def test_every_command_shows_dashes_and_accepts_underscores(bn, cli, tmp_path):
    from repository.formats import write_spectrum

    db_path, uid = bn
    assert "[none|edge-onset|stored-shift]" in cli("embed", "--help").stdout
    for command in (("embed",), ("plot", "spectra")):
        assert "[none|max|area|edge-step]" in cli(*command, "--help").stdout, command
    measured = _measured_db(cli, tmp_path)   # edge-step is for measured spectra (see the next test)
    plots = [cli("plot", "spectra", "1", "--norm", spelling, "-o", tmp_path / f"{spelling}.png", "--db", measured)
             for spelling in ("edge-step", "edge_step")]
    assert [p.exit_code for p in plots] == [0, 0], [p.stderr for p in plots]
    assert (tmp_path / "edge_step.png").read_bytes() == (tmp_path / "edge-step.png").read_bytes()
    _one_line_error(cli("plot", "spectra", "1", "--norm", "step", "-o", tmp_path / "x.png", "--db", db_path),
                    "--norm", "'step' is not one of none, max, area, edge-step")
    path = write_spectrum(_bk_member(db_path), tmp_path / "bk.xdi", "xdi")
    runs = [cli("project", path, "--snapshot", uid, "--db", db_path, "--align", spelling, "-f", "json")
            for spelling in ("edge-onset", "edge_onset")]
    assert [r.exit_code for r in runs] == [0, 0] and runs[1].stderr == runs[0].stderr
    assert json.loads(runs[0].stdout)["coordinates"] == json.loads(runs[1].stdout)["coordinates"]


def _measured_db(cli, tmp_path) -> str:
    """A database holding one measured B K spectrum (a smooth step at 192 eV), id 1."""
    db_path = str(tmp_path / "measured.db")
    assert cli("init", "--db", db_path).exit_code == 0
    data = tmp_path / "bk.dat"
    e = np.linspace(170.0, 260.0, 181)
    data.write_text("".join(f"{x:.3f} {0.1 + 1.0 / (1.0 + np.exp(-(x - 192.0))):.6f}\n" for x in e))
    result = cli("import", data, "--element", "B", "--edge", "K", "--type", "XANES", "--db", db_path)
    assert result.exit_code == 0, result.stderr
    return db_path


def test_plot_spectra_refuses_edge_step_for_computed_spectra(bn, cli, tmp_path):
    """A computed spectrum has no continuum step: pre_edge would scale c-BN's B K peak to ~30 under an
    axis saying "edge step = 1". Refused in one line naming the computed spectra, nothing written."""
    db_path, _ = bn
    out = tmp_path / "c.png"
    _one_line_error(cli("plot", "spectra", "1", "2", "--norm", "edge-step", "-o", out, "--db", db_path),
                    "--norm edge-step", "spectra 1, 2 are computed", "use --norm max or area")
    assert not out.exists()
    assert cli("plot", "spectra", "1", "--norm", "max", "-o", out, "--db", db_path).exit_code == 0


def test_ordinals_are_english():
    from repository.analysis.project import ordinal

    assert [ordinal(n) for n in (0, 1, 2, 3, 4, 11, 12, 13, 21, 22, 32, 100, 101, 111, 112)] == [
        "0th", "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "32nd", "100th", "101st", "111th",
        "112th"]


def test_project_names_its_percentile_with_the_right_ordinal(bn, cli, tmp_path):
    import re

    from repository.analysis.project import ordinal
    from repository.formats import write_spectrum

    db_path, uid = bn
    path = write_spectrum(_bk_member(db_path), tmp_path / "bk.xdi", "xdi")
    result = cli("project", path, "--snapshot", uid, "--db", db_path)
    assert result.exit_code == 0, result.stderr
    (number, suffix), = re.findall(r"\((\d+)(st|nd|rd|th) percentile of", result.stdout)
    assert number + suffix == ordinal(int(number))


def test_embed_says_when_it_capped_n_neighbors(bn, cli, tmp_path):
    """UMAP on n spectra cannot use n + 5 neighbours; repository.analysis.embed caps it at n - 1. The
    cap is said in one note on stderr, again when the snapshot is reused, and the snapshot records
    the value used as params.n_neighbors (registry, footer, summary) beside the request, while the
    hash stays over the request: the same command is reused, --force refits the same coordinates."""
    from repository import db
    from repository.query import spectrum_ids
    from repository.snapshots.files import footer_metadata
    from repository.snapshots.registry import get_snapshot, load_model

    db_path, _ = bn
    where = 'element = B and polymorph = "c-BN" and polarization = iso'
    with db.connected(db_path, read_only=True) as engine:
        n = len(spectrum_ids(engine, where))
    asked, used = n + 5, n - 1
    args = ("embed", "--method", "umap", "--where", where, "--db", db_path, "--snapshot-dir", tmp_path,
            "--format", "json")
    capped = cli(*args, "--n-neighbors", str(asked))
    assert capped.exit_code == 0, capped.stderr
    summary = json.loads(capped.stdout)
    assert summary["fit_info"]["n_neighbors_used"] == used
    recorded = {"n_neighbors": used, "n_neighbors_requested": asked}
    assert recorded.items() <= summary["params"].items()
    with db.connected(db_path, read_only=True) as engine:
        record = get_snapshot(engine, summary["uid"])
    assert recorded.items() <= record["params"].items()
    assert recorded.items() <= footer_metadata(record["path"])["params"].items()
    assert int(load_model(record)["umap_n_neighbors"]) == used
    notes = [line for line in capped.stderr.splitlines() if line.startswith("note:")]
    assert notes == [f"note: --n-neighbors {asked} capped to {used}: UMAP needs fewer neighbours than the {n} "
                     "spectra it fits (params.n_neighbors; the request: params.n_neighbors_requested)"]
    again = cli(*args, "--n-neighbors", str(asked))
    assert json.loads(again.stdout)["uid"] == summary["uid"] and json.loads(again.stdout)["status"] == "reused"
    assert f"note: --n-neighbors {asked} capped to {used}" in again.stderr
    forced = json.loads(cli(*args, "--n-neighbors", str(asked), "--force").stdout)
    assert forced["uid"] != summary["uid"] and forced["params"] == summary["params"]
    # the recorded value used, asked for: no cap, the same coordinates
    fits = cli(*args, "--n-neighbors", str(used))
    assert fits.exit_code == 0 and "capped" not in fits.stderr
    assert "n_neighbors_requested" not in json.loads(fits.stdout)["params"]
    with db.connected(db_path, read_only=True) as engine:
        coords = [load_model(get_snapshot(engine, uid))["embedding"]
                  for uid in (summary["uid"], forced["uid"], json.loads(fits.stdout)["uid"])]
    np.testing.assert_array_equal(coords[0], coords[1])
    np.testing.assert_array_equal(coords[0], coords[2])


def test_project_says_when_a_file_looks_like_kev(bn, cli, tmp_path):
    """A B K spectrum written in keV (e0 ~ 0.19) cannot be aligned onto ~190 eV members: the one-line
    error says the energies look like keV, not only "another element or edge?"."""
    db_path, uid = bn
    row = _bk_member(db_path)
    path = tmp_path / "bk_kev.dat"
    path.write_text("".join(f"{e / 1000.0:.6f} {y:.6g}\n" for e, y in zip(row["energy_ev"], row["intensity"])))
    result = cli("project", path, "--snapshot", uid, "--db", db_path, "--element", "B", "--edge", "K",
                 "--align", "edge-onset")
    _one_line_error(result, "bk_kev.dat", "look like keV", "convert them to eV")
