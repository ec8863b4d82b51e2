"""Reading alignn's configs and run directories (parity itself: ``make parity``)."""

import json

import pytest
import torch
from _anchor_config import BENCHMARK_CONFIG

from asegen.calculators import ALIGNNCalculator
from asegen.errors import ConfigError, DataFormatError, InputNotFoundError
from asegen.models.alignn import (
    config_from_alignn,
    state_dict_from_alignn,
    train_config_from_alignn,
)


def test_benchmark_config_maps_to_alignn_settings():
    config, training = config_from_alignn(BENCHMARK_CONFIG)
    assert config.cutoff == 6.0
    assert config.max_neighbors == 12
    assert config.three_body_cutoff == 3.5
    assert (config.hidden_features, config.alignn_layers, config.gcn_layers) == (
        128,
        3,
        3,
    )
    assert config.aggregation == "mean"
    assert not config.smooth_cutoff
    assert config.keep_degenerate_triplets
    assert config.penalty_factor == 0.5  # alignn_atomwise_pure's default
    assert config.zbl_enabled  # use_zbl None follows calculate_gradient
    train = train_config_from_alignn(training)
    weights = train["weights"]
    assert (weights["energy"], weights["forces"]) == (0.85, 0.05)
    # alignn's stress loss is in GPa: the same loss on eV/Å³ needs 160.2x the weight
    assert weights["stress"] == pytest.approx(0.05 * 160.21766208)
    assert train["epochs"] == 300  # alignn's default
    assert train["loss"] == "l1"


def test_alignn_atomwise_has_its_own_defaults():
    data = {
        **BENCHMARK_CONFIG,
        "model": {**BENCHMARK_CONFIG["model"], "name": "alignn_atomwise"},
    }
    config, _ = config_from_alignn(data)
    assert config.penalty_factor == 0.1
    assert not config.zbl_enabled  # alignn_atomwise has no ZBL term


def test_zero_force_weight_makes_a_property_model():
    data = {
        **BENCHMARK_CONFIG,
        "model": {**BENCHMARK_CONFIG["model"], "gradwise_weight": 0},
    }
    config, _ = config_from_alignn(data)
    assert not config.calculate_gradient


def test_state_dict_names_map_and_fuse():
    from asegen.models.alignn import ALIGNN

    config, _ = config_from_alignn(BENCHMARK_CONFIG)
    ours = ALIGNN(config).state_dict()
    prefix = "alignn_layers.2.node_update."
    maps = ["src_gate", "dst_gate", "dst_update", "src_update"]
    state = {
        "atom_embedding.layer.0.weight": torch.zeros(1),
        "edge_embedding.1.layer.1.bias": torch.zeros(1),
        "gcn_layers.1.bn_edges.weight": torch.zeros(1),
        "fc.bias": torch.zeros(1),
        "_species_table": torch.zeros(1),
        # alignn's src_update acts on the receiving node, dst_update on the source
        **{
            f"{prefix}{name}.weight": torch.full((2, 3), float(k))
            for k, name in enumerate(maps)
        },
    }
    renamed = state_dict_from_alignn(state)
    assert set(renamed) == {
        "atom_embedding.0.weight",
        "edge_embedding.1.1.bias",
        "gcn_layers.1.norm_edges.weight",
        "fc.bias",
        "alignn_layers.2.atom_conv.node_linear.weight",
    }
    assert set(renamed) <= set(ours)
    fused = renamed["alignn_layers.2.atom_conv.node_linear.weight"]
    # rows: gate_source | message | gate_target | self_update
    assert fused[:, 0].tolist() == [0, 0, 2, 2, 1, 1, 3, 3]


def test_from_alignn_errors_are_one_line(tmp_path):
    with pytest.raises(InputNotFoundError, match=r"config\.json"):
        ALIGNNCalculator.from_alignn(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    (tmp_path / "best_model.pt").write_bytes(b"")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        ALIGNNCalculator.from_alignn(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(BENCHMARK_CONFIG))
    with pytest.raises(DataFormatError, match="not a readable state dict"):
        ALIGNNCalculator.from_alignn(tmp_path)
    torch.save({"fc.weight": torch.zeros(1, 128)}, tmp_path / "best_model.pt")
    with pytest.raises(DataFormatError, match=r"does not match its config\.json"):
        ALIGNNCalculator.from_alignn(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"model": {**BENCHMARK_CONFIG["model"], "add_reverse_forces": False}},
            "add_reverse_forces",
        ),
        (
            {"model": {**BENCHMARK_CONFIG["model"], "conv_type": "t_alignn"}},
            "conv_type",
        ),
        ({"atom_features": "cfid"}, "cfid"),
        (
            {"model": {**BENCHMARK_CONFIG["model"], "energy_mult_natoms": False}},
            "energy_mult_natoms",
        ),
        (
            {"model": {**BENCHMARK_CONFIG["model"], "atom_input_features": 11}},
            "atom_input_features",
        ),
    ],
)
def test_refused_options_are_named(change, message):
    with pytest.raises(ConfigError, match=message):
        config_from_alignn({**BENCHMARK_CONFIG, **change})
