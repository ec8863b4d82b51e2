"""Position noisers (field ``"positions"``): gas phase, periodic bulk, surface.

All three add isotropic Gaussian noise in Å to mobile atoms and train the
score network's ``"positions"`` head to predict the standard noise
``eps``: the target is ``-std(t) * score``, with the *exact* score of each
noiser's transition density, so the sampler reads the score back as
``-eps_hat / std(t)`` (spec 4: no mismatch between what is trained and what
is integrated).

``gas``
    Molecules and clusters (no periodic axis). Prior ``N(0, std(1)^2)``;
    with no fixed atom the noise and the structure are centred (zero mean
    over the mobile atoms), so the process lives in the space the network
    cannot tell translations apart in. VE or VP.
``periodic``
    Bulk crystals (periodic along all three axes). The transition density
    is the wrapped normal on the cell (:mod:`asegen.diffusion.wrapped`),
    the prior uniform over the cell, which the marginal at ``t = 1`` equals
    once ``sigma_max`` is a fair fraction of the cell (0.6 x the largest
    plane spacing gives a relative deviation below 1e-3). VE only: a VP
    drift pulls toward an origin a crystal does not have.
``surface``
    Overlayers and adsorbates: periodic along the first two cell vectors,
    the height along their normal confined to ``[lo, hi]`` by reflecting
    walls (the structure label ``"confinement"``, ``(S, 2)`` in Å). Prior
    uniform in that slab of space. VE only.

Each reverse step is Euler–Maruyama on the reverse SDE; the corrector is a
Langevin step with the step size set by a signal-to-noise ratio (Song et
al. 2021). After every move, periodic coordinates are wrapped into the cell
and heights folded back into the window.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from asegen.diffusion.noiser import Noiser, mobile
from asegen.diffusion.sde import SDE, VESDE, sde_from_hparams
from asegen.diffusion.wrapped import lattice_gaussian_score, reflected_gaussian_score
from asegen.errors import ConfigError
from asegen.graph import AtomsGraph
from asegen.nn import scatter_sum

__all__ = [
    "CONFINEMENT",
    "GasPositions",
    "PeriodicPositions",
    "PositionNoiser",
    "SurfacePositions",
    "fold",
    "position_noiser",
    "positions_from_hparams",
    "wrap",
]

#: Structure label of the surface noiser's window ``[lo, hi]`` along the normal.
CONFINEMENT = "confinement"
TARGET = "positions_target"


class PositionNoiser(Noiser):
    """What the three position noisers share; see the module docs.

    Parameters
    ----------
    sde
        The forward SDE of the positions (Å).
    snr
        Signal-to-noise ratio of the Langevin corrector.
    """

    field = "positions"
    kind: ClassVar[str] = ""

    def __init__(self, sde: SDE | None = None, *, snr: float = 0.4) -> None:
        self.sde = sde or VESDE()
        self.snr = float(snr)

    # -- what differs between the three -------------------------------------

    def _score(self, graph: AtomsGraph, clean: Tensor, std: Tensor) -> Tensor:
        """Exact score of the transition density at ``graph.positions``."""
        raise NotImplementedError

    def _prior(self, graph: AtomsGraph, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def _confine(self, graph: AtomsGraph, positions: Tensor) -> Tensor:
        """Bring moved positions back into the space the noiser lives in."""
        return positions

    def _origin(self, graph: AtomsGraph) -> Tensor:
        """Per-atom point a VP drift pulls toward, ``(N, 3)`` (zero here)."""
        return torch.zeros_like(graph.positions)

    def _noise(self, graph: AtomsGraph, generator: torch.Generator) -> Tensor:
        """Draw standard normal noise on mobile atoms (``(N, 3)``, zero elsewhere)."""
        noise = torch.randn(
            graph.positions.shape, generator=generator, dtype=graph.positions.dtype
        ).to(graph.positions.device)
        return noise * mobile(graph)[:, None]

    # -- the contract ----------------------------------------------------------

    def corrupt(
        self, graph: AtomsGraph, t: Tensor, generator: torch.Generator
    ) -> AtomsGraph:
        """Noise mobile atoms to ``t`` and attach ``positions_target`` (``eps``)."""
        t_atom = t.to(graph.positions.dtype)[graph.batch]
        std, mean = self.sde.std(t_atom), self.sde.mean(t_atom)
        clean = graph.positions
        noised = mean[:, None] * clean + std[:, None] * self._noise(graph, generator)
        keep = mobile(graph)[:, None]
        moved = graph.replace(positions=torch.where(keep, noised, clean))
        confined = self._confine(moved, moved.positions)
        moved = moved.replace(positions=torch.where(keep, confined, clean))
        target = -std[:, None] * self._score(moved, mean[:, None] * clean, std)
        return moved.with_labels(atom={TARGET: torch.where(keep, target, 0.0)})

    def loss(self, output: Tensor, graph: AtomsGraph) -> Tensor:
        """Mean squared error of the predicted noise over mobile atoms."""
        keep = mobile(graph)
        if not keep.any():
            return output.sum() * 0.0
        error = (output - graph.atom_labels[TARGET].to(output.dtype))[keep]
        return error.pow(2).mean()

    def prior(self, graph: AtomsGraph, generator: torch.Generator) -> AtomsGraph:
        """Draw mobile atoms from the prior; fixed atoms stay."""
        drawn = self._prior(graph, generator)
        keep = mobile(graph)[:, None]
        return graph.replace(positions=torch.where(keep, drawn, graph.positions))

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
        """One Euler–Maruyama step of the reverse SDE from ``t`` to ``t - dt``."""
        time = torch.full_like(graph.positions[:, 0], t)
        score = self.score(graph, output, t)
        g2 = self.sde.g2(time)[:, None]
        drift = self.sde.drift(time)[:, None] * (graph.positions - self._origin(graph))
        move = (g2 * score - drift) * dt
        if not last:
            move = move + (g2 * dt).sqrt() * self._noise(graph, generator)
        return self._moved(graph, move)

    def correct(
        self,
        graph: AtomsGraph,
        output: Tensor,
        t: float,
        generator: torch.Generator,
        dt: float,
    ) -> AtomsGraph:
        """One Langevin step at ``t``: the step size of ``snr``, at most ``g^2 dt``."""
        time = torch.full_like(graph.positions[:, 0], t)
        score = self.score(graph, output, t)
        noise = self._noise(graph, generator)
        n = graph.n_structures
        score_norm = scatter_sum(score.pow(2).sum(1), graph.batch, n).sqrt()
        noise_norm = scatter_sum(noise.pow(2).sum(1), graph.batch, n).sqrt()
        size = 2 * (self.snr * noise_norm / score_norm.clamp_min(1e-12)) ** 2  # (S,)
        # no larger than the predictor's own step: where the score is flat
        # (between modes, few atoms) the ratio rule alone takes huge steps
        size = torch.minimum(size[graph.batch], self.sde.g2(time) * dt)[:, None]
        return self._moved(graph, size * score + (2 * size).sqrt() * noise)

    def score(self, graph: AtomsGraph, output: Tensor, t: float) -> Tensor:
        """Return the score ``-eps_hat / std(t)`` of mobile atoms (zero elsewhere)."""
        std = self.sde.std(torch.tensor(t, dtype=output.dtype)).clamp_min(1e-12)
        return -output * mobile(graph)[:, None] / std

    def _moved(self, graph: AtomsGraph, move: Tensor) -> AtomsGraph:
        keep = mobile(graph)[:, None]
        positions = torch.where(keep, graph.positions + move, graph.positions)
        positions = torch.where(keep, self._confine(graph, positions), graph.positions)
        return graph.replace(positions=positions)

    def hparams(self) -> dict[str, Any]:
        """``field``, ``kind``, the SDE and the corrector's ``snr``."""
        return {
            "field": self.field,
            "kind": self.kind,
            "sde": self.sde.hparams(),
            "snr": self.snr,
        }


