"""Strict config values: every value fits its field's type and is finite."""

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from asegen._config import (
    apply_overrides,
    check_type,
    from_dict,
    parse_yaml,
    read_config_file,
)
from asegen.errors import ConfigError
from asegen.models.alignn import ALIGNNConfig
from asegen.train import PotentialConfig, TrainConfig


@dataclass(frozen=True)
class Example:
    count: int = 1
    scale: float = 1.0
    flag: bool = False
    name: str = "a"
    limit: float | None = None
    tags: list[str] | None = None
    pair: tuple[float, float] = (0.0, 1.0)
    weights: dict[str, float] = field(default_factory=dict)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"count": "3"}, "x.count must be an integer, got '3'"),
        ({"count": 2.0}, "x.count must be an integer, got 2.0"),
        ({"count": True}, "x.count must be an integer, got True"),
        ({"scale": "big"}, "x.scale must be a number, got 'big'"),
        ({"scale": False}, "x.scale must be a number, got False"),
        ({"flag": 1}, "x.flag must be true or false, got 1"),
        ({"name": 5}, "x.name must be a string, got 5"),
        ({"limit": "none"}, "x.limit must be a number or null, got 'none'"),
        ({"tags": "abc"}, "x.tags must be a list of strings or null, got 'abc'"),
        ({"tags": [1]}, "x.tags must be a list of strings or null, got [1]"),
        ({"pair": [0.0, "b"]}, "x.pair must be a list of numbers"),
        ({"weights": {"a": "b"}}, "x.weights must be a mapping of names to numbers"),
        ({"scale": float("nan")}, "x.scale must be finite (a number), got nan"),
        ({"limit": float("inf")}, "x.limit must be finite"),
        ({"pair": [0.0, float("-inf")]}, "x.pair must be finite"),
        ({"weights": {"a": float("nan")}}, "x.weights must be finite"),
    ],
)
def test_a_wrong_value_names_the_key_and_the_type(values, message):
    with pytest.raises(ConfigError) as error:
        from_dict(Example, values, "x.")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_fitting_values_are_kept_as_given():
    given = {"count": 3, "scale": 2, "flag": True, "name": Path("p"), "limit": None,
             "tags": ["a"], "pair": [0.5, 1.0], "weights": {"a": 1}}  # fmt: skip
    assert dataclasses.asdict(from_dict(Example, given)) == given


@pytest.mark.parametrize("cls", [TrainConfig, PotentialConfig, ALIGNNConfig])
def test_every_default_config_reads_back(cls):
    values = dataclasses.asdict(cls())
    assert from_dict(cls, values) == cls()


def test_unknown_annotations_are_not_checked_but_nan_is():
    check_type("x", object(), object)
    with pytest.raises(ConfigError, match="x must be finite"):
        check_type("x", [float("nan")], object)


@pytest.mark.parametrize(
    ("cls", "values", "message"),
    [
        (TrainConfig, {"seed": -1}, "train.seed must be 0 or more, got -1"),
        (TrainConfig, {"num_workers": -1}, "train.num_workers must be 0 or more"),
        (TrainConfig, {"epochs": "5"}, "train.epochs must be an integer, got '5'"),
        (TrainConfig, {"learning_rate": float("nan")}, "train.learning_rate must be"),
        (TrainConfig, {"grad_clip": 0}, "train.grad_clip must be positive"),
        (PotentialConfig, {"weights": {"forces": float("inf")}},
         "train.weights.forces must be finite"),
        (ALIGNNConfig, {"hidden_features": 0}, "hidden_features must be at least 1"),
        (ALIGNNConfig, {"hidden_features": "big"},
         "model.hidden_features must be an integer, got 'big'"),
        (ALIGNNConfig, {"alignn_layers": -1}, "alignn_layers must be 0 or more"),
    ],
)  # fmt: skip
def test_engine_and_model_ranges(cls, values, message):
    where = "model." if cls is ALIGNNConfig else "train."
    with pytest.raises(ConfigError) as error:
        from_dict(cls, values, where)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [("1e-3", 1e-3), ("-2E4", -2e4), ("+5e+2", 500.0), ("1.5e-3", 1.5e-3),
     ("1_0e1", 100.0), ("3", 3), ("0.5", 0.5), ("e3", "e3"), ("1e", "1e"),
     ("'1e-3'", "1e-3"), (".inf", float("inf"))],
)  # fmt: skip
def test_exponents_without_a_point_are_numbers(text, value):
    # YAML 1.1 (PyYAML's default) reads 1e-3 as a string
    assert parse_yaml(text) == value
    assert type(parse_yaml(text)) is type(value)


def test_a_config_file_and_an_override_take_1e_minus_3(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("train:\n  learning_rate: 1e-3\n")
    data = apply_overrides(read_config_file(path), ["train.weight_decay=2e-5"])
    config = from_dict(TrainConfig, data["train"], "train.")
    assert (config.learning_rate, config.weight_decay) == (1e-3, 2e-5)
