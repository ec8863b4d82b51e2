"""Settings of the diffusion task: the ``diffusion`` section of a run config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asegen._config import check_choice, check_type
from asegen.errors import ConfigError

__all__ = ["FIELDS", "DiffusionConfig"]

#: The fields a diffusion model can generate, in the order they are noised.
FIELDS = ("cell", "positions", "types")


def _default_weights() -> dict[str, float]:
    return dict.fromkeys(FIELDS, 1.0)


@dataclass(frozen=True)
class DiffusionConfig:
    """Every option of the diffusion task.

    Attributes
    ----------
    noiser
        How positions diffuse: ``"gas"`` (molecules, clusters),
        ``"periodic"`` (bulk crystals) or ``"surface"`` (slabs: periodic in
        the plane, heights confined to ``confinement``).
    sde
        ``"ve"`` or ``"vp"`` (gas only) for the positions; ``None`` (default):
        VP for the gas noiser, VE otherwise.
    sigma_min, sigma_max
        Noise of the VE SDE at ``t = 0`` and ``t = 1``, Å. ``sigma_max``
        ``None`` (default): 10 Å, at least 0.6 x the largest lattice-plane
        spacing of cells up to about 16 Å, so that the marginal at ``t = 1``
        is the uniform prior; for the ``"surface"`` noiser 1 Å: atoms added
        to a fixed slab choose among the sites the slab offers, and wider
        noise only spreads them over the window, where the uniform prior
        puts them anyway (docs/diffusion.md has the measurements).
    beta_min, beta_max
        Rates of the VP SDE (gas only).
    prior_scale
        Standard deviation of the VP prior, Å; ``None`` (default): the RMS
        distance of the training atoms from their structure's centre, so the
        prior is as large as the molecules and its atoms stay within the
        network's cutoff of each other (VE noise of ``sigma_max`` would fly
        them apart).
    types
        Diffuse atom types over the training elements; without it, samples
        need ``atomic_numbers`` or a formula.
    types_kind
        ``"absorbing"`` (mask, default) or ``"uniform"`` type noise.
    cell
        Diffuse the cell (MatterGen's lattice noiser); ``None`` (default):
        on for ``"periodic"``, off otherwise. Without it, samples need a
        cell (or a template that has one).
    confinement
        ``[lo, hi]``: heights along the surface normal (Å) between which the
        surface noiser keeps mobile atoms; ``atoms.info["confinement"]`` of
        a structure wins. The model also keeps the windows relative to each
        structure's highest fixed atom, for templates sampled without one.
    conditioning
        Properties to condition on, by name: ``"scalar"``, ``"integer"`` or
        ``{"kind": "integer", "classes": C}``; read from ``atoms.info[name]``
        or a calculator result (``energy``, ``energy_per_atom``, ...).
    p_uncond
        Probability of training a structure without its properties, so that
        one model gives both scores of classifier-free guidance.
    repeat, repeat_epoch
        Tile periodic training cells ``p x p x 1`` along the first two cell
        vectors, ``p = 1 .. repeat``, advancing every ``repeat_epoch``
        epochs; validation uses the cells as given.
    weights
        Loss weight of each field.
    t_min
        Smallest diffusion time drawn in training and reached by sampling.
    time_focus
        Draw half of the training times around the time where the positions'
        noise is ``time_focus`` x the training structures' median
        nearest-neighbour distance (a normal of width 0.1 in ``t``), the
        other half uniformly in ``[t_min, 1]``; around 0.25 the atoms choose
        their sites. ``0``: all uniform. Focused models sample as well in 60
        steps as in 100, so that is their default (docs/diffusion.md).
    snr
        Signal-to-noise ratio of the positions' Langevin corrector.
    """

    noiser: str = "periodic"
    sde: str | None = None
    sigma_min: float = 0.01
    sigma_max: float | None = None
    beta_min: float = 0.1
    beta_max: float = 20.0
    prior_scale: float | None = None
    types: bool = True
    types_kind: str = "absorbing"
    cell: bool | None = None
    confinement: list[float] | None = None
    conditioning: dict[str, Any] = field(default_factory=dict)
    p_uncond: float = 0.2
    repeat: int = 1
    repeat_epoch: int = 1
    weights: dict[str, float] = field(default_factory=_default_weights)
    t_min: float = 1e-3
    time_focus: float = 0.25
    snr: float = 0.4

    def __post_init__(self) -> None:
        """Check every choice and range, naming the key."""
        check_choice("diffusion.noiser", self.noiser, ("gas", "periodic", "surface"))
        if self.sde is None:
            object.__setattr__(self, "sde", "vp" if self.noiser == "gas" else "ve")
        check_choice("diffusion.sde", self.sde, ("ve", "vp"))
        if self.sigma_max is None:
            surface = self.noiser == "surface"
            object.__setattr__(self, "sigma_max", 1.0 if surface else 10.0)
        check_choice("diffusion.types_kind", self.types_kind, ("absorbing", "uniform"))
        if self.sde == "vp" and self.noiser != "gas":
            raise ConfigError(
                f"diffusion.sde 'vp' works with the gas noiser only; the "
                f"{self.noiser} noiser needs 've'"
            )
        if self.cell_diffused and self.noiser != "periodic":
            raise ConfigError(
                "diffusion.cell is for bulk crystals (noiser 'periodic'); set it "
                "to false"
            )
        if self.confinement is not None:
            window = list(self.confinement)
            if len(window) != 2 or not window[0] < window[1]:
                raise ConfigError(
                    "diffusion.confinement must be [lo, hi] with lo < hi (Å), "
                    f"got {self.confinement}"
                )
        if self.prior_scale is not None and not self.prior_scale > 0:
            raise ConfigError(
                f"diffusion.prior_scale must be positive (Å), got {self.prior_scale}"
            )
        if not 0 <= self.p_uncond < 1:
            raise ConfigError(
                f"diffusion.p_uncond must lie in [0, 1), got {self.p_uncond}"
            )
        for name in ("repeat", "repeat_epoch"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"diffusion.{name} must be at least 1")
        if not 0 < self.t_min < 1:
            raise ConfigError(f"diffusion.t_min must lie in (0, 1), got {self.t_min}")
        check_type("diffusion.time_focus", self.time_focus, float)
        if not 0 <= self.time_focus < 10:
            raise ConfigError(
                "diffusion.time_focus is a fraction of the nearest-neighbour "
                f"distance in [0, 10), e.g. 0.25 (0: uniform times), got "
                f"{self.time_focus!r}"
            )
        weights = {**_default_weights(), **dict(self.weights)}
        unknown = sorted(set(weights) - set(FIELDS))
        if unknown:
            raise ConfigError(
                f"diffusion.weights has unknown field {unknown[0]!r}; the fields "
                f"are {', '.join(FIELDS)}"
            )
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "conditioning", self.properties())

    @property
    def cell_diffused(self) -> bool:
        """Whether the cell is generated (``cell``, or its default)."""
        return self.noiser == "periodic" if self.cell is None else bool(self.cell)

    @property
    def fields(self) -> tuple[str, ...]:
        """The generated fields, in the order they are noised."""
        on = {"cell": self.cell_diffused, "positions": True, "types": self.types}
        return tuple(name for name in FIELDS if on[name])

    def properties(self) -> dict[str, dict[str, Any]]:
        """Return the conditioning properties as ``{name: {"kind", "classes"?}}``."""
        out = {}
        for name, spec in dict(self.conditioning).items():
            options = {"kind": spec} if isinstance(spec, str) else dict(spec)
            kind = options.get("kind")
            check_choice(f"diffusion.conditioning.{name}", kind, ("scalar", "integer"))
            if kind == "integer" and not int(options.get("classes", 0)) > 1:
                raise ConfigError(
                    f"diffusion.conditioning.{name} is an integer property; give "
                    "its number of classes: {kind: integer, classes: C}"
                )
            out[str(name)] = options
        return out
