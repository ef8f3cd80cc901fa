"""File helpers shared by readers and snapshots: content hashes, all-or-nothing writes, and bounded
reading of input files (regular files only, sizes and decompressed sizes capped by
:mod:`repository.limits`)."""

from __future__ import annotations

import hashlib
import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path

from .errors import InputError
from .limits import MAX_DECOMPRESSED, MAX_FILE, Limit

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


GZIP_MAGIC = b"\x1f\x8b"
_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def shown_name(path: str | Path) -> str:
    r"""``path`` as text that can be printed and stored: bytes of a file name that are not valid
    UTF-8 (kept by Python as surrogate escapes) are written as ``\xNN``."""
    text = str(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", errors="backslashreplace")


def check_input_file(path: str | Path, limit: Limit = MAX_FILE) -> int:
    """The size in bytes of the regular file ``path``, after checking it against ``limit``.

    Named pipes, devices (``/dev/zero``), sockets and directories are refused before they are opened
    (reading one blocks or never ends); so is a file over the limit. Raises :class:`InputError`
    (``LimitExceeded`` for the size) naming the file.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(shown_name(path), "file not found") from None
    except OSError as exc:
        raise InputError(shown_name(path), f"cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
        raise InputError(shown_name(path), f"is {kind}, not a regular file: give a data file")
    limit.check(info.st_size, shown_name(path), found=f"the file is {info.st_size / 1e6:,.1f} MB")
    return info.st_size


def read_input_bytes(path: str | Path, limit: Limit = MAX_FILE, *, decompress: bool = False) -> bytes:
    """The bytes of an input file after :func:`check_input_file`; with ``decompress``, gzip data
    (recognised by its magic bytes) is decompressed in a stream and refused as soon as it exceeds
    :data:`~repository.limits.MAX_DECOMPRESSED` (a 1 MB gzip file can expand to gigabytes)."""
    check_input_file(path, limit)
    with open(path, "rb") as handle:
        data = handle.read()
    if decompress and data.startswith(GZIP_MAGIC):
        return decompress_gzip(data, path)
    return data


_GZIP_CHUNK = 1 << 20  # decompressed bytes produced per step


def decompress_gzip(data: bytes, path: str | Path) -> bytes:
    """gzip ``data`` (all members) decompressed, at most :data:`MAX_DECOMPRESSED` bytes; refused with
    :class:`LimitExceeded` naming ``path`` as soon as the output passes the limit, and with an
    :class:`InputError` for damaged data."""
    import gzip
    import io
    import zlib

    cap = MAX_DECOMPRESSED.value()
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            while chunk := stream.read(_GZIP_CHUNK):
                out.write(chunk)
                if out.tell() > cap:
                    MAX_DECOMPRESSED.check(out.tell(), shown_name(path),
                                           found=f"the gzip data expands to more than {cap / 1e6:,.0f} MB "
                                                 f"(from {len(data) / 1e6:,.1f} MB)")
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(shown_name(path), f"damaged gzip data ({exc})") from None
    return out.getvalue()
