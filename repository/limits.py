"""The one home of the limits on what an import reads (docs/limits.md has the table), and of the
bounded reading of input files (regular files only; sizes and decompressed sizes capped).

A file, a spectrum, a structure or a manifest beyond a limit is refused before the expensive work
(parsing, decompressing, pymatgen analysis) with one line that names the file, the limit and the
environment variable that raises it::

    error: big.xdi: the file is 300.0 MB, over the limit of 256 MB for a data file (raise it with XASREPO_MAX_FILE_MB=...)

Each limit is read from its environment variable when it is checked (so a test or a session can
change it); an unset variable means the default below. Why each default is where it is:

* file size 256 MB: the largest real inputs (Athena projects of a whole beamtime, exported column
  files of quick-EXAFS) are tens of MB; memory during import is a small multiple of the input
  (docs/benchmarks.md), so 256 MB keeps an import under ~2-3 GB.
* decompressed size 256 MB: the same bound for what a gzip file (Athena) expands to; gzip can
  expand 1000-fold (a 1 MB file took 3.2 GB of memory before this limit).
* structure files 16 MB: 10,000 atoms in a pymatgen JSON with site properties are ~3-5 MB; pymatgen
  holds ~2 kB per site, so the file is bounded before pymatgen reads it.
* atoms per structure 10,000: structure analysis (spglib, neighbour lists, dimensionality) is done
  for every structure; DFT supercells for XAS have tens to a few hundred atoms.
* minimum interatomic distance 0.5 Å: the shortest bond in nature is H2's 0.74 Å; closer atoms are
  a unit error (fractional vs Cartesian, Bohr vs Å) and make neighbour lists explode (an 81 kB
  POSCAR with 3,000 atoms in a 2 Å cell took 5.7 GB).
* points per spectrum 1,000,000: quick-EXAFS scans have 10^3-10^5 points.
* entries per manifest 100,000: a calculation set is read and validated in memory before it is
  written (~1.8 GiB per 10^5 entries, docs/benchmarks.md); split larger sets.
* nesting depth 64: JSON and TOML inputs (pymatgen documents, Athena JSON, calcset.toml) nest
  fewer than 10 levels; Python's parsers recurse and fail near 1,000.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import stat
import tomllib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, LimitExceeded, UsageError

MB = 1_000_000  # limits on sizes are in decimal megabytes, as `ls -lh --si` and file managers show them


@dataclass(frozen=True)
class Limit:
    """A named limit: ``what`` it bounds (for messages), its environment variable, default and unit.

    ``scale`` converts the variable's value to the checked unit (1 MB = 10^6 bytes for sizes).
    """

    what: str
    env: str
    default: float
    unit: str
    scale: int = 1

    def value(self) -> float:
        """The limit in its checked unit (bytes for sizes): the environment variable's value, else
        the default. Raises :class:`~repository.errors.UsageError` for a value that is not a
        positive number."""
        text = os.environ.get(self.env)
        if text is None or not text.strip():
            return self.default * self.scale
        try:
            number = float(text)
        except ValueError:
            number = float("nan")
        if not number > 0:
            raise UsageError(f"{self.env}={text!r} is not a positive number ({self.unit})")
        return number * self.scale

    def shown(self) -> str:
        """The limit as people read it: "256 MB", "1,000,000 points"."""
        return f"{_number(self.value() / self.scale)} {self.unit}"

    def hint(self) -> str:
        return f"raise it with {self.env}=..."

    def check(self, amount: float, file: str | Path | None, *, where: str | None = None,
              found: str | None = None) -> None:
        """Raise :class:`LimitExceeded` naming ``file`` when ``amount`` (in the checked unit) is over
        the limit; ``found`` describes what was found (default: the amount in the limit's unit)."""
        limit = self.value()
        if amount > limit:
            found = found or f"{_number(amount / self.scale)} {self.unit}"
            raise LimitExceeded(file, f"{found}, over the limit of {self.shown()} for {self.what} ({self.hint()})",
                                where=where)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.6g}"


def _size(n_bytes: float) -> str:
    """A size as people read it: bytes below 0.1 MB, else MB with one decimal."""
    return f"{n_bytes:,.0f} bytes" if n_bytes < 0.1 * MB else f"{n_bytes / MB:,.1f} MB"


MAX_FILE = Limit("a data file", "XASREPO_MAX_FILE_MB", 256, "MB", MB)
MAX_DECOMPRESSED = Limit("the decompressed content of a gzip file", "XASREPO_MAX_DECOMPRESSED_MB", 256, "MB", MB)
MAX_STRUCTURE_FILE = Limit("a structure file", "XASREPO_MAX_STRUCTURE_FILE_MB", 16, "MB", MB)
MAX_ATOMS = Limit("a structure", "XASREPO_MAX_ATOMS", 10_000, "atoms")
MAX_POINTS = Limit("a spectrum", "XASREPO_MAX_POINTS", 1_000_000, "points")
MAX_ENTRIES = Limit("a calculation-set manifest", "XASREPO_MAX_ENTRIES", 100_000, "entries")
MAX_NESTING = Limit("JSON and TOML input", "XASREPO_MAX_NESTING", 64, "levels of nesting")
# A lower bound, so not a Limit: interatomic distances below it are refused.
MIN_DISTANCE_ENV = "XASREPO_MIN_DISTANCE_A"
MIN_DISTANCE_A = 0.5

