"""Forward SDEs of score-based diffusion: variance exploding and preserving.

Both are linear SDEs ``dx = c(t) (x - m) dt + g(t) dW`` on ``t`` in [0, 1]
whose marginal is Gaussian around the clean value ``x0``:

``x_t = m + mean(t) (x0 - m) + std(t) eps``,  ``eps ~ N(0, I)``.

- **VE** (Song et al. 2021): ``sigma(t) = sigma_min^(1-t) sigma_max^t``, no
  drift; ``std(t)^2 = sigma(t)^2 - sigma_min^2`` (no noise at ``t = 0``) and
  ``g(t)^2 = d sigma^2/dt = 2 sigma^2 ln(sigma_max / sigma_min)``.
- **VP**: ``beta(t)`` from ``beta_min`` to ``beta_max`` (``"cosine"``:
  ``beta_min + (beta_max - beta_min)(1 - cos(pi t))/2``, or ``"linear"``),
  ``B(t) = int_0^t beta``; drift ``-beta/2 (x - m)``,
  ``mean(t) = exp(-B/2)``, ``std(t)^2 = scale^2 (1 - exp(-B))`` and
  ``g(t)^2 = scale^2 beta(t)``: the process relaxes to ``N(m, scale^2)``.

The reverse-time SDE of Anderson (1982) moves ``x`` by
``(c (x - m) - g^2 score) dt`` backwards in time plus ``g sqrt(dt)`` noise;
the score of the marginal is ``-eps / std(t)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from asegen._config import check_choice
from asegen.errors import ConfigError

__all__ = ["SDE", "VESDE", "VPSDE", "sde_from_hparams"]


class SDE:
    """A linear forward SDE; every method takes times as a tensor."""

    kind = ""

    def mean(self, t: Tensor) -> Tensor:
        """Return the coefficient of ``x0 - m`` in the marginal at ``t``."""
        raise NotImplementedError

    def std(self, t: Tensor) -> Tensor:
        """Return the marginal's standard deviation at ``t`` (zero at ``t = 0``)."""
        raise NotImplementedError

    def g2(self, t: Tensor) -> Tensor:
        """Return the squared diffusion coefficient ``g(t)^2``."""
        raise NotImplementedError

    def drift(self, t: Tensor) -> Tensor:
        """Return the drift coefficient ``c(t)``: the drift is ``c(t) (x - m)``."""
        raise NotImplementedError

    def prior_std(self) -> float:
        """Return the standard deviation at ``t = 1`` (the prior's)."""
        return float(self.std(torch.ones(())))

    def hparams(self) -> dict[str, Any]:
        """Return plain data from which :func:`sde_from_hparams` rebuilds it."""
        raise NotImplementedError


class VESDE(SDE):
    """Variance exploding: geometric ``sigma`` from ``sigma_min`` to ``sigma_max``.

    Parameters
    ----------
    sigma_min, sigma_max
        Noise scale at ``t = 0`` and ``t = 1``, in the units of the field
        (Å for positions).
    """

    kind = "ve"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 10.0) -> None:
        if not 0 < sigma_min < sigma_max:
            raise ConfigError(
                f"the VE SDE needs 0 < sigma_min < sigma_max, got {sigma_min} and "
                f"{sigma_max}"
            )
        self.sigma_min = float(sigma_min)
        self.sigma_max = float(sigma_max)
        self._log_ratio = math.log(sigma_max / sigma_min)

    def _sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * torch.exp(t * self._log_ratio)

    def mean(self, t: Tensor) -> Tensor:
        """One: VE adds noise only."""
        return torch.ones_like(t)

    def std(self, t: Tensor) -> Tensor:
        """``sqrt(sigma(t)^2 - sigma_min^2)``."""
        return (self._sigma(t) ** 2 - self.sigma_min**2).clamp_min(0.0).sqrt()

    def g2(self, t: Tensor) -> Tensor:
        """``2 sigma(t)^2 ln(sigma_max / sigma_min)``."""
        return 2.0 * self._sigma(t) ** 2 * self._log_ratio

    def drift(self, t: Tensor) -> Tensor:
        """Zero."""
        return torch.zeros_like(t)

    def hparams(self) -> dict[str, Any]:
        """``kind``, ``sigma_min`` and ``sigma_max``."""
        return {"kind": "ve", "sigma_min": self.sigma_min, "sigma_max": self.sigma_max}


class VPSDE(SDE):
    """Variance preserving toward ``N(m, scale^2)``.

    Parameters
    ----------
    beta_min, beta_max
        The rate ``beta(t)`` at ``t = 0`` and ``t = 1``.
    schedule
        ``"cosine"`` (default) or ``"linear"`` shape of ``beta(t)``.
    scale
        Standard deviation of the limit distribution (1 for unit data; Å for
        a lattice).
    """

    kind = "vp"

    def __init__(
        self,
        beta_min: float = 0.1,
        beta_max: float = 20.0,
        schedule: str = "cosine",
        scale: float = 1.0,
    ) -> None:
        check_choice("schedule", schedule, ("cosine", "linear"))
        if not 0 < beta_min < beta_max:
            raise ConfigError(
                f"the VP SDE needs 0 < beta_min < beta_max, got {beta_min} and "
                f"{beta_max}"
            )
        if not scale > 0:
            raise ConfigError(f"the VP SDE needs a positive scale, got {scale}")
        self.beta_min = float(beta_min)
        self.beta_max = float(beta_max)
        self.schedule = schedule
        self.scale = float(scale)

    def beta(self, t: Tensor) -> Tensor:
        """Return the rate ``beta(t)``."""
        span = self.beta_max - self.beta_min
        if self.schedule == "linear":
            return self.beta_min + span * t
        return self.beta_min + span * (1.0 - torch.cos(math.pi * t)) / 2.0

    def integral(self, t: Tensor) -> Tensor:
        """``B(t) = int_0^t beta(u) du``."""
        span = self.beta_max - self.beta_min
        if self.schedule == "linear":
            return self.beta_min * t + span * t**2 / 2.0
        return self.beta_min * t + span * (
            t / 2.0 - torch.sin(math.pi * t) / (2 * math.pi)
        )

    def mean(self, t: Tensor) -> Tensor:
        """``exp(-B(t)/2)``."""
        return torch.exp(-0.5 * self.integral(t))

    def std(self, t: Tensor) -> Tensor:
        """``scale sqrt(1 - exp(-B(t)))``."""
        return self.scale * (-torch.expm1(-self.integral(t))).clamp_min(0.0).sqrt()

    def g2(self, t: Tensor) -> Tensor:
        """``scale^2 beta(t)``."""
        return self.scale**2 * self.beta(t)

    def drift(self, t: Tensor) -> Tensor:
        """``-beta(t) / 2``."""
        return -0.5 * self.beta(t)

    def hparams(self) -> dict[str, Any]:
        """``kind``, the rates, the schedule and the scale."""
        return {
            "kind": "vp",
            "beta_min": self.beta_min,
            "beta_max": self.beta_max,
            "schedule": self.schedule,
            "scale": self.scale,
        }


def sde_from_hparams(hparams: dict[str, Any]) -> SDE:
    """Rebuild an SDE from its :meth:`SDE.hparams`."""
    options = {key: value for key, value in hparams.items() if key != "kind"}
    if hparams["kind"] == "ve":
        return VESDE(**options)
    if hparams["kind"] == "vp":
        return VPSDE(**options)
    raise ConfigError(f"unknown SDE kind {hparams['kind']!r}; use 've' or 'vp'")
