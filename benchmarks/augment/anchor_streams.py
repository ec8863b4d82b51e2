"""augment-atoms 0.2.0's random streams, to compare asegen with the anchor tool.

Not part of asegen: the tests and ``seed_spread.py`` put an ``AnchorStreams``
in an ``Augmenter``'s ``_streams`` to replay the anchor's output.
"""

from __future__ import annotations

import numpy as np

from asegen.augment.streams import RandomSource

__all__ = ["AnchorStreams"]


class AnchorStreams:
    """augment-atoms 0.2.0's streams, for comparisons with its output only.

    One ``numpy.random.RandomState(seed)`` per starting structure, shared by
    all slots of the family and identical for every family (the anchor's
    defect D6). Combined with the anchor's draw order, which the family code
    follows, a run with ``cell_sigma=None`` and ``wave_width=1`` reproduces
    the anchor's output.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[int, np.random.RandomState] = {}

    def __call__(self, start: int, slot: int) -> RandomSource:
        """Return the family's one stream (created at its first slot)."""
        return self._streams.setdefault(start, np.random.RandomState(self.seed))
