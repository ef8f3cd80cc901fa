"""File paths in a calculation set stay inside the set directory, also through symbolic links; the
reader resolves each folder once (issue 18), which must give what ``Path.resolve()`` gives."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from repository.calcset import _Context, read_calcset
from repository.errors import InputError
from repository.limits import check_input_file, excerpt

SPECTRUM = "spectra/hBN_B0_iso.dat"


def _point_at(example_set: Path, new: str) -> None:
    manifest = example_set / "calcset.toml"
    text = manifest.read_text()
    assert f'"{SPECTRUM}"' in text
    manifest.write_text(text.replace(f'"{SPECTRUM}"', f'"{new}"', 1))


def test_a_spectrum_linked_from_outside_the_set_is_refused(example_set, tmp_path):
    outside = tmp_path / "elsewhere.dat"
    shutil.copy(example_set / SPECTRUM, outside)
    os.symlink(outside, example_set / "spectra" / "linked.dat")
    _point_at(example_set, "spectra/linked.dat")
    with pytest.raises(InputError, match="outside the set directory"):
        read_calcset(example_set, workers=1)


def test_a_folder_linked_from_outside_the_set_is_refused(example_set, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(example_set / SPECTRUM, tmp_path / "elsewhere" / "x.dat")
    os.symlink(tmp_path / "elsewhere", example_set / "more")
    _point_at(example_set, "more/x.dat")
    with pytest.raises(InputError, match="outside the set directory"):
        read_calcset(example_set, workers=1)


def test_dot_dot_out_of_the_set_is_refused(example_set):
    _point_at(example_set, "spectra/../../calcset_example_copy.dat")
    shutil.copy(example_set / SPECTRUM, example_set.parent / "calcset_example_copy.dat")
    with pytest.raises(InputError, match="outside the set directory"):
        read_calcset(example_set, workers=1)


def test_links_that_stay_inside_the_set_are_read_like_the_file(example_set):
    before = read_calcset(example_set, workers=1)
    os.symlink(example_set / SPECTRUM, example_set / "spectra" / "alias.dat")
    os.symlink(example_set / "spectra", example_set / "spectra_alias")
    for new in ("spectra/alias.dat", "spectra_alias/hBN_B0_iso.dat", "structures/../spectra/hBN_B0_iso.dat"):
        shutil.copy(example_set / "calcset.toml", example_set / "calcset.toml.orig")
        _point_at(example_set, new)
        after = read_calcset(example_set, workers=1)
        shutil.move(example_set / "calcset.toml.orig", example_set / "calcset.toml")
        # the resolved file is recorded, so the plan is the same as with the plain path
        assert [s.source_file for e in after.entries for s in e.spectra] == \
               [s.source_file for e in before.entries for s in e.spectra]
        assert [s.content_hash for e in after.entries for s in e.spectra] == \
               [s.content_hash for e in before.entries for s in e.spectra]


def test_resolving_folders_once_gives_what_path_resolve_gives(example_set, tmp_path):
    os.symlink(example_set / SPECTRUM, example_set / "spectra" / "alias.dat")
    os.symlink(example_set / "spectra", example_set / "spectra_alias")
    os.symlink(tmp_path, example_set / "out")
    os.symlink("../calcset.toml", example_set / "spectra" / "relative_link")
    ctx = _Context(root=example_set.resolve(), manifest=example_set / "calcset.toml")
    names = [SPECTRUM, "spectra/alias.dat", "spectra_alias/hBN_B0_iso.dat", "spectra_alias/alias.dat",
             "out/x.dat", "spectra/missing.dat", "missing/x.dat", "spectra/..", "spectra/.", "spectra/../spectra",
             "spectra/relative_link", "./spectra/hBN_B0_iso.dat", "spectra//hBN_B0_iso.dat", "../x.dat"]
    for _ in range(2):  # the second pass answers from the cache
        for name in names:
            assert ctx._resolve(ctx.root / name) == (ctx.root / name).resolve(), name


def _full_route(ctx: _Context, name: str):
    """What ``_Context.path`` answered before the one-``lstat`` shortcut (issue 18f): the resolved
    path, or the message of the error it raised."""
    path = (ctx.root / name).resolve()
    try:
        if not path.is_relative_to(ctx.root):
            raise ctx.fail("f", f"{excerpt(name)} is outside the set directory (paths must stay inside it)")
        if not path.exists():
            raise ctx.fail("f", f"file {excerpt(name)} not found in {ctx.root}")
        check_input_file(path)
    except InputError as exc:
        return str(exc)
    return path


def test_the_one_lstat_shortcut_answers_what_the_full_route_answers(example_set, tmp_path, monkeypatch):
    os.symlink(example_set / SPECTRUM, example_set / "spectra" / "alias.dat")
    os.symlink(example_set / "spectra", example_set / "spectra_alias")
    os.symlink(tmp_path, example_set / "out")
    shutil.copy(example_set / SPECTRUM, tmp_path / "x.dat")
    os.mkfifo(example_set / "spectra" / "pipe.dat")
    (example_set / "spectra" / "big.dat").write_bytes(b"1 2\n" * 1000)
    monkeypatch.setenv("XASREPO_MAX_FILE_MB", "0.002")  # 2,000 bytes: big.dat (4,000) is over it
    names = [SPECTRUM, "spectra/alias.dat", "spectra_alias/hBN_B0_iso.dat", "out/x.dat", "spectra/missing.dat",
             "missing/x.dat", "spectra", "spectra/", "spectra/pipe.dat", "spectra/big.dat", "./" + SPECTRUM,
             "spectra//hBN_B0_iso.dat", "structures/../" + SPECTRUM, "../x.dat", str(example_set / SPECTRUM),
             str(tmp_path / "x.dat")]
    ctx = _Context(root=example_set.resolve(), manifest=example_set / "calcset.toml")
    for _ in range(2):  # the second pass answers from the folder caches
        for name in names:
            try:
                got = ctx.path("f", name)
            except InputError as exc:
                got = str(exc)
            assert got == _full_route(ctx, name), name
    assert isinstance(ctx.path("f", SPECTRUM), Path)
    assert ctx._plain_file(SPECTRUM) is not None  # the shortcut is taken for a plain file ...
    for name in ("spectra/alias.dat", "spectra/pipe.dat", "spectra/big.dat", "out/x.dat"):
        assert ctx._plain_file(name) is None, name  # ... and never for a link, a FIFO, a big file, outside


def test_each_spectrum_records_the_sha256_of_its_file(example_set):
    """The file is read once for the parse and the hash (issue 18f): the hash is still that of the
    file's bytes, checked here with hashlib on a fresh read."""
    import hashlib

    plan = read_calcset(example_set, workers=1)
    spectra = [s for e in plan.entries for s in e.spectra]
    assert spectra
    for s in spectra:
        assert s.source_sha256 == hashlib.sha256((example_set / s.source_file).read_bytes()).hexdigest()
