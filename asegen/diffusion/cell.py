"""The lattice noiser (field ``"cell"``): bulk cells diffused toward a cubic prior.

MatterGen's design (Zeni et al. 2025): the cell of a crystal with ``N``
atoms relaxes under a VP SDE to the normal distribution around the cubic
cell of the training density ``rho`` (atoms per Å³),

``m = (N / rho)^(1/3) I``,  element variance ``v = factor N^(2/3)`` Å²

(``factor`` 0.25). Cells are symmetric matrices throughout: a clean cell
``L`` is replaced by the symmetric ``P = (L^T L)^(1/2)`` (the same lattice
turned so that it has no rotational part; fractional coordinates are kept,
so the crystal turns with it) and the noise is a symmetric matrix whose
nine entries each have unit variance. The score network's ``"cell"`` head
predicts that noise; it rotates as ``R M R^T``, like the cell.

In training, a noise draw that would leave a cell with an eigenvalue below
half of the smaller of ``SHRINK`` x the limit edge and the clean cell's own
smallest eigenvalue is drawn again (the noise then follows the normal
truncated there): an elongated training cell, noised at mid times, could
otherwise come out nearly flat, and the neighbour search of a flat cell
with a 6 Å cutoff never ends (it stalled the training of ``pdo-bulk``).

Atoms keep their fractional coordinates whenever the cell moves, so the
position noiser always sees atoms inside the current cell. A structure
with fixed atoms cannot have its cell diffused (fixed atoms would move).

While sampling, the eigenvalues of every cell are kept between
:data:`SHRINK` and :data:`STRETCH` times the limit edge ``(N/rho)^(1/3)``:
a model that pushes a cell toward zero volume (or through it) would
otherwise make the neighbour search of the next step explode. The prior
reaches these bounds with a probability below 1e-3 for ``N >= 4``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from asegen.diffusion.noiser import Noiser
from asegen.diffusion.sde import VPSDE, sde_from_hparams
from asegen.errors import ConfigError
from asegen.graph import AtomsGraph
from asegen.nn import scatter_sum

__all__ = ["CellNoiser", "symmetric_cell"]

TARGET = "cell_target"
#: Sampled cells keep eigenvalues within these multiples of the limit edge.
SHRINK, STRETCH = 0.4, 2.5
#: Noise draws a training cell gets before a near-flat one is accepted.
_REDRAWS = 100


def symmetric_cell(cell: Tensor) -> Tensor:
    """Return ``(L L^T)^(1/2)`` of ``(S, 3, 3)`` cells: the lattice, unrotated.

    With ``L = P U`` (polar decomposition), ``P = L U^T`` is the lattice
    turned by ``U^T``: the same lattice-vector lengths and angles (``P P^T =
    L L^T``), whatever rotation ``L`` had.
    """
    values, vectors = torch.linalg.eigh(cell @ cell.transpose(1, 2))
    roots = values.clamp_min(0.0).sqrt()
    return vectors @ torch.diag_embed(roots) @ vectors.transpose(1, 2)


class CellNoiser(Noiser):
    """Diffuse bulk cells toward a cubic cell of the training density.

    Parameters
    ----------
    density
        Mean number density of the training structures, atoms per Å³.
    sde
        A VP SDE with unit scale (``beta`` from 0.1 to 20, linear, as
        MatterGen); the per-structure limit ``m, v`` is applied on top.
    factor
        ``v / N^(2/3)``: the limit variance per cell entry, Å².
    snr
        Signal-to-noise ratio of the Langevin corrector.
    """

    field = "cell"

    def __init__(
        self,
        density: float,
        sde: VPSDE | None = None,
        *,
        factor: float = 0.25,
        snr: float = 0.2,
    ) -> None:
        if not density > 0:
            raise ConfigError(
                f"the cell noiser needs a positive density, got {density}"
            )
        self.density = float(density)
        self.sde = sde or VPSDE(0.1, 20.0, schedule="linear")
        if self.sde.kind != "vp":
            raise ConfigError("the cell noiser diffuses with the VP SDE only")
        self.factor = float(factor)
        self.snr = float(snr)

    def _limit(self, graph: AtomsGraph) -> tuple[Tensor, Tensor]:
        """Mean cell ``(S, 3, 3)`` and entry standard deviation ``(S,)``."""
        n = graph.n_atoms.to(graph.cell.dtype)
        edge = (n / self.density) ** (1.0 / 3.0)
        eye = torch.eye(3, dtype=graph.cell.dtype, device=graph.cell.device)
        return edge[:, None, None] * eye, (self.factor**0.5) * n ** (1.0 / 3.0)

    def _noise(self, graph: AtomsGraph, generator: torch.Generator) -> Tensor:
        """Symmetric ``(S, 3, 3)`` noise, every entry of unit variance."""
        draw = torch.randn(
            (graph.n_structures, 3, 3), generator=generator, dtype=graph.cell.dtype
        ).to(graph.cell.device)
        upper = torch.triu(draw, diagonal=1)
        return (
            torch.diagonal(draw, dim1=1, dim2=2).diag_embed()
            + upper
            + upper.transpose(1, 2)
        )

    def _check(self, graph: AtomsGraph) -> None:
        if not bool(graph.pbc.all()):
            raise ConfigError(
                "cell diffusion is for bulk crystals, periodic along all three "
                "axes; turn it off (--no-cell) for slabs and molecules"
            )
        fixed = scatter_sum(
            graph.fixed.to(graph.cell.dtype), graph.batch, graph.n_structures
        )
        if bool((fixed > 0).any()):
            raise ConfigError(
                "cell diffusion would move fixed atoms; turn it off (--no-cell) or "
                "remove the FixAtoms constraints"
            )

    def _bounded(self, graph: AtomsGraph, cell: Tensor) -> Tensor:
        """Clamp the eigenvalues of symmetric cells into the sampling bounds."""
        mean, _ = self._limit(graph)
        edge = mean[:, 0, 0][:, None]  # (S, 1)
        sym = 0.5 * (cell + cell.transpose(1, 2))
        values, vectors = torch.linalg.eigh(sym)
        values = torch.minimum(torch.maximum(values, SHRINK * edge), STRETCH * edge)
        return vectors @ torch.diag_embed(values) @ vectors.transpose(1, 2)

    def _with_cell(self, graph: AtomsGraph, cell: Tensor) -> AtomsGraph:
        """Change the cells, keeping every atom's fractional coordinates."""
        old = graph.cell[graph.batch]  # (N, 3, 3)
        fractional = torch.linalg.solve(old.transpose(1, 2), graph.positions)
        positions = torch.einsum("na,nab->nb", fractional, cell[graph.batch])
        return graph.replace(cell=cell, positions=positions)

    def corrupt(
        self, graph: AtomsGraph, t: Tensor, generator: torch.Generator
    ) -> AtomsGraph:
        """Symmetrise the cells, noise them to ``t`` and attach ``cell_target``."""
        self._check(graph)
        t = t.to(graph.cell.dtype)
        mean, scale = self._limit(graph)
        clean = symmetric_cell(graph.cell)
        noise = self._noise(graph, generator)
        coefficient = self.sde.mean(t)[:, None, None]
        std = (scale * self.sde.std(t))[:, None, None]
        drift = mean + coefficient * (clean - mean)
        floor = 0.5 * torch.minimum(
            SHRINK * mean[:, 0, 0], torch.linalg.eigvalsh(clean)[:, 0]
        )
        for _ in range(_REDRAWS):  # a near-flat cell would flood the neighbour search
            flat = torch.linalg.eigvalsh(drift + std * noise)[:, 0] < floor
            if not bool(flat.any()):
                break
            again = self._noise(graph, generator)
            noise = torch.where(flat[:, None, None], again, noise)
        noised = drift + std * noise
        moved = self._with_cell(self._with_cell(graph, clean), noised)
        return moved.with_labels(structure={TARGET: noise})

    def loss(self, output: Tensor, graph: AtomsGraph) -> Tensor:
        """Mean squared error of the predicted cell noise."""
        return (output - graph.structure_labels[TARGET].to(output.dtype)).pow(2).mean()

    def prior(self, graph: AtomsGraph, generator: torch.Generator) -> AtomsGraph:
        """Draw every cell from the limit normal distribution.

        Positions are left as they are: the position noiser draws them
        inside the new cell afterwards.
        """
        self._check(graph)
        mean, scale = self._limit(graph)
        cell = mean + scale[:, None, None] * self._noise(graph, generator)
        return graph.replace(cell=self._bounded(graph, cell))  # positions come next

    def score(self, graph: AtomsGraph, output: Tensor, t: float) -> Tensor:
        """Return the score ``-eps_hat / std(t)`` of every cell, ``(S, 3, 3)``."""
        _, scale = self._limit(graph)
        std = scale * self.sde.std(torch.tensor(t, dtype=output.dtype))
        return -output / std.clamp_min(1e-12)[:, None, None]

    def step(
        self,
        graph: AtomsGraph,
        output: Tensor,
        t: float,
        dt: float,
        generator: torch.Generator,
        *,
        last: bool,
    ) -> AtomsGraph:
        """One Euler–Maruyama step of the reverse VP SDE of the cells."""
        mean, scale = self._limit(graph)
        time = torch.tensor(t, dtype=graph.cell.dtype)
        g2 = (scale**2 * self.sde.g2(time))[:, None, None]
        drift = self.sde.drift(time) * (graph.cell - mean)
        move = (g2 * self.score(graph, output, t) - drift) * dt
        if not last:
            move = move + (g2 * dt).sqrt() * self._noise(graph, generator)
        return self._with_cell(graph, self._bounded(graph, graph.cell + move))

    def correct(
        self,
        graph: AtomsGraph,
        output: Tensor,
        t: float,
        generator: torch.Generator,
        dt: float,
    ) -> AtomsGraph:
        """One Langevin step at ``t``: the step size of ``snr``, at most ``g^2 dt``."""
        _, scale = self._limit(graph)
        score = self.score(graph, output, t)
        noise = self._noise(graph, generator)
        ratio = noise.flatten(1).norm(dim=1) / score.flatten(1).norm(dim=1).clamp_min(
            1e-12
        )
        g2 = scale**2 * self.sde.g2(torch.tensor(t, dtype=graph.cell.dtype))
        size = torch.minimum(2 * (self.snr * ratio) ** 2, g2 * dt)[:, None, None]
        cell = graph.cell + size * score + (2 * size).sqrt() * noise
        return self._with_cell(graph, self._bounded(graph, cell))

    def hparams(self) -> dict[str, Any]:
        """``field``, the density, the SDE, ``factor`` and ``snr``."""
        return {
            "field": self.field,
            "density": self.density,
            "sde": self.sde.hparams(),
            "factor": self.factor,
            "snr": self.snr,
        }

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> CellNoiser:
        """Rebuild the noiser from :meth:`hparams`."""
        sde = sde_from_hparams(hparams["sde"])
        assert isinstance(sde, VPSDE)
        return cls(
            hparams["density"], sde, factor=hparams["factor"], snr=hparams["snr"]
        )
