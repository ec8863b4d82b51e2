"""The weight average: its warm-up and its resume."""

from __future__ import annotations

import torch
from torch import nn

from asegen.train.ema import WeightAverage


def _walk(model: nn.Module, average: WeightAverage, steps: int) -> list[float]:
    """Set the weight to 1, 2, ..., ``steps`` in turn; return the averages."""
    seen = []
    for k in range(1, steps + 1):
        with torch.no_grad():
            model.weight.fill_(float(k))
        average.update(model)
        seen.append(float(average.shadow["weight"][0, 0]))
    return seen


def test_warm_up_follows_the_weights_early():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)  # the "random" initial weight
    average = WeightAverage(model, 0.999)
    seen = _walk(model, average, 800)
    # without the warm-up 0.999^800 = 45 % of the initial 0 would remain and the
    # average would sit near 0.55 x the weights' mean; with it, it trails by
    # about the last ~1 / (1 - d_n) ~ 90 steps
    assert seen[-1] > 700
    # each step's decay is min(0.999, (1 + n) / (10 + n)): the first is 2/11
    assert abs(seen[0] - (1 - 2 / 11) * 1.0) < 1e-6


def test_decay_caps_the_warm_up():
    model = nn.Linear(1, 1, bias=False)
    average = WeightAverage(model, 0.5)
    _walk(model, average, 10)  # (1 + n) / (10 + n) passes 0.5 at n = 9
    before = float(average.shadow["weight"][0, 0])
    with torch.no_grad():
        model.weight.fill_(40.0)
    average.update(model)
    after = float(average.shadow["weight"][0, 0])
    assert abs(after - (0.5 * before + 0.5 * 40.0)) < 1e-6


def test_load_restores_the_step_count():
    model = nn.Linear(1, 1, bias=False)
    first = WeightAverage(model, 0.999)
    _walk(model, first, 50)
    second = WeightAverage(model, 0.999)
    second.load({"weight": first.shadow["weight"].clone()}, updates=first.updates)
    with torch.no_grad():
        model.weight.fill_(100.0)
    first.update(model)
    second.update(model)
    assert torch.equal(first.shadow["weight"], second.shadow["weight"])
