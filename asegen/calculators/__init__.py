"""ASE calculators around asegen's models."""

from asegen.calculators.alignn import ALIGNNCalculator
from asegen.calculators.base import TorchCalculator

__all__ = ["ALIGNNCalculator", "TorchCalculator"]
