"""Predictor–corrector sampling with classifier-free guidance.

From the prior at ``t = 1`` to ``t_min`` on a uniform time grid, every step
evaluates the score network once on the whole batch (all samples of a call
in one graph) and moves each field with its noiser's reverse-SDE step (the
predictor); with the corrector on, a second evaluation at the new time
drives one Langevin step of each field (Song et al. 2021). Edges are kept
in per-structure neighbour lists with a skin, so a search is redone only
for structures whose atoms moved far enough.

Guidance ``w`` mixes the conditional and unconditional outputs of one
network (Ho & Salimans 2022): ``u + w (c - u)`` for noise predictions, and
the same on log-probabilities of types (the tempered product
``p_u^(1-w) p_c^w``). ``w = 1`` is plain conditional sampling (one pass per
step); any other ``w`` evaluates both in one doubled batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from tqdm import tqdm

from asegen.diffusion.graphs import EdgeCache
from asegen.diffusion.noiser import TIME
from asegen.diffusion.process import Process
from asegen.diffusion.task import field_outputs
from asegen.errors import ConfigError
from asegen.graph import AtomsGraph, batch_graphs
from asegen.models.base import AtomisticModel

__all__ = ["denoise", "guided_outputs"]


def guided_outputs(
    model: AtomisticModel,
    process: Process,
    graph: AtomsGraph,
    guidance: float,
) -> dict[str, Tensor]:
    """Return the field outputs for ``graph``, guided by its property labels."""
    names = [f"property:{name}" for name in process.properties]
    given = [graph.structure_labels[n] for n in names if n in graph.structure_labels]
    conditioned = any(bool(torch.isfinite(v).any()) for v in given)
    if not conditioned or guidance == 1.0:
        return field_outputs(model(graph), process)
    blank = {n: torch.full_like(graph.structure_labels[n], float("nan")) for n in names}
    unconditional = graph.with_labels(structure=blank)
    if guidance == 0.0:
        return field_outputs(model(unconditional), process)
    both = field_outputs(model(batch_graphs([graph, unconditional])), process)
    out = {}
    for name, value in both.items():
        rows = graph.n_structures if name == "cell" else graph.numbers.shape[0]
        cond, uncond = value[:rows], value[rows:]
        if name == "types":
            cond, uncond = cond.log_softmax(-1), uncond.log_softmax(-1)
        out[name] = uncond + guidance * (cond - uncond)
    return out


def denoise(
    model: AtomisticModel,
    process: Process,
    graph: AtomsGraph,
    *,
    fields: tuple[str, ...],
    steps: int,
    corrector: bool,
    guidance: float,
    generator: torch.Generator,
    edges: EdgeCache,
    progress: Callable[[int], None] | None = None,
) -> AtomsGraph:
    """Draw ``fields`` of ``graph`` from the prior and integrate to ``t_min``.

    Fields not listed keep the values ``graph`` holds (a given cell, given
    atom types). ``progress`` is called with 1 after each step.
    """
    noisers = {name: process.noisers[name] for name in fields}
    for noiser in noisers.values():
        graph = noiser.prior(graph, generator)
    dtype = graph.positions.dtype
    grid = torch.linspace(1.0, process.t_min, steps + 1, dtype=torch.float64)
    for k in range(steps):
        t, dt = float(grid[k]), float(grid[k] - grid[k + 1])
        last = k == steps - 1
        graph = _at(edges(graph), t, dtype)
        out = guided_outputs(model, process, graph, guidance)
        for name, noiser in noisers.items():
            graph = noiser.step(graph, out[name].detach(), t, dt, generator, last=last)
        _check_finite(graph, t, guidance, steps)
        if corrector and not last:
            graph = _at(edges(graph), t - dt, dtype)
            out = guided_outputs(model, process, graph, guidance)
            for name, noiser in noisers.items():
                graph = noiser.correct(graph, out[name].detach(), t - dt, generator, dt)
            _check_finite(graph, t, guidance, steps)
        if progress is not None:
            progress(1)
    return graph


def _check_finite(graph: AtomsGraph, t: float, guidance: float, steps: int) -> None:
    """Refuse a batch whose positions or cells stopped being finite."""
    lost = ~torch.isfinite(graph.positions).all(dim=1)
    lost = lost | ~torch.isfinite(graph.cell).flatten(1).all(dim=1)[graph.batch]
    if bool(lost.any()):
        count = len(set(graph.batch[lost].tolist()))
        raise ConfigError(
            f"sampling diverged at t = {t:.3f}: {count} of {graph.n_structures} "
            "structures of the batch have non-finite positions (none of the batch "
            f"is kept); lower the guidance ({guidance:g}) or take more steps "
            f"({steps})"
        )


def _at(graph: AtomsGraph, t: float, dtype: torch.dtype) -> AtomsGraph:
    time = torch.full(
        (graph.n_structures, 1), t, dtype=dtype, device=graph.positions.device
    )
    return graph.with_labels(structure={TIME: time})


def progress_bar(total: int, show: bool | None) -> tqdm:
    """Return a tqdm bar over sampling steps (on a terminal unless ``show`` says)."""
    return tqdm(
        total=total,
        desc="sampling",
        leave=False,
        disable=None if show is None else not show,
    )
