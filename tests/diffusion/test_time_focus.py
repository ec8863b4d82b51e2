"""Training times focused where atoms choose their sites (diffusion.time_focus)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule

from asegen.diffusion.config import DiffusionConfig
from asegen.diffusion.process import FOCUS_SHARE, FOCUS_WIDTH, Process
from asegen.errors import ConfigError


def _copper(n: int = 6) -> list:
    rng = np.random.default_rng(0)
    images = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        atoms.rattle(0.02, seed=int(rng.integers(1 << 30)))
        images.append(atoms)
    return images


def test_the_focus_is_where_the_noise_is_a_quarter_of_the_neighbour_distance():
    process = Process.fit(
        DiffusionConfig(noiser="periodic", cell=False, time_focus=0.25), _copper()
    )
    assert process.focus is not None
    std = process.noisers["positions"].sde.std(torch.tensor(process.focus))
    # fcc: d_nn = a / sqrt(2), a little less for the nearest of 12 rattled ones
    assert abs(float(std) - 0.25 * 3.6 / 2**0.5) < 0.03
    # the same fraction of a larger lattice lies later in time
    wide = [a.copy() for a in _copper()]
    for atoms in wide:
        atoms.set_cell(atoms.cell * 1.5, scale_atoms=True)
    later = Process.fit(
        DiffusionConfig(noiser="periodic", cell=False, time_focus=0.25), wide
    )
    assert later.focus > process.focus


def test_half_of_the_training_times_come_from_around_the_focus():
    process = Process.fit(
        DiffusionConfig(noiser="periodic", cell=False, time_focus=0.25), _copper()
    )
    generator = torch.Generator().manual_seed(0)
    times = process.draw_times(generator, 4000, train=True).numpy()
    assert times.min() >= process.t_min
    assert times.max() <= 1.0
    near = np.abs(times - process.focus) < 2 * FOCUS_WIDTH
    # uniform alone puts 4 x FOCUS_WIDTH of the times there
    expected = FOCUS_SHARE * 0.954 + (1 - FOCUS_SHARE) * 4 * FOCUS_WIDTH
    assert abs(near.mean() - expected) < 0.03
    # validation and test items keep uniform times
    held = process.draw_times(generator, 4000, train=False).numpy()
    assert abs((np.abs(held - process.focus) < 2 * FOCUS_WIDTH).mean() - 0.4) < 0.03


def test_focus_round_trips_and_can_be_turned_off():
    process = Process.fit(
        DiffusionConfig(noiser="periodic", cell=False, time_focus=0.25), _copper()
    )
    assert Process.from_hparams(process.hparams()).focus == process.focus
    # focused times by default for every noiser; 0: off
    for noiser in ("periodic", "gas", "surface"):
        assert DiffusionConfig(noiser=noiser).time_focus == 0.25
    plain = Process.fit(
        DiffusionConfig(noiser="periodic", cell=False, time_focus=0), _copper()
    )
    assert plain.focus is None
    assert Process.fit(DiffusionConfig(noiser="periodic"), _copper()).focus
    off = DiffusionConfig(noiser="surface", time_focus=0)
    assert off.time_focus == 0
    assert off.sigma_max == 1.0
    assert DiffusionConfig(noiser="periodic").sigma_max == 10.0
    gas = Process.fit(DiffusionConfig(noiser="gas"), [molecule("H2O")])
    assert gas.focus is not None
    # an old checkpoint's process has no focus: uniform
    old = process.hparams()
    del old["focus"]
    assert Process.from_hparams(old).focus is None


@pytest.mark.parametrize("value", [-1, 20, "half", True])
def test_a_bad_focus_is_one_line_naming_the_key(value):
    with pytest.raises(ConfigError, match=r"diffusion\.time_focus"):
        DiffusionConfig(time_focus=value)
