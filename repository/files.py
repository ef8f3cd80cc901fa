"""File helpers shared by readers and snapshots: content hashes and all-or-nothing writes (bounded
reading of input files is :mod:`repository.limits`)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

_HASH_CHUNK = 1 << 20  # bytes read at a time while hashing


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes as 64 lowercase hex digits (read in 1 MiB blocks).

    Raises :class:`OSError` when the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through ``write(temporary path)``, fsync, then rename over ``path``.

    Readers see the old file or the complete new one, never a partial file; the temporary file
    (a hidden name beside ``path``) is removed whatever happens. Errors of ``write`` propagate.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()

