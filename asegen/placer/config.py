"""Settings of the placer task: the ``placer`` section of a run config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asegen.errors import ConfigError

__all__ = ["PlacerConfig"]


@dataclass(frozen=True)
class PlacerConfig:
    """Every option of the placer task.

    Attributes
    ----------
    draw_random_samples
        Steps of each structure's trajectory kept per epoch (drawn afresh
        every epoch); ``0`` keeps every step, which costs ``O(N^2)`` atoms
        per structure. ``train.batch_size`` counts these partial structures.
    dist_label_width_factor
        Width of the Gaussian-smoothed distance labels, as a fraction of the
        bin width (``w`` in ``exp(-(d - c_b)^2 / w)``); below 0.01, one-hot
        labels with a log-likelihood loss.
    conditions
        Conditions by name: a kind (``"scalar"``, ``"vector"``,
        ``"composition"``) or the mapping of options that the model's
        ``conditions`` takes. Values come from ``atoms.info[name]`` (or the
        calculator's results); ``composition`` from the atoms themselves and
        ``relative_atomic_energy`` from the energy (energy per atom minus a
        composition-linear fit to the training set).
    """

    draw_random_samples: int = 10
    dist_label_width_factor: float = 0.1
    conditions: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Validate every value."""
        k = self.draw_random_samples
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise ConfigError(
                "draw_random_samples must be an integer >= 0 (0: every step), "
                f"got {k!r}"
            )
        w = self.dist_label_width_factor
        if not isinstance(w, int | float) or isinstance(w, bool) or not w >= 0:
            raise ConfigError(
                f"dist_label_width_factor must be a number >= 0, got {w!r}"
            )
        if not isinstance(self.conditions, Mapping):
            raise ConfigError(
                "conditions must map each condition name to its kind, got "
                f"{self.conditions!r}"
            )
        object.__setattr__(
            self,
            "conditions",
            {
                name: dict(raw) if isinstance(raw, Mapping) else {"kind": raw}
                for name, raw in self.conditions.items()
            },
        )
