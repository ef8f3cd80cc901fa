"""Callers that must tell error cases apart get subclasses of the one base error, never message text."""

import numpy as np
import pytest

from repository.errors import InputError, MissingMetadata, NonPositiveEnergy, XasrepoError
from repository.formats import read_path


def _two_columns(path, energy):
    intensity = np.exp(-((energy - energy.mean()) / 3.0) ** 2)
    path.write_text("".join(f"{e:.3f} {i:.6f}\n" for e, i in zip(energy, intensity)))
    return path


def test_a_file_that_does_not_name_its_element_raises_missing_metadata(tmp_path):
    path = _two_columns(tmp_path / "plain.dat", np.linspace(180.0, 220.0, 81))
    with pytest.raises(MissingMetadata, match="plain.dat: the file does not say which element absorbs") as err:
        read_path(path)
    assert isinstance(err.value, InputError) and err.value.exit_code == 2
    assert len(read_path(path, element="B", edge="K")) == 1  # what a caller that knows them does next


def test_energies_relative_to_the_edge_raise_non_positive_energy(tmp_path):
    path = _two_columns(tmp_path / "relative.dat", np.linspace(-10.0, 30.0, 81))
    with pytest.raises(NonPositiveEnergy, match="lowest is -10 .*relative to the edge") as err:
        read_path(path, element="B", edge="K")
    assert isinstance(err.value, InputError)
    shifted = read_path(path, element="B", edge="K", edge_energy_ev=188.0)[0]
    assert shifted.spectrum.energy_ev[0] == pytest.approx(178.0)


def test_other_bad_input_is_neither_subclass(tmp_path):
    path = tmp_path / "words.dat"
    path.write_text("1 2\nthree 4\n")
    with pytest.raises(XasrepoError) as err:
        read_path(path, element="B", edge="K")
    assert not isinstance(err.value, (MissingMetadata, NonPositiveEnergy))
