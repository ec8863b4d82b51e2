"""Dtypes and devices as users name them: strings, numpy and torch types."""

import numpy as np
import pytest
import torch
from calculator_factories import alignn_model

from asegen.calculators import ALIGNNCalculator
from asegen.errors import ConfigError
from asegen.models.checkpoint import save_checkpoint
from asegen.models.options import resolve_device, resolve_dtype


@pytest.mark.parametrize(
    ("given", "wanted"),
    [
        ("float64", torch.float64), ("double", torch.float64),
        (np.float64, torch.float64), (np.dtype("float32"), torch.float32),
        ("torch.float32", torch.float32), (torch.float64, torch.float64),
    ],
)  # fmt: skip
def test_every_spelling_of_a_dtype_works(given, wanted):
    assert resolve_dtype(given) is wanted


@pytest.mark.parametrize("given", ["float16", "int64", torch.int32, "big", 3])
def test_other_dtypes_are_one_line(given):
    with pytest.raises(ConfigError, match="is not one of 'float32' or 'float64'"):
        resolve_dtype(given)


def test_devices_by_name():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="is not a device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(
            ConfigError, match="asks for CUDA, which this machine lacks"
        ):
            resolve_device("cuda:1")


def test_a_calculator_takes_string_dtypes(tmp_path):
    save_checkpoint(tmp_path / "ff.pt", alignn_model())
    calc = ALIGNNCalculator.load(tmp_path / "ff.pt", dtype="float64", device="cpu")
    assert calc.dtype is torch.float64
    assert next(calc.model.parameters()).dtype is torch.float64
    with pytest.raises(ConfigError, match="dtype 'half'"):
        ALIGNNCalculator.load(tmp_path / "ff.pt", dtype="half", device="cpu")
