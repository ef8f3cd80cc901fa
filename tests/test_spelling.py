"""One spelling in identifiers: the US one of the libraries and of stored keys (``normalization``,
``n_neighbors``, ``color``). Prose in messages and docs may stay British; names may not."""

import ast
import io
import json
import re
import tokenize
from pathlib import Path

import pytest

from repository.compare.report import read_results
from repository.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
BRITISH = re.compile(r"colour|normalis|neighbour", re.IGNORECASE)
# Names renamed after the fact (issues 12-14 had them in flight). Keep this empty.
NOT_YET_RENAMED: set[str] = set()


def test_library_identifiers_use_one_spelling():
    found = set()
    for path in [*ROOT.glob("repository/**/*.py"), *ROOT.glob("cli/*.py")]:
        source = path.read_text()
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.NAME and BRITISH.search(token.string):
                found.add(token.string)
        # names inside f-string fields (one STRING token to Python 3.11's tokenizer)
        for node in ast.walk(ast.parse(source)):
            name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
            if BRITISH.search(name):
                found.add(name)
    assert found - NOT_YET_RENAMED == set(), "use the US spelling in identifiers (color, normalize, neighbor)"


def _old_results(tmp_path):
    """A results.json as `xasrepo compare` wrote it before the rename (British keys), cut down to
    one edge and one probe placement."""
    old = {"edges": [{"element": "B", "edge": "K",
                      "neighbourhood_spearman": {"raw": {"pi_fraction": {"mean": 0.81, "sd": None, "n": 1}}},
                      "probes": [{"name": "shifted r-BN", "methods": {"pca": {"nearest": [
                          {"seed": 0, "coordinates": [0.5, -0.25],
                           "neighbours": [{"spectrum_id": 7, "distance": 0.125, "polymorph": "r-BN"}]}]}}}]}]}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(old))
    return path


def test_results_files_with_the_old_british_keys_still_read(tmp_path):
    edge = read_results(_old_results(tmp_path))["edges"][0]
    assert "neighbourhood_spearman" not in edge
    assert edge["neighborhood_spearman"]["raw"]["pi_fraction"]["mean"] == 0.81
    nearest = edge["probes"][0]["methods"]["pca"]["nearest"][0]
    assert "neighbours" not in nearest
    assert nearest["neighbors"] == [{"spectrum_id": 7, "distance": 0.125, "polymorph": "r-BN"}]


def test_the_committed_report_reads_with_the_same_numbers_under_the_new_keys():
    path = ROOT / "docs" / "compare" / "results.json"
    raw = json.loads(path.read_text())
    read = read_results(path)
    for before, after in zip(raw["edges"], read["edges"], strict=True):
        old = before.get("neighbourhood_spearman", before.get("neighborhood_spearman"))
        assert old is not None and after["neighborhood_spearman"] == old


def test_a_results_file_with_both_spellings_of_a_key_is_refused(tmp_path):
    path = _old_results(tmp_path)
    both = json.loads(path.read_text())
    both["edges"][0]["neighborhood_spearman"] = {}
    path.write_text(json.dumps(both))
    with pytest.raises(InputError, match=r"results.json: edges\[0\]: holds both 'neighbourhood_spearman' and "
                                         r"'neighborhood_spearman'"):
        read_results(path)


def test_a_results_file_that_is_not_json_is_one_input_error_naming_it(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('{"edges": [')
    with pytest.raises(InputError, match=r"results.json: not a results.json of xasrepo compare: "):
        read_results(path)
