"""What "near the defect" means, in one place for every module that labels or scores sites.

An absorber is *near* its defect when its distance from the defect centre
(``absorber_defect_distance_a``, Angstrom) is at most :data:`NEAR_DEFECT_A`. The value separates
the second neighbour shell from the third in both host lattices of the bundled set (ideal lattice
distances from the bundled structures, B-N bond 1.45 Å in h-BN, 1.57 Å in c-BN):

* h-BN: first shell 1.45 Å, second 2.50 Å, third 2.89 Å;
* c-BN: first shell 1.57 Å, second 2.56 Å, third 3.00 Å.

Relaxation around a defect moves sites by a few tenths of an Å: the four second-shell sites of the
Stone-Wales defect in the bundled set lie at 2.73-2.78 Å and are *near*; 2.8 Å stays below the
nearest third shell (2.89 Å). ``repository.compare.grouped`` (which sites score ``defect_kind``)
and ``repository.plots.figure`` (the "near the defect" panel of ``plot overview``) both import
this constant, so the README's table and the figure never disagree.
"""

from __future__ import annotations

NEAR_DEFECT_A = 2.8  # Å; above the 2nd shell (h-BN 2.50, c-BN 2.56; relaxed SW 2.73-2.78), below the 3rd (2.89 / 3.00)