class GasPositions(PositionNoiser):
    """Molecules and clusters: Gaussian kernel and prior, centred.

    A structure without fixed atoms is centred on its mobile atoms and its
    noise has zero mean; one with fixed atoms (a template) is centred on
    them, and the prior and a VP drift are centred there too.
    """

    kind = "gas"

    def _means(self, graph: AtomsGraph, values: Tensor, atoms: Tensor) -> Tensor:
        """Per-structure mean of ``values`` over the masked ``atoms``, ``(S, 3)``."""
        n = graph.n_structures
        weight = atoms.to(values.dtype)
        count = scatter_sum(weight, graph.batch, n).clamp_min(1.0)
        return scatter_sum(values * weight[:, None], graph.batch, n) / count[:, None]

    def _free(self, graph: AtomsGraph) -> Tensor:
        """``(S,)``: structures without fixed atoms."""
        fixed = graph.fixed.to(graph.positions.dtype)
        return scatter_sum(fixed, graph.batch, graph.n_structures) == 0

    def _centred(self, graph: AtomsGraph, values: Tensor) -> Tensor:
        """Zero the mean over mobile atoms of structures without fixed atoms."""
        keep = mobile(graph)
        mean = self._means(graph, values, keep) * self._free(graph)[:, None]
        return values - mean[graph.batch] * keep[:, None]

    def _origin(self, graph: AtomsGraph) -> Tensor:
        return self._means(graph, graph.positions, graph.fixed)[graph.batch]

    def _noise(self, graph: AtomsGraph, generator: torch.Generator) -> Tensor:
        return self._centred(graph, super()._noise(graph, generator))

    def corrupt(
        self, graph: AtomsGraph, t: Tensor, generator: torch.Generator
    ) -> AtomsGraph:
        """Centre the clean structure (see the class docs), then noise it."""
        free = self._free(graph)[:, None]
        centre = torch.where(
            free,
            self._means(graph, graph.positions, mobile(graph)),
            self._means(graph, graph.positions, graph.fixed),
        )
        shifted = graph.replace(positions=graph.positions - centre[graph.batch])
        return super().corrupt(shifted, t, generator)

    def _score(self, graph: AtomsGraph, clean: Tensor, std: Tensor) -> Tensor:
        return -(graph.positions - clean) / std[:, None] ** 2

    def _prior(self, graph: AtomsGraph, generator: torch.Generator) -> Tensor:
        return self._origin(graph) + self.sde.prior_std() * self._noise(
            graph, generator
        )

    def score(self, graph: AtomsGraph, output: Tensor, t: float) -> Tensor:
        """Return the score, centred like the process."""
        return self._centred(graph, super().score(graph, output, t))


