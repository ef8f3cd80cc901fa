"""Reading a calculation set with a process pool (issue 18): the plan, the database written from it
and the first error are the same as reading it in one process."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_SET

COPIES = 8


def _replicated_set(target: Path, distinct_labels: bool = False) -> Path:
    """The example set with COPIES copies of each entry; every copy reads its structures from its own
    file (same content, so one structure row each). With ``distinct_labels`` every copy names another
    polymorph for that one structure, which the reader refuses (one structure, one polymorph)."""
    shutil.copytree(EXAMPLE_SET, target)
    manifest = (target / "calcset.toml").read_text()
    head, first = manifest.split("[[entries]]", 1)
    entries = ["[[entries]]" + block for block in first.split("[[entries]]")]
    out = [head]
    for copy in range(COPIES):
        for block in entries:
            text = block.replace('key = "', f'key = "c{copy}/', 1)
            for name in ("POSCAR_hBN_221", "hBN_221_vN.json"):
                if f"structures/{name}" in text:
                    (target / "structures" / f"c{copy}").mkdir(exist_ok=True)
                    shutil.copy(target / "structures" / name, target / "structures" / f"c{copy}" / name)
                    text = text.replace(f"structures/{name}", f"structures/c{copy}/{name}")
            out.append(text.replace('polymorph = "h-BN"', f'polymorph = "h-BN-{copy}"') if distinct_labels else text)
    (target / "calcset.toml").write_text("".join(out))
    return target


def _dump(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def _import(plan, path: Path, monkeypatch) -> list[str]:
    import repository.importer as importer
    from repository import db

    monkeypatch.setattr(importer, "utc_now", lambda: datetime(2026, 1, 1))  # the one varying column
    db.upgrade(str(path))
    engine = db.connect(str(path))
    importer.import_calcset(engine, plan)
    engine.dispose()
    return _dump(path)


def test_parallel_and_serial_reading_write_byte_identical_databases(tmp_path, monkeypatch):
    from repository.calcset import read_calcset

    root = _replicated_set(tmp_path / "set")
    serial = read_calcset(root, workers=1)
    parallel = read_calcset(root, workers=3)
    assert len(serial.entries) == len(parallel.entries) == 2 * COPIES
    assert serial.manifest_hash == parallel.manifest_hash
    assert list(serial.structures) == list(parallel.structures)
    assert {p.polymorph for p in parallel.structures.values()} <= {"h-BN", None}
    # arrays stay read-only after crossing the process boundary, as SpectrumData promises
    assert not parallel.entries[-1].spectra[0].spectrum.intensity.flags.writeable
    serial_dump = _import(serial, tmp_path / "serial.db", monkeypatch)
    parallel_dump = _import(parallel, tmp_path / "parallel.db", monkeypatch)
    assert any(line.startswith('INSERT INTO "spectrum"') for line in serial_dump)
    assert serial_dump == parallel_dump


def _break(root: Path, entry: int, how: str) -> None:
    manifest = root / "calcset.toml"
    head, *blocks = manifest.read_text().split("[[entries]]")
    if how == "missing file":
        blocks[entry] = blocks[entry].replace('file = "spectra/', 'file = "spectra/missing_', 1)
    elif how == "wrong site":
        blocks[entry] = re.sub(r"site_index = \d+\nelement", "site_index = 999\nelement", blocks[entry], count=1)
    elif how == "bad structure":
        name = re.search(r'structure = "(structures/[^"]+)"', blocks[entry]).group(1)
        (root / name).write_text("not a structure\n")
    elif how == "duplicate key":
        blocks[entry] = re.sub(r'key = "[^"]+"', f'key = {re.search(r"key = (.+)", blocks[0]).group(1)}',
                               blocks[entry], count=1)
    manifest.write_text("[[entries]]".join([head, *blocks]))


@pytest.mark.parametrize("errors", [
    [(3, "missing file"), (12, "wrong site")],
    [(12, "missing file"), (5, "wrong site")],
    [(9, "bad structure"), (2, "missing file")],
    [(14, "duplicate key"), (15, "wrong site")],
    [(1, "wrong site"), (6, "duplicate key")],
])
def test_the_first_error_in_manifest_order_is_raised_whatever_the_workers(tmp_path, errors):
    from repository.calcset import read_calcset
    from repository.errors import InputError

    root = _replicated_set(tmp_path / "set")
    for entry, how in errors:
        _break(root, entry, how)
    messages = []
    for workers in (1, 2, 3):
        with pytest.raises(InputError) as caught:
            read_calcset(root, workers=workers)
        messages.append((type(caught.value), str(caught.value), caught.value.file, caught.value.where))
    first = min(errors)[0]
    assert f"entries[{first}]" in messages[0][1]
    assert messages[1] == messages[0] and messages[2] == messages[0]


def test_worker_count(monkeypatch):
    from repository.calcset import MIN_PARALLEL_ENTRIES, WORKERS_ENV, _worker_count
    from repository.errors import UsageError

    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert _worker_count(None, MIN_PARALLEL_ENTRIES - 1) == 1  # small sets: no pool
    assert _worker_count(3, 2) == 2  # never more workers than entries
    monkeypatch.setenv(WORKERS_ENV, "1")
    assert _worker_count(None, 10 * MIN_PARALLEL_ENTRIES) == 1
    monkeypatch.setenv(WORKERS_ENV, "two")
    with pytest.raises(UsageError, match=WORKERS_ENV):
        _worker_count(None, 10)
    with pytest.raises(UsageError):
        _worker_count(0, 10)


def _die(*_):
    os._exit(1)  # a worker killed (out of memory, say)


def test_a_dead_worker_is_one_environment_fault_and_nothing_is_read(tmp_path, monkeypatch):
    import repository.calcset as calcset
    from repository.errors import EnvironmentFault

    root = _replicated_set(tmp_path / "set")
    monkeypatch.setattr(calcset, "_read_entries_task", _die)  # the forked workers inherit it
    with pytest.raises(EnvironmentFault, match="stopped abruptly"):
        calcset.read_calcset(root, workers=2)


def test_entries_of_one_structure_are_still_shared_between_workers(tmp_path, monkeypatch):
    import repository.calcset as calcset

    root = _replicated_set(tmp_path / "set")
    manifest = root / "calcset.toml"
    manifest.write_text(re.sub(r"structures/c\d+/", "structures/", manifest.read_text()))
    tasks = []
    original = calcset._ParallelEntries.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        tasks.append(len(self.futures))

    monkeypatch.setattr(calcset._ParallelEntries, "__init__", spy)
    parallel = calcset.read_calcset(root, workers=2)
    assert tasks and tasks[0] > 2  # two structure files, yet more tasks than two
    serial = calcset.read_calcset(root, workers=1)
    assert list(parallel.structures) == list(serial.structures)
    assert [p.polymorph for p in parallel.structures.values()] == [p.polymorph for p in serial.structures.values()]


def test_one_structure_labelled_differently_is_refused_alike_serial_and_parallel(tmp_path):
    """Entries sharing a structure but naming other polymorphs used to keep the first entry's label
    silently; now both readers refuse, at the same entry, with the same line."""
    from repository.calcset import read_calcset
    from repository.errors import InputError

    root = _replicated_set(tmp_path / "set", distinct_labels=True)
    messages = []
    for workers in (1, 3):
        with pytest.raises(InputError) as err:
            read_calcset(root, workers=workers)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert "entries[2] (c1/hBN-221/B0).polymorph: 'h-BN-1' for the structure that entries[0] (c0/hBN-221/B0) gives 'h-BN-0'" in messages[0]
