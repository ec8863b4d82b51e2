"""ASE calculators around asegen's models."""

from asegen.calculators.alignn import ALIGNNCalculator
from asegen.calculators.base import TorchCalculator, calculator_for

__all__ = ["ALIGNNCalculator", "TorchCalculator", "calculator_for"]
