"""The alignn benchmark configuration (specs/alignn.md, section 3), shared by scripts.

Plain data only: both the anchor's virtualenv and asegen's import it.
"""

BENCHMARK_CONFIG = {
    "dataset": "user_data",
    "target": "target",
    "atom_features": "cgcnn",
    "neighbor_strategy": "pure_torch",
    "cutoff": 6.0,
    "max_neighbors": 12,
    "three_body_cutoff": 3.5,
    "model": {
        "name": "alignn_atomwise_pure",
        "atom_input_features": 92,
        "alignn_layers": 3,
        "gcn_layers": 3,
        "hidden_features": 128,
        "output_features": 1,
        "calculate_gradient": True,
        "graphwise_weight": 0.85,
        "gradwise_weight": 0.05,
        "stresswise_weight": 0.05,
        "add_reverse_forces": True,
        "lg_on_fly": True,
        "use_penalty": True,
    },
}
