"""One "near the defect" for the README's table (compare) and the overview figure (plots)."""

import numpy as np
import pandas as pd

from repository.analysis import sites
from repository.compare import grouped
from repository.plots import figure


def test_compare_and_the_overview_figure_import_the_one_constant():
    assert grouped.NEAR_DEFECT_A is sites.NEAR_DEFECT_A
    assert figure.NEAR_DEFECT_A is sites.NEAR_DEFECT_A
    assert figure.near_defect_labels.__defaults__ == (sites.NEAR_DEFECT_A,)
    assert grouped.near_defect_mask.__defaults__ == (sites.NEAR_DEFECT_A,)


def test_the_cutoff_lies_between_the_second_and_third_shells_of_both_hosts():
    # ideal shells (Å): h-BN 1.45 / 2.50 / 2.89, c-BN 1.57 / 2.56 / 3.00 (bond 1.446 Å, a = 3.615 Å)
    bond_h, a_c = 1.446, 3.615
    h_second, h_third = bond_h * np.sqrt(3.0), 2.0 * bond_h
    c_second, c_third = a_c / np.sqrt(2.0), a_c * np.sqrt(11.0) / 4.0
    assert max(h_second, c_second) < sites.NEAR_DEFECT_A < min(h_third, c_third)


def test_stone_wales_second_shell_sites_are_near_in_compare_and_in_the_figure():
    # the four relaxed Stone-Wales sites of the bundled set lie at 2.73-2.78 Å; a third-shell site at 2.89 Å
    distance = [2.73, 2.78, 2.89, 1.45]
    kind = ["stone_wales"] * 4
    near_compare = grouped.near_defect_mask(kind, distance)
    frame = pd.DataFrame({"defect_kind": kind, "absorber_defect_distance_a": distance})
    near_figure = figure.near_defect_labels(frame).str.endswith("(near)").to_numpy()
    assert near_compare.tolist() == [True, True, False, True]
    assert near_figure.tolist() == near_compare.tolist()
