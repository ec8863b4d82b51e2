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
from asegen.models.alignn.compat import translation_notice


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
        ({"neighbor_strategy": "voronoi"}, "voronoi.*Not implemented"),
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


@pytest.mark.parametrize(
    ("strategy", "max_neighbors", "cutoff_extra", "three_body"),
    [
        ("pure_torch", 12, None, 3.5),
        ("k-nearest", 12, 3.0, 6.0),  # alignn's DGL line graph has no 3-body cutoff
        ("fast_graph", 12, None, 6.0),
        ("torch_graph", 12, None, 6.0),
        ("radius_graph", None, 3.0, 6.0),
        ("radius_graph_jarvis", None, 0.5, 6.0),
    ],
)
def test_every_neighbor_strategy_maps_to_a_graph(
    strategy, max_neighbors, cutoff_extra, three_body
):
    data = {**BENCHMARK_CONFIG, "neighbor_strategy": strategy}
    for new_model in (False, True):
        config, _ = config_from_alignn(data, new_model=new_model)
        assert config.max_neighbors == max_neighbors
        assert config.cutoff_extra == cutoff_extra
        assert config.three_body_cutoff == three_body


def test_new_models_take_asegen_defaults_and_alignn_weights_keep_alignn_form():
    loaded, _ = config_from_alignn(BENCHMARK_CONFIG)
    assert (loaded.aggregation, loaded.smooth_cutoff) == ("mean", False)
    new, training = config_from_alignn(BENCHMARK_CONFIG, new_model=True)
    assert (new.aggregation, new.smooth_cutoff) == ("sum", True)
    assert not new.keep_degenerate_triplets
    notice = translation_notice(new, training)
    assert "\n" not in notice
    for item in ("aggregation", "envelopes", "penalty", "eV/Å³"):
        assert item in notice
    asked = {**BENCHMARK_CONFIG["model"], "aggregation": "mean"}
    config, _ = config_from_alignn({**BENCHMARK_CONFIG, "model": asked}, new_model=True)
    assert config.aggregation == "mean"
    assert "aggregation" not in translation_notice(config, training)
    with pytest.raises(ConfigError, match=r"model\.aggregation"):
        config_from_alignn({**BENCHMARK_CONFIG, "model": asked})  # alignn's weights


def test_omitted_atom_input_features_follow_atom_features():
    block = dict(BENCHMARK_CONFIG["model"])
    del block["atom_input_features"]
    for features, width in (("cgcnn", 92), ("basic", 11), ("cfid", 438)):
        data = {**BENCHMARK_CONFIG, "atom_features": features, "model": block}
        config, _ = config_from_alignn(data)
        assert config.atom_input_features == width
    # an explicit mismatch stays one line naming both
    data = {**BENCHMARK_CONFIG, "model": {**block, "atom_input_features": 1}}
    with pytest.raises(ConfigError, match="atom_input_features is 1") as error:
        config_from_alignn(data)
    assert "\n" not in str(error.value)


def test_cfid_table_is_alignns():
    from asegen.models.alignn.features import alignn_element_table

    table = alignn_element_table("cfid")
    assert table.shape == (119, 438)
    # jarvis-tools' Specie("Si").get_descrp_arr starts with these values
    expected = [3490.3, 3173.5021, 6.68, -16.0255, 0.0]
    assert table[14, :5].tolist() == pytest.approx(expected)
    assert table[1:104].abs().sum(dim=1).min() > 0
    assert not table[104:].any()


def test_from_alignn_of_a_dgl_run_loads_with_a_one_line_notice(tmp_path, capsys):
    from asegen.models.alignn import ALIGNN, load_alignn_run

    data = {**BENCHMARK_CONFIG, "neighbor_strategy": "k-nearest"}
    config, _ = config_from_alignn(data)
    state = alignn_state_dict(ALIGNN(config).state_dict())
    (tmp_path / "config.json").write_text(json.dumps(data))
    torch.save(state, tmp_path / "best_model.pt")
    model, _ = load_alignn_run(tmp_path)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "'k-nearest'" in err[0]
    assert "whole shells" in err[0]
    assert model.config.aggregation == "mean"
    assert model.graph_options() == {
        "cutoff": 6.0, "max_neighbors": 12, "cutoff_extra": 3.0
    }  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(BENCHMARK_CONFIG))
    load_alignn_run(tmp_path)  # pure_torch: exact, no notice
    assert capsys.readouterr().err == ""


def alignn_state_dict(ours):
    """asegen's state dict in alignn's names (the inverse of state_dict_from_alignn)."""
    maps = ("src_gate", "dst_update", "dst_gate", "src_update")
    names = {
        "gate_edge": "edge_gate",
        "norm_nodes": "bn_nodes",
        "norm_edges": "bn_edges",
    }
    state = {}
    for key, value in ours.items():
        parts = key.split(".")
        if parts[0] in ("species", "energy_scale", "reference_energies"):
            continue
        if parts[0] == "alignn_layers":
            parts[2] = {"atom_conv": "node_update", "bond_conv": "edge_update"}[
                parts[2]
            ]
        if parts[0] in ("alignn_layers", "gcn_layers"):
            conv = 3 if parts[0] == "alignn_layers" else 2
            if parts[conv] == "node_linear":
                for name, piece in zip(maps, value.chunk(4), strict=True):
                    state[".".join([*parts[:conv], name, parts[-1]])] = piece
                continue
            parts[conv] = names[parts[conv]]
        if parts[0] in ("atom_embedding",):
            parts.insert(1, "layer")
        if parts[0] in ("edge_embedding", "angle_embedding") and parts[1] != "0":
            parts.insert(2, "layer")
        state[".".join(parts)] = value
    return state
