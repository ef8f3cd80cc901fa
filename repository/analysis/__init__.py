"""The analysis layer: preprocessing recipes, embeddings, versioned snapshots and projection.

Modules (heavy dependencies are imported inside functions):

* :mod:`.recipe` -- :class:`~.recipe.Recipe`, the deterministic, JSON-serialisable preprocessing;
* :mod:`.load` -- selecting spectra and loading them into matrices (one element and edge only);
* :mod:`.embed` / :mod:`.mds` -- UMAP, PCA, MDS (SMACOF or landmark) fits;
* :mod:`.snapshots` -- writing, reusing, listing, diffing, querying and verifying snapshots;
* :mod:`.project` -- placing a new spectrum into a snapshot and naming its nearest neighbours;
* :mod:`.plots` -- PNG scatter plots of snapshots;
* :mod:`.synthetic` -- labelled SYNTHETIC spectra for tests and benchmarks.

See docs/analysis.md.
"""
