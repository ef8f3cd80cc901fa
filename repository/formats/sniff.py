"""Recognising a file's format from its content (the file name is only a last hint)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from ..errors import InputError

FORMATS = ("xdi", "columns", "json", "feff", "athena")
GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 64 * 1024
FEFF_XMU_HEADER = re.compile(r"^#\s+omega\s+e\s+k\s+mu\s+mu0\s+chi", re.MULTILINE)
FEFF_MARKERS = re.compile(r"^#.*\bFEFF\s*\d|^#\s+Orientation sensitive EELS calculation", re.MULTILINE)
FEFF_INPUT_CARDS = re.compile(r"^\s*(POTENTIALS|ATOMS)\b", re.MULTILINE | re.IGNORECASE)
FEFF_INPUT_NAMES = ("feff.inp",)


def head_text(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if head.startswith(GZIP_MAGIC):
        try:
            with gzip.open(path, "rb") as handle:
                head = handle.read(SNIFF_BYTES)
        except (OSError, EOFError) as exc:
            raise InputError(path, f"damaged gzip file ({exc})") from None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text with a byte-order mark
        return head[: len(head) // 2 * 2].decode("utf-16", errors="replace")
    return head.decode("utf-8-sig", errors="replace")


def sniff(path: Path) -> str:
    """One of FORMATS for a file or directory, decided by content."""
    if path.is_dir():
        if is_feff_dir(path):
            return "feff"
        raise InputError(path, "a directory is not one file: read its files one by one")
    if not path.is_file():
        raise InputError(path, "file not found")
    text = head_text(path)
    stripped = text.lstrip()
    first = stripped.splitlines()[0] if stripped else ""
    if re.match(r"^#\s*XDI/\d", first, re.IGNORECASE):
        return "xdi"
    if first.startswith("# xasrepo:"):
        return "columns"  # a CSV written by xasrepo (its metadata line may quote other formats)
    if "Athena project file" in text[:2000]:
        return "athena"
    if stripped.startswith(("{", "[")):
        return "json"
    if FEFF_XMU_HEADER.search(text) or FEFF_MARKERS.search(text):
        return "feff"
    if path.name.lower() in FEFF_INPUT_NAMES or (FEFF_INPUT_CARDS.search(text) and re.search(
            r"^\s*(EDGE|CONTROL|TITLE)\b", text, re.MULTILINE | re.IGNORECASE)):
        return "feff"
    if path.suffix.lower() in (".xdi", ".xxdi", ".xd"):
        return "xdi"  # named XDI but not valid XDI: let the XDI reader say what is wrong
    return "columns"


def is_feff_dir(path: Path) -> bool:
    """A FEFF run directory: it has a feff.inp, or an xmu.dat under FEFF's own names."""
    return path.is_dir() and any((path / name).is_file() for name in (*FEFF_INPUT_NAMES, "xmu.dat", "referencexmu.dat"))
