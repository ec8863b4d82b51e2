"""Torch threads of a calculator's evaluations: chosen per call, restored after."""

import pytest
import torch
from ase.build import bulk
from calculator_factories import alignn_model

import asegen.calculators.base as base
from asegen.calculators import ALIGNNCalculator
from asegen.errors import ConfigError


@pytest.fixture
def seen(monkeypatch):
    """The torch thread count inside every model evaluation."""
    counts = []
    predict = base.predict

    def spy(*args, **kwargs):
        counts.append(torch.get_num_threads())
        return predict(*args, **kwargs)

    monkeypatch.setattr(base, "predict", spy)
    return counts


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def cell(repeat):
    return bulk("Cu", "fcc", a=3.6, cubic=True).repeat(repeat)


def test_small_cells_evaluate_with_one_thread_and_restore(seen, two_threads):
    calc = ALIGNNCalculator(alignn_model(), device="cpu")
    atoms = cell(2)  # 32 atoms
    atoms.calc = calc
    atoms.get_potential_energy()
    assert seen == [1]
    assert torch.get_num_threads() == 2  # the caller's setting is back
    large = cell(4)  # 256 atoms: torch's own setting
    assert len(large) >= base.SMALL_ATOMS
    calc.calculate_batch([large])
    assert seen == [1, 2]


def test_explicit_threads_win_and_none_leaves_torch_alone(seen, two_threads):
    ALIGNNCalculator(alignn_model(), device="cpu", threads=3).calculate_batch([cell(1)])
    ALIGNNCalculator(alignn_model(), device="cpu", threads=None).calculate_batch(
        [cell(1)]
    )
    assert seen == [3, 2]
    assert torch.get_num_threads() == 2
    with pytest.raises(ConfigError, match="threads"):
        ALIGNNCalculator(alignn_model(), device="cpu", threads=0)