class PeriodicPositions(PositionNoiser):
    """Bulk crystals: wrapped normal on the cell, uniform prior."""

    kind = "periodic"

    def __init__(self, sde: SDE | None = None, *, snr: float = 0.4) -> None:
        super().__init__(sde, snr=snr)
        _require_ve(self.sde, self.kind)

    def _score(self, graph: AtomsGraph, clean: Tensor, std: Tensor) -> Tensor:
        lattice = graph.cell[graph.batch]  # (N, 3, 3)
        return lattice_gaussian_score(graph.positions - clean, lattice, std)

    def _prior(self, graph: AtomsGraph, generator: torch.Generator) -> Tensor:
        fractional = torch.rand(
            graph.positions.shape, generator=generator, dtype=graph.positions.dtype
        ).to(graph.positions.device)
        return torch.einsum("na,nab->nb", fractional, graph.cell[graph.batch])

    def _confine(self, graph: AtomsGraph, positions: Tensor) -> Tensor:
        return wrap(positions, graph.cell[graph.batch], (0, 1, 2))


class SurfacePositions(PositionNoiser):
    """Slabs: periodic in the plane, heights reflected inside ``[lo, hi]``."""

    kind = "surface"

    def __init__(self, sde: SDE | None = None, *, snr: float = 0.4) -> None:
        super().__init__(sde, snr=snr)
        _require_ve(self.sde, self.kind)

    def _frame(self, graph: AtomsGraph) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """In-plane lattice ``(N, 2, 3)``, unit normal ``(N, 3)``, ``lo``, ``hi``."""
        if CONFINEMENT not in graph.structure_labels:
            raise ConfigError(
                "the surface noiser needs a confinement window [lo, hi] (Å along "
                "the surface normal); set it in the diffusion settings or "
                "atoms.info['confinement']"
            )
        plane = graph.cell[graph.batch][:, :2]  # (N, 2, 3)
        normal = torch.linalg.cross(plane[:, 0], plane[:, 1])
        normal = normal / normal.norm(dim=1, keepdim=True)
        window = graph.structure_labels[CONFINEMENT].to(plane.dtype)[graph.batch]
        return plane, normal, window[:, 0], window[:, 1]

    def _score(self, graph: AtomsGraph, clean: Tensor, std: Tensor) -> Tensor:
        plane, normal, lo, hi = self._frame(graph)
        d = graph.positions - clean
        in_plane = d - (d * normal).sum(1, keepdim=True) * normal
        height = (graph.positions * normal).sum(1)
        height0 = (clean * normal).sum(1)
        across = reflected_gaussian_score(height, height0, lo, hi, std)
        return lattice_gaussian_score(in_plane, plane, std) + across[:, None] * normal

    def _prior(self, graph: AtomsGraph, generator: torch.Generator) -> Tensor:
        plane, normal, lo, hi = self._frame(graph)
        draw = torch.rand(
            graph.positions.shape, generator=generator, dtype=graph.positions.dtype
        ).to(graph.positions.device)
        height = lo + (hi - lo) * draw[:, 2]
        return torch.einsum("na,nab->nb", draw[:, :2], plane) + height[:, None] * normal

    def _confine(self, graph: AtomsGraph, positions: Tensor) -> Tensor:
        plane, normal, lo, hi = self._frame(graph)
        height = (positions * normal).sum(1)
        folded = fold(height, lo, hi)
        positions = positions + (folded - height)[:, None] * normal
        frame = torch.cat([plane, normal[:, None]], dim=1)  # invertible, any c
        return wrap(positions, frame, (0, 1))

    def corrupt(
        self, graph: AtomsGraph, t: Tensor, generator: torch.Generator
    ) -> AtomsGraph:
        """Check that every mobile atom starts inside the window, then noise."""
        _, normal, lo, hi = self._frame(graph)
        height = (graph.positions * normal).sum(1)
        outside = mobile(graph) & ((height < lo - 1e-6) | (height > hi + 1e-6))
        if outside.any():
            k = int(torch.nonzero(outside)[0, 0])
            raise ConfigError(
                f"mobile atom {k} lies at height {float(height[k]):.3f} Å, outside "
                f"the confinement window [{float(lo[k]):.3f}, {float(hi[k]):.3f}]; "
                "widen the window or fix the atom (FixAtoms)"
            )
        return super().corrupt(graph, t, generator)


