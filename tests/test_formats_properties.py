"""Property-based tests over the XDI and column-file readers: any input either reads or raises the
project's own error with a one-line message naming the file; never another exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from repository.errors import XasrepoError
from repository.formats import read_path

from .conftest import SHARED_FIXTURES

XDI_SAMPLE = SHARED_FIXTURES / "XAS-Data-Interchange" / "data" / "cu_metal_rt.xdi"
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check(path: Path, fmt: str, **options) -> None:
    try:
        records = read_path(path, fmt, **options)
    except XasrepoError as err:
        message = str(err)
        assert message and "\n" not in message
        assert path.name in message, message
    else:
        for record in records:
            assert record.spectrum.n_points >= 2


def _xdi_lines() -> list[str]:
    if not XDI_SAMPLE.is_file():
        pytest.skip(f"real XDI file not found at {XDI_SAMPLE} (../shared/fixtures is absent)")
    return XDI_SAMPLE.read_text().splitlines()


edits = st.lists(st.tuples(st.integers(min_value=0, max_value=10_000),
                           st.sampled_from(["delete", "replace", "insert", "truncate"]),
                           st.text(max_size=40)), min_size=1, max_size=4)


@FUZZ
@given(changes=edits)
def test_edited_real_xdi_files_read_or_fail_with_one_line(tmp_path_factory, changes):
    lines = _xdi_lines()
    for position, action, text in changes:
        i = position % max(len(lines), 1)
        if action == "delete" and lines:
            del lines[i]
        elif action == "replace" and lines:
            lines[i] = text
        elif action == "insert":
            lines.insert(i, text)
        elif action == "truncate" and lines:
            lines[i] = lines[i][: len(text)]
    path = tmp_path_factory.mktemp("xdi") / "edited.xdi"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    _check(path, "xdi")


@FUZZ
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_as_xdi_fail_with_one_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("xdi") / "random.xdi"
    path.write_bytes(b"# XDI/1.0\n" + data)
    _check(path, "xdi")


rows = st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                                   st.text(alphabet="0123456789.eE+-,; \tabc#", max_size=8)),
                         min_size=1, max_size=4), max_size=30)


@FUZZ
@given(table=rows, separator=st.sampled_from([" ", ",", "\t", ";"]), bom=st.booleans(),
       header=st.sampled_from(["", "energy,mu\n", "# energy mu\n", "E I0 It\n"]))
@example(table=[["0.0"], [","]], separator=" ", bom=False, header="")  # a row of separators only (found by a deep run)
def test_arbitrary_column_files_read_or_fail_with_one_line(tmp_path_factory, table, separator, bom, header):
    text = header + "\n".join(separator.join(row) for row in table) + "\n"
    path = tmp_path_factory.mktemp("cols") / "scan.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass"))
    _check(path, "columns", element="C", edge="K")
