"""Random streams: one independent stream per (seed, starting structure, slot).

A slot is a position in a family (slot 0 is the seed, slot ``k`` the ``k``-th
child); every attempt at filling a slot draws from that slot's stream. Families
are therefore uncorrelated, and the output does not depend on the order in
which slots are computed, on the number of workers, or on where a run was
interrupted and resumed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RandomSource", "SlotStreams"]

RandomSource = np.random.Generator | np.random.RandomState
"""Anything with ``random()`` and ``standard_normal(shape)``."""


class SlotStreams:
    """``numpy.random.SeedSequence(seed, spawn_key=(start, slot))`` per slot.

    Parameters
    ----------
    seed
        The ``config.seed`` of the run (a non-negative integer).
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __call__(self, start: int, slot: int) -> RandomSource:
        """Return a fresh generator for ``slot`` of starting structure ``start``."""
        sequence = np.random.SeedSequence(self.seed, spawn_key=(start, slot))
        return np.random.default_rng(sequence)
