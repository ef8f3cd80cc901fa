"""A snapshot's files gone or damaged: a missing file and an altered one are told apart, commands that
merely need the file exit 2 with one line naming it, `snapshots verify` (a check) exits 1.
Spectra are SYNTHETIC (repository.analysis.synthetic) plus the example set."""

import shutil

import pyarrow.parquet as pq
import pytest

from repository.analysis.create import create_snapshot
from repository.snapshots.files import footer_metadata
from repository.snapshots.registry import read_table
from repository.analysis.project import project
from repository.errors import InputError, NotFoundError

from .test_analysis_snapshots import _new_library, _structures


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    engine = _new_library(tmp_path_factory.mktemp("files") / "files.db", _structures(), n=12, seed=3)
    yield engine
    engine.dispose()


@pytest.fixture
def snapshot(library):
    """A new PCA snapshot of its own (a test may damage its files)."""
    return create_snapshot(library, method="pca", force=True).record


def _one_line_error(result, code):
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def _append_a_byte(path):
    with open(path, "ab") as handle:
        handle.write(b"x")


def test_a_missing_snapshot_file_is_missing_not_altered_exit_2(library, snapshot, cli):
    url = library.url.database
    shutil.os.remove(snapshot["path"])
    for args in (("snapshots", "query", snapshot["id"]),
                 ("snapshots", "diff", snapshot["uid"], snapshot["uid"]),
                 ("plot", "embedding", snapshot["uid"], "-c", "crystal_system", "-o", "never.png"),
                 ("explore", snapshot["id"], "--no-spectra", "-o", "never.html")):
        message = _one_line_error(cli(*args, "--db", url), 2)
        assert f"{snapshot['path']} is missing" in message, args
        assert "altered" not in message and "SHA-256" not in message, args
    with pytest.raises(NotFoundError, match="is missing"):
        read_table(library, snapshot["uid"])
    # the check still fails with exit code 1 and says "missing"
    verify = cli("snapshots", "verify", "--db", url, "--format", "json")
    assert verify.exit_code == 1 and f"{snapshot['uid']} snapshot missing" in verify.stderr


def test_an_altered_snapshot_file_was_altered_exit_2(library, snapshot, cli, tmp_path):
    url = library.url.database
    _append_a_byte(snapshot["path"])
    for args in (("snapshots", "query", snapshot["id"]),
                 ("plot", "embedding", snapshot["uid"], "-c", "crystal_system", "-o", tmp_path / "never.png"),
                 ("plot", "embedding", snapshot["id"], "-c", "crystal_system", "-o", tmp_path / "never.png"),
                 ("explore", snapshot["uid"], "--no-spectra", "-o", tmp_path / "never.html")):
        message = _one_line_error(cli(*args, "--db", url), 2)
        assert message.startswith(f"error: {snapshot['path']}: "), args
        assert "was altered (SHA-256 does not match the registry)" in message, args
        assert "magic bytes" not in message, args
    assert not (tmp_path / "never.png").exists() and not (tmp_path / "never.html").exists()
    verify = cli("snapshots", "verify", "--db", url, "--format", "json")
    assert verify.exit_code == 1 and f"{snapshot['uid']} snapshot altered" in verify.stderr


def test_plots_of_a_registered_snapshot_check_its_checksum_even_when_the_file_still_reads(library, snapshot, cli,
                                                                                           tmp_path):
    # a valid Parquet file with other coordinates: only the checksum can tell
    table = pq.read_table(snapshot["path"])
    moved = table.set_column(table.column_names.index("x"), "x", pq.read_table(snapshot["path"]).column("y"))
    pq.write_table(moved, snapshot["path"])
    message = _one_line_error(cli("plot", "embedding", snapshot["uid"], "-c", "crystal_system",
                                  "-o", tmp_path / "p.png", "--db", library.url.database), 2)
    assert snapshot["path"] in message and "was altered" in message
    assert not (tmp_path / "p.png").exists()
    # the file given by its path is a plain Parquet file: no registry, it is drawn
    drawn = cli("plot", "embedding", snapshot["path"], "-c", "crystal_system", "-o", tmp_path / "p.png")
    assert drawn.exit_code == 0, drawn.output
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_an_unreadable_parquet_file_given_by_path_is_one_input_error_naming_it(tmp_path, cli):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"this is not parquet")
    for args in (("plot", "embedding", bad, "-c", "crystal_system", "-o", tmp_path / "never.png"),
                 ("explore", bad, "--no-spectra", "-o", tmp_path / "never.html")):
        message = _one_line_error(cli(*args), 2)
        assert message.startswith(f"error: {bad}: not a readable Parquet file ("), args
        assert "Could not open Parquet input source" not in message  # pyarrow's repetition of the name
    with pytest.raises(InputError, match="not a readable Parquet file"):
        footer_metadata(bad)


def test_snapshots_show_of_an_unreadable_registered_file_is_one_line_exit_2(library, snapshot, cli):
    with open(snapshot["path"], "r+b") as handle:
        handle.truncate(100)
    message = _one_line_error(cli("snapshots", "show", snapshot["uid"], "--db", library.url.database), 2)
    assert message.startswith(f"error: {snapshot['path']}: not a readable Parquet file (")


def test_a_missing_or_altered_model_stops_projection_with_exit_2(library, snapshot, cli):
    url = library.url.database
    _append_a_byte(snapshot["model_path"])
    altered = _one_line_error(cli("project", "--spectrum", "1", "--snapshot", snapshot["uid"], "--db", url), 2)
    assert f"{snapshot['model_path']}: model file of snapshot {snapshot['uid']} was altered" in altered
    shutil.os.remove(snapshot["model_path"])
    missing = _one_line_error(cli("project", "--spectrum", "1", "--snapshot", snapshot["uid"], "--db", url), 2)
    assert f"model file {snapshot['model_path']} is missing" in missing and "SHA-256" not in missing
    with pytest.raises(NotFoundError, match="is missing"):
        project(library, snapshot["uid"], spectrum_id=1)
