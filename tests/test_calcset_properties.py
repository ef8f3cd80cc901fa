"""Property-based tests: any manifest either reads or raises the project's own error type with a
one-line message, never another exception."""

from __future__ import annotations

import copy
import shutil
import tomllib
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repository.calcset import read_calcset
from repository.errors import XasrepoError

from .conftest import EXAMPLE_SET

BASE = tomllib.loads((EXAMPLE_SET / "calcset.toml").read_text())

toml_scalars = st.one_of(
    st.integers(min_value=-10**6, max_value=10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.booleans(), st.just("K"), st.just("L2,3"), st.just("spectra/hBN_B0_iso.dat"),
    st.just("structures/hBN_prim.cif"), st.just("../../etc/passwd"))
toml_values = st.recursive(toml_scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=3)),
    max_leaves=6)


def _paths(tree, prefix=()):
    """Every (path, value) in a nested TOML document."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield prefix + (key,), value
            yield from _paths(value, prefix + (key,))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield prefix + (i,), value
            yield from _paths(value, prefix + (i,))


ALL_PATHS = [p for p, _ in _paths(BASE)]


def _set(tree, path, value):
    node = tree
    for key in path[:-1]:
        node = node[key]
    if isinstance(node, dict) and not isinstance(path[-1], str):
        # an earlier mutation turned a list into a table: a list index is no TOML key (tomli_w
        # refuses to write it; hypothesis found ((entries, 0, descriptors), {}) then (..., 1))
        raise TypeError("a table key must be a string")
    node[path[-1]] = value


def _check(directory: Path) -> None:
    try:
        read_calcset(directory)
    except XasrepoError as err:
        assert "\n" not in str(err) and str(err)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(st.tuples(st.sampled_from(ALL_PATHS), toml_values), min_size=1, max_size=3))
def test_mutated_manifests_read_or_fail_with_one_line(tmp_path_factory, mutations):
    directory = tmp_path_factory.mktemp("set")
    shutil.copytree(EXAMPLE_SET, directory, dirs_exist_ok=True)
    document = copy.deepcopy(BASE)
    for path, value in mutations:
        try:
            _set(document, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    (directory / "calcset.toml").write_text(tomli_w.dumps(document))
    _check(directory)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_arbitrary_text_as_manifest_fails_with_one_line(tmp_path_factory, text):
    directory = tmp_path_factory.mktemp("set")
    (directory / "calcset.toml").write_text(text, encoding="utf-8", errors="surrogatepass")
    _check(directory)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_as_spectrum_file_fail_with_one_line(tmp_path_factory, data):
    directory = tmp_path_factory.mktemp("set")
    shutil.copytree(EXAMPLE_SET, directory, dirs_exist_ok=True)
    (directory / "spectra" / "vN_B_iso.dat").write_bytes(data)
    _check(directory)


# A deterministic sweep next to the random search: every field of the example manifest, replaced by each
# representative wrong value (or deleted). Hypothesis found `parameters = 0` in CI only after the local
# example database had stopped exploring; the sweep makes that class of crash impossible to miss.
SWEEP_VALUES = [0, -1, 1.5, float("nan"), float("inf"), True, "", "x", "L2,3", [], [1], ["a", "b"], {}, {"a": 1},
                {"x": {"y": 1}}, [{}], [[1, 2], [3, 4]], "spectra/hBN_B0_iso.dat", "../../etc/passwd", 10**6]
_DELETE = object()


@pytest.mark.parametrize("path", ALL_PATHS, ids=lambda p: ".".join(map(str, p)))
def test_every_field_replaced_by_a_wrong_value_fails_with_one_line(tmp_path, path):
    for value in [*SWEEP_VALUES, _DELETE]:
        directory = tmp_path / f"set{SWEEP_VALUES.index(value) if value is not _DELETE else 'del'}"
        shutil.copytree(EXAMPLE_SET, directory)
        document = copy.deepcopy(BASE)
        if value is _DELETE:
            node = document
            for key in path[:-1]:
                node = node[key]
            del node[path[-1]]
        else:
            _set(document, path, value)
        (directory / "calcset.toml").write_text(tomli_w.dumps(document))
        _check(directory)
