"""One spelling in identifiers: the US one of the libraries and of stored keys (``normalization``,
``n_neighbors``, ``color``). Prose in messages and docs may stay British; names may not."""

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BRITISH = re.compile(r"colour|normalis|neighbour", re.IGNORECASE)
# Names in modules that were being changed in parallel branches (issues 12-14) when the rest was
# renamed; rename them once those branches have merged. Shrink this list; never grow it.
NOT_YET_RENAMED = {
    "KNN_MEAN_NEIGHBOURS", "NEIGHBOUR_RADIUS_A", "NORMALISATION_TOLERANCE", "_normalise", "neighbour_means",
    "neighbourhood_k", "neighbourhood_rho", "neighbourhood_spearman", "neighbours", "normalise_signal",
}


def test_library_identifiers_use_one_spelling():
    found = set()
    for path in [*ROOT.glob("repository/**/*.py"), *ROOT.glob("cli/*.py")]:
        for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if token.type == tokenize.NAME and BRITISH.search(token.string):
                found.add(token.string)
    assert found - NOT_YET_RENAMED == set(), "use the US spelling in identifiers (color, normalize, neighbor)"
