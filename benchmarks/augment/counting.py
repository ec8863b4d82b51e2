"""Calculators that count and time their ``calculate`` calls, for both tools.

Configs name them as ``+counting.emt()``, ``+counting.chgnet()`` (CHGNet
0.4.2's bundled model, where chgnet is installed) or
``{+counting.lennard_jones: {sigma: 2.338, ...}}`` with this folder on
``PYTHONPATH``; augment-atoms and asegen resolve such specs alike. When the
process exits, the counts go as JSON to the file named by ``$AUGMENT_COUNTS``:
calls, seconds inside ``calculate``, and the wall-clock times of the first
call and of the exit (generation time = exit - first call).
"""

from __future__ import annotations

import atexit
import json
import os
import time

import numpy as np
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones


def _counted(base):
    class Counted(base):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.calls = 0
            self.seconds = 0.0
            self.first_call = None
            if os.environ.get("AUGMENT_COUNTS"):
                atexit.register(self._dump, os.environ["AUGMENT_COUNTS"])

        def calculate(self, *args, **kwargs):
            start = time.time()
            if self.first_call is None:
                self.first_call = start
            super().calculate(*args, **kwargs)
            self.calls += 1
            self.seconds += time.time() - start

        def _dump(self, path):
            record = {
                "calls": self.calls,
                "calculate_s": self.seconds,
                "first_call": self.first_call,
                "exit": time.time(),
            }
            with open(path, "w") as file:
                json.dump(record, file)

    Counted.__name__ = Counted.__qualname__ = f"Counted{base.__name__}"
    return Counted


CountedEMT = _counted(EMT)
CountedLennardJones = _counted(LennardJones)


def emt():
    return CountedEMT()


def lennard_jones(**parameters):
    return CountedLennardJones(**parameters)


def chgnet():
    """CHGNet with its results cast to float64 (needs chgnet installed).

    augment-atoms 0.2.0 crashes on CHGNet's float32 energies (its parent
    probabilities come out float32 and numpy's ``choice`` refuses them); the
    cast lets both tools run on the same labels.
    """
    return __getattr__("CountedFloat64CHGNet")()


def _define_chgnet_classes():
    from chgnet.model.dynamics import CHGNetCalculator

    class Float64CHGNet(CHGNetCalculator):
        def calculate(self, *args, **kwargs):
            super().calculate(*args, **kwargs)
            self.results = {
                key: np.asarray(value, dtype=np.float64).copy()
                if np.ndim(value)
                else float(value)
                for key, value in self.results.items()
            }

    Float64CHGNet.__qualname__ = "Float64CHGNet"
    globals()["Float64CHGNet"] = Float64CHGNet
    globals()["CountedFloat64CHGNet"] = _counted(Float64CHGNet)


def __getattr__(name):
    """Define the CHGNet classes on first use (also when a worker unpickles)."""
    if name in ("Float64CHGNet", "CountedFloat64CHGNet"):
        if name not in globals():
            _define_chgnet_classes()
        return globals()[name]
    raise AttributeError(name)
