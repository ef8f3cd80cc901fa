"""Pictures of what is in the repository.

* :mod:`repository.plots.embedding` -- a snapshot's embedding as a PNG/SVG/PDF, coloured by any
  column; title in words, axes named per method, signed quantities centred on 0.
* :mod:`repository.plots.spectra` -- spectra from the database (one panel per element and edge,
  overlaid or stacked with labels, energy in eV, XAS normalisations named on the axis), optionally
  with the absorber's DOS beside each spectrum and a snapshot's energy window shaded.
* :mod:`repository.plots.figure` -- the paper-style overview figure of a computed set (the bundled
  BN set by default): maps by polymorph, defect kind and σ charge transfer, spectra with π*/σ*.
* :mod:`repository.plots.explorer` -- one self-contained, offline HTML page: the embedding scatter with
  a colour-by selector; hovering or clicking a point shows its spectrum and properties.
* :mod:`repository.plots.frame` -- reading snapshots into a table and telling categorical from numeric
  columns (shared by the three above).

Nothing here is imported by ``xasrepo --help``: matplotlib and pandas load inside functions (the explorer page draws with its own canvas code, no plotly).
"""
