"""Pictures of what is in the repository.

* :mod:`repository.plots.embedding` -- a snapshot's 2-D embedding as a PNG, coloured by any column.
* :mod:`repository.plots.spectra` -- spectra from the database as a PNG (overlaid or offset, energy in
  eV), optionally with the absorber's DOS beside each spectrum.
* :mod:`repository.plots.explorer` -- one self-contained, offline HTML page: the embedding scatter with
  a colour-by selector; hovering or clicking a point shows its spectrum and properties.
* :mod:`repository.plots.frame` -- reading snapshots into a table and telling categorical from numeric
  columns (shared by the three above).

Nothing here is imported by ``xasrepo --help``: matplotlib, pandas and plotly load inside functions.
"""
