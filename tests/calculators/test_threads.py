"""Thread pools of a calculator's evaluations.

torch's are chosen per call and restored after; numpy's BLAS pools are held
while a calculator of small cells lives.
"""

import gc

import pytest
import torch
from ase.build import bulk
from calculator_factories import alignn_model
from threadpoolctl import ThreadpoolController

import asegen.calculators.base as base
from asegen.calculators import ALIGNNCalculator
from asegen.calculators._blas import POOL_VARIABLES
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


@pytest.fixture
def blas_pools(monkeypatch):
    """numpy's BLAS pools at two threads, the environment silent about pools."""
    for name in POOL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    controller = ThreadpoolController()
    if not controller.select(user_api="blas").lib_controllers:
        pytest.skip("numpy has no BLAS library threadpoolctl can see")
    with controller.limit(limits=2, user_api="blas"):

        def threads():
            gc.collect()
            found = ThreadpoolController().select(user_api="blas").info()
            return {pool["num_threads"] for pool in found}

        assert threads() == {2}
        yield threads


def test_small_cells_hold_blas_at_one_thread_until_the_calculator_goes(blas_pools):
    atoms = cell(2)  # 32 atoms
    atoms.calc = ALIGNNCalculator(alignn_model(), device="cpu")
    assert blas_pools() == {2}  # nothing happens before an evaluation
    atoms.get_potential_energy()
    assert blas_pools() == {1}  # held between evaluations: ASE's numpy runs there
    other = ALIGNNCalculator(alignn_model(), device="cpu")
    other.calculate_batch([cell(1)])
    atoms.calc = None
    assert blas_pools() == {1}  # the other calculator still holds them
    other.calculate_batch([cell(4)])  # 256 atoms: it lets go
    assert blas_pools() == {2}


def test_blas_threads_opt_out_and_explicit(blas_pools, monkeypatch):
    ALIGNNCalculator(alignn_model(), device="cpu", blas_threads=None).calculate_batch(
        [cell(1)]
    )
    assert blas_pools() == {2}
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # the user chose: auto obeys
    kept = ALIGNNCalculator(alignn_model(), device="cpu")
    kept.calculate_batch([cell(1)])
    assert blas_pools() == {2}
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    kept.blas_threads = 1  # an integer holds for every size
    kept.calculate_batch([cell(4)])
    assert blas_pools() == {1}
    del kept
    assert blas_pools() == {2}
    with pytest.raises(ConfigError, match="blas_threads"):
        ALIGNNCalculator(alignn_model(), device="cpu", blas_threads=0)
