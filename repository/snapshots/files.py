"""Snapshot files: where they go, their names and hashes, and checks that they are intact.

A snapshot is a Parquet file (one row per spectrum) whose footer carries JSON metadata under
:data:`FOOTER_KEY`, plus a model artifact (``.npz``, no pickles). Both are written atomically
(:func:`repository.files.atomic_write`) and registered with their SHA-256
(:mod:`repository.snapshots.registry`); every later read checks the file against that hash.

Snapshot files live in a directory: the ``snapshot_dir`` argument, else ``$XASREPO_SNAPSHOT_DIR``,
else (SQLite only) ``<database stem>.snapshots/`` beside the database file. For a database server
the directory must be given.

Registered paths are portable (:func:`stored_path`, :func:`resolve_stored`): a file under the
*storage base* is recorded relative to it, POSIX-style, and resolved against the base when read.
The base is the SQLite database file's folder, or for a database server the folder in
``$XASREPO_SNAPSHOT_DIR``. So a database and its ``<stem>.snapshots/`` folder can be moved,
copied or zipped together, and a copy reads its own files, never the original's. Files outside
the base (a shared folder) are recorded with their absolute path.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..db import is_sqlite, sqlite_path
from ..errors import InputError, NotFoundError, UsageError
from ..files import file_sha256

SNAPSHOT_DIR_ENV = "XASREPO_SNAPSHOT_DIR"
FOOTER_KEY = b"xasrepo.snapshot"
SNAPSHOT_FORMAT_VERSION = 1
COORDINATE_NAMES = ("x", "y", "z")


def input_hash(ids: Sequence[int], content_hashes: Sequence[str]) -> str:
    """SHA-256 (64 hex digits) over the selected spectra: ``id:content_hash`` lines in id order.

    ``ids`` and ``content_hashes`` are parallel sequences of equal length ``n``.
    """
    digest = hashlib.sha256()
    for spectrum_id, content in sorted(zip((int(i) for i in ids), content_hashes)):
        digest.update(f"{spectrum_id}:{content}\n".encode())
    return digest.hexdigest()


def snapshot_dir(url: str, override: str | Path | None = None) -> Path:
    """Where snapshot files go for the database at ``url`` (see the module docstring); created
    when missing. Raises :class:`UsageError` for a database server without a directory."""
    value = override or os.environ.get(SNAPSHOT_DIR_ENV)
    if value:
        directory = Path(value).expanduser().resolve()
    else:
        path = sqlite_path(url) if is_sqlite(url) else None
        if path is None:
            raise UsageError("snapshots of a database server need a directory: give --snapshot-dir "
                             f"or set {SNAPSHOT_DIR_ENV}")
        directory = path.resolve().parent / f"{path.stem}.snapshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def storage_base(url: str) -> Path | None:
    """The folder that relative snapshot paths of the database at ``url`` are relative to: the
    SQLite file's folder, else ``$XASREPO_SNAPSHOT_DIR`` (None when that is unset)."""
    path = sqlite_path(url) if is_sqlite(url) else None
    if path is not None:
        return path.resolve().parent
    value = os.environ.get(SNAPSHOT_DIR_ENV)
    return Path(value).expanduser().resolve() if value else None


def stored_path(url: str, path: str | Path) -> str:
    """What the registry records for the file ``path``: relative to :func:`storage_base` (POSIX
    separators) when the file lies under it, else the absolute path."""
    full = Path(path).resolve()
    base = storage_base(url)
    if base is not None:
        try:
            return full.relative_to(base).as_posix()
        except ValueError:
            pass
    return str(full)


def resolve_stored(url: str, stored: str | None) -> str | None:
    """The file a registered path names today (absolute), None for None. A relative path of a
    database server without ``$XASREPO_SNAPSHOT_DIR`` raises :class:`UsageError`."""
    if stored is None:
        return None
    path = Path(stored)
    if path.is_absolute():
        return str(path)
    base = storage_base(url)
    if base is None:
        raise UsageError(f"snapshot file {stored} is registered relative to the snapshot folder: set "
                         f"{SNAPSHOT_DIR_ENV} to the folder that holds the snapshot files")
    return str(base / path)


def check_file(path: str | None, expected: str | None) -> str:
    """``'ok'``, ``'missing'`` or ``'altered'`` for one registered file (``'none'`` when there is none)."""
    if path is None:
        return "none"
    if not Path(path).is_file():
        return "missing"
    return "ok" if file_sha256(path) == expected else "altered"


def require_intact(path: str | Path, expected: str, what: str, uid: str) -> None:
    """Refuse a registered file that is missing (:class:`NotFoundError`) or whose SHA-256 differs
    from the registry (:class:`InputError`); both exit code 2. ``snapshots verify``, a check, uses
    :func:`repository.snapshots.registry.check_verified` (exit code 1) instead."""
    status = check_file(str(path), expected)
    if status == "missing":
        raise NotFoundError(f"snapshot {uid}: {what} {path} is missing (see `xasrepo snapshots verify`)")
    if status == "altered":
        raise InputError(path, f"{what} of snapshot {uid} was altered (SHA-256 does not match the registry); "
                               "refusing to use it")


def parquet_problem(err: BaseException, path: str | Path) -> str:
    """pyarrow's (or DuckDB's) message for an unreadable Parquet file, on one line, without the
    file name it repeats."""
    message = " ".join(str(err).split()) or type(err).__name__
    return message.removeprefix(f"Could not open Parquet input source '{path}': ")


def footer_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON metadata in a snapshot file's Parquet footer (see docs/analysis.md for its keys).

    Raises :class:`InputError` for a missing or unreadable file, :class:`UsageError` for a Parquet
    file that is not a snapshot.
    """
    import pyarrow as pa  # lazy: pyarrow costs ~0.3 s, and only snapshot commands need it
    import pyarrow.parquet as pq

    if not Path(path).is_file():
        raise InputError(path, "no such file")
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError) as err:
        raise InputError(path, f"not a readable Parquet file ({parquet_problem(err, path)})") from None
    if FOOTER_KEY not in metadata:
        raise UsageError(f"{path} is not an xasrepo snapshot (no {FOOTER_KEY.decode()} footer metadata)")
    return json.loads(metadata[FOOTER_KEY])


def save_npz(path: Path, arrays: dict[str, Any]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` (read back with ``allow_pickle=False``)."""
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
