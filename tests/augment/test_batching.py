"""Batched labelling across families (``calculate_batch``) changes no structure."""

import numpy as np
import pytest
import torch
from ase.calculators.emt import EMT
from augment_helpers import BatchEMT, cu_cell, cu_cluster

from asegen.augment import Augmenter


def run(calc, images, **options):
    augmenter = Augmenter(calc, n_per_structure=5, seed=3, cell_sigma=0.02, **options)
    return list(augmenter.run(images)), augmenter.stats


def images():
    return [cu_cell(k) for k in range(4)] + [cu_cluster(5)]


def test_batch_width_does_not_change_the_output():
    BatchEMT.batches = []
    wide, wide_stats = run(BatchEMT(), images(), batch_size=8)
    assert max(BatchEMT.batches) == 5  # every family in one call
    BatchEMT.batches = []
    narrow, narrow_stats = run(BatchEMT(), images(), batch_size=2)
    assert max(BatchEMT.batches) == 2
    assert wide_stats == narrow_stats
    for a, b in zip(wide, narrow, strict=True):
        assert a.info == b.info
        np.testing.assert_array_equal(a.positions, b.positions)
        assert a.get_potential_energy() == b.get_potential_energy()


def test_batched_equals_one_structure_at_a_time():
    batched, batched_stats = run(BatchEMT(), images(), batch_size=8)
    single, single_stats = run(EMT(), images())
    assert batched_stats == single_stats
    for a, b in zip(batched, single, strict=True):
        assert a.info == b.info
        np.testing.assert_allclose(a.positions, b.positions, atol=2e-8)
        assert a.get_potential_energy() == pytest.approx(
            b.get_potential_energy(), abs=1e-10
        )
        if a.pbc.all():
            np.testing.assert_allclose(a.get_stress(), b.get_stress(), atol=1e-10)


def test_alignn_batches_match_single_calls():
    from calculator_factories import alignn_calculator

    calc = alignn_calculator(dtype=torch.float64)
    settings = {"max_force": 1e6, "n_per_structure": 3, "seed": 1}
    cells = [cu_cell(k, repeat=(1, 1, 2)) for k in range(3)]
    batched = list(Augmenter(calc, batch_size=4, **settings).run(cells))
    single = list(Augmenter(calc, batch_size=1, **settings).run(cells))
    for a, b in zip(batched, single, strict=True):
        assert a.info == b.info
        np.testing.assert_allclose(a.positions, b.positions, atol=2e-8)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-8)
        assert a.get_potential_energy() == pytest.approx(
            b.get_potential_energy(), abs=1e-8
        )


class GpuBatchEMT(BatchEMT):
    """A batching calculator that asks for GPU-sized batches."""

    batch_size = 32


@pytest.mark.parametrize(("calc", "largest"), [(BatchEMT, 4), (GpuBatchEMT, 32)])
def test_default_batch_is_the_calculators_choice(calc, largest):
    # 40 families: labelled 32 per call when the calculator asks for it, else 4
    cells = [cu_cell(k % 4) for k in range(40)]
    BatchEMT.batches = []
    run(calc(), cells)
    assert max(BatchEMT.batches) == largest


def test_torch_calculators_choose_small_batches_on_a_cpu():
    from calculator_factories import alignn_calculator

    calc = alignn_calculator(dtype=torch.float64)
    assert calc.batch_size == 4
    assert Augmenter(calc).batch_size == 4
    calls = []  # structures per model call
    calc.model.register_forward_pre_hook(
        lambda module, args: calls.append(len(args[0].n_atoms))
    )
    cells = [cu_cell(k % 4, repeat=(1, 1, 2)) for k in range(10)]
    assert len(calc.calculate_batch(cells)) == 10
    assert calls == [4, 4, 2]
