"""UMAP vs PCA vs MDS on the same spectra, as numbers anyone can regenerate (``xasrepo compare``).

Modules (heavy dependencies are imported inside functions):

* :mod:`.metrics` -- the measures as pure functions of arrays and labels: kNN cross-validated
  accuracy, silhouette, trustworthiness, Spearman correlations, identification by nearest neighbours;
* :mod:`.dos_features` -- scalar features of the absorber's projected DOS (pi/sigma weights near the
  edge, first empty p state, centroid), defined in one place;
* :mod:`.data` -- loading one :class:`~.data.EdgeData` per absorbing element and edge from the
  database (preprocessing by :mod:`repository.analysis`), or from a calculation set via a temporary database;
* :mod:`.run` -- embedding with every method and seed (:mod:`repository.analysis.embed`), scoring,
  holding out spectra for identification (:mod:`repository.analysis.project`), verdicts;
* :mod:`.report` -- the Markdown report with PNG figures and ``results.json`` (``docs/compare/``).
"""