def wrap(positions: Tensor, cells: Tensor, axes: tuple[int, ...]) -> Tensor:
    """Wrap ``(N, 3)`` positions into their ``(N, 3, 3)`` cells along ``axes``."""
    fractional = torch.linalg.solve(cells.transpose(1, 2), positions)  # x = f L
    index = list(axes)
    fractional[:, index] = fractional[:, index] - torch.floor(fractional[:, index])
    return torch.einsum("na,nab->nb", fractional, cells)


def fold(height: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    """Reflect heights at the walls ``lo`` and ``hi`` until they lie between."""
    width = hi - lo
    u = torch.remainder(height - lo, 2 * width)
    return lo + torch.where(u > width, 2 * width - u, u)


def _require_ve(sde: SDE, kind: str) -> None:
    if sde.kind != "ve":
        raise ConfigError(
            f"the {kind} position noiser needs the VE SDE: a VP drift pulls atoms "
            "toward an origin that a periodic cell does not have"
        )


_KINDS: dict[str, type[PositionNoiser]] = {
    "gas": GasPositions,
    "periodic": PeriodicPositions,
    "surface": SurfacePositions,
}


def position_noiser(
    kind: str, sde: SDE | None = None, **options: Any
) -> PositionNoiser:
    """Return the position noiser ``kind``: ``gas``, ``periodic`` or ``surface``."""
    if kind not in _KINDS:
        raise ConfigError(
            f"unknown position noiser {kind!r}; choose one of {sorted(_KINDS)}"
        )
    return _KINDS[kind](sde, **options)


def positions_from_hparams(hparams: dict[str, Any]) -> PositionNoiser:
    """Rebuild a position noiser from its :meth:`~PositionNoiser.hparams`."""
    return position_noiser(
        hparams["kind"], sde_from_hparams(hparams["sde"]), snr=hparams["snr"]
    )
