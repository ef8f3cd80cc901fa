"""The Python examples of docs/analysis.md run, on the bundled BN data, and do what the text says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from .conftest import ROOT

DOC = ROOT / "docs" / "analysis.md"


def _python_blocks() -> list[str]:
    section = DOC.read_text().split("## From Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_page_has_python_examples():
    assert len(_python_blocks()) >= 2


def test_python_examples_run_on_the_bundled_bn_data(bundled_bn_db, monkeypatch):
    monkeypatch.chdir(Path(bundled_bn_db).parent)
    outputs = []
    for block in _python_blocks():
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(block, str(DOC), "exec"), {})
        outputs.append(printed.getvalue())
    shape = re.match(r"\((\d+), (\d+)\) (\d+\.\d)-(\d+\.\d) eV", outputs[0])
    assert shape, outputs[0]
    n_spectra, n_points, lo, hi = int(shape[1]), int(shape[2]), float(shape[3]), float(shape[4])
    assert n_spectra > 50 and n_points > 10 and 180 < lo < hi < 215  # B K-edge, eV
    assert {"c-BN", "h-BN", "w-BN"} <= set(re.findall(r"^([a-zA-Z-]+BN\S*)\s", outputs[1], flags=re.MULTILINE))


def test_load_matrix_needs_one_grid_as_the_page_says(bundled_bn_db):
    from repository import db
    from repository.analysis.load import load_matrix
    from repository.errors import UsageError

    with db.connected(bundled_bn_db, read_only=True) as engine, pytest.raises(UsageError, match="energy grids"):
        load_matrix(engine, element="B", edge="K")