ALL_LIMITS = (MAX_FILE, MAX_DECOMPRESSED, MAX_STRUCTURE_FILE, MAX_ATOMS, MAX_POINTS, MAX_ENTRIES, MAX_NESTING)


def min_distance_a() -> float:
    """The smallest interatomic distance (Å) a structure may have: ``XASREPO_MIN_DISTANCE_A`` or
    :data:`MIN_DISTANCE_A`; 0 switches the check off."""
    text = os.environ.get(MIN_DISTANCE_ENV)
    if text is None or not text.strip():
        return MIN_DISTANCE_A
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0:
        raise UsageError(f"{MIN_DISTANCE_ENV}={text!r} is not a distance in Å (0 or more)")
    return value


# How much of an offending value an error message quotes: a 200 MB token must not become a 800 MB
# error line.
EXCERPT_CHARS = 40


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)`` of at most ``limit`` characters of a string (longer ones are cut and say how
    long they were), for quoting input in one-line errors."""
    if not isinstance(value, str):  # numbers, lists...: as Python writes them, cut the same way
        text = repr(value)
        return text if len(text) <= 2 * limit else f"{text[:limit]}... ({len(text):,} characters)"
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value):,} characters)"


def nesting_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` brackets in JSON or TOML text, outside strings (a cheap
    upper bound for TOML: table headers ``[[entries]]`` count as two levels).

    Runs in C (regular expressions and str.translate), so it is cheap even for large files; it is
    done before parsing because Python's JSON and TOML parsers recurse and fail near 1,000 levels.
    """
    if not any(c in text for c in "[{"):
        return 0
    # strings (JSON "..." with escapes, TOML '...'/"""...""") and TOML comments hold no structure
    without = re.sub(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'', "", text)
    if "#" in without:
        without = re.sub(r"#[^\n]*", "", without)
    brackets = re.sub(r"[^\[\]{}]+", "", without).encode("ascii")
    return _deepest(brackets)


_DEPTH_CHUNK = 1 << 24  # brackets per numpy step: bounded memory (16 M x 4 bytes) for any input


def _deepest(brackets: bytes) -> int:
    """The maximum running depth of a string of brackets (+1 for [ and {, -1 for ] and })."""
    depth, deepest = 0, 0
    for start in range(0, len(brackets), _DEPTH_CHUNK):
        codes = np.frombuffer(brackets, dtype=np.uint8, count=min(_DEPTH_CHUNK, len(brackets) - start), offset=start)
        steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1).astype(np.int32)
        running = np.cumsum(steps, dtype=np.int64) + depth
        deepest = max(deepest, int(running.max()))
        depth = int(running[-1])
    return deepest


def check_nesting(text: str, file: str | Path | None, where: str | None = None) -> None:
    """Raise :class:`LimitExceeded` when JSON/TOML ``text`` nests deeper than :data:`MAX_NESTING`."""
    depth = nesting_depth(text)
    MAX_NESTING.check(depth, file, where=where, found=f"nested {depth:,} levels deep")


def load_json(text: str, file: str | Path | None, where: str | None = None) -> Any:
    """``json.loads(text)`` after :func:`check_nesting`; a RecursionError (a limit raised beyond what
    Python can parse) becomes :class:`LimitExceeded` naming the file. JSON syntax errors propagate
    (``json.JSONDecodeError``) for the caller to name the line."""
    check_nesting(text, file, where)
    try:
        return json.loads(text)
    except RecursionError:
        raise LimitExceeded(file, f"nested too deeply for Python's JSON parser (limit {MAX_NESTING.shown()}; "
                                  f"{MAX_NESTING.env} is above what this Python can parse)", where=where) from None


def load_toml(text: str, file: str | Path | None) -> dict[str, Any]:
    """``tomllib.loads(text)`` after :func:`check_nesting` (see :func:`load_json`)."""
    check_nesting(text, file)
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise LimitExceeded(file, f"nested too deeply for Python's TOML parser (limit {MAX_NESTING.shown()}; "
                                  f"{MAX_NESTING.env} is above what this Python can parse)") from None


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


def check_input_file(path: str | Path, limit: Limit | None = None) -> int:
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
    (limit or MAX_FILE).check(info.st_size, shown_name(path), found=f"the file is {_size(info.st_size)}")
    return info.st_size


def read_input_bytes(path: str | Path, limit: Limit | None = None, *, decompress: bool = False) -> bytes:
    """The bytes of an input file after :func:`check_input_file`; with ``decompress``, gzip data
    (recognised by its magic bytes) is decompressed in a stream and refused as soon as it exceeds
    :data:`~repository.limits.MAX_DECOMPRESSED` (a 1 MB gzip file can expand to gigabytes)."""
    check_input_file(path, limit or MAX_FILE)
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
    cap = MAX_DECOMPRESSED.value()
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            while chunk := stream.read(_GZIP_CHUNK):
                out.write(chunk)
                if out.tell() > cap:
                    MAX_DECOMPRESSED.check(out.tell(), shown_name(path),
                                           found=f"the gzip data expands to more than {_size(cap)} "
                                                 f"(from {_size(len(data))})")
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(shown_name(path), f"damaged gzip data ({exc})") from None
    return out.getvalue()
