"""Reading alignn's ``config.json`` into asegen's ALIGNN and train settings.

The alignn package (``alignn_atomwise_pure`` and ``alignn_atomwise`` models
with the ``pure_torch`` neighbour strategy) stores a run as a directory with
``config.json`` (its TrainingConfig with a ``model`` block) and
``best_model.pt`` (a plain state dict). :func:`config_from_alignn` gives the
same network's :class:`~asegen.models.alignn.ALIGNNConfig` with
alignn's graph settings: nearest-K cut, normalised ("mean") aggregation, no
envelope, degenerate angle pairs kept;
:func:`~asegen.models.alignn.load_alignn_run` adds the weights.

Every key of both schemas is known here: unknown keys are rejected with the
closest valid one, and options whose alignn behaviour asegen cannot or will
not reproduce are rejected by name with the reason.
"""

from __future__ import annotations

from typing import Any

from asegen._config import unknown_key_error
from asegen.errors import ConfigError
from asegen.graph.units import EV_PER_A3_IN_GPA
from asegen.models.alignn.config import ALIGNNConfig

__all__ = [
    "ALIGNN_MODEL_DEFAULTS",
    "ALIGNN_TRAINING_DEFAULTS",
    "config_from_alignn",
    "is_alignn_config",
    "train_config_from_alignn",
]

#: alignn's TrainingConfig fields and defaults (alignn 2026.8.11), ``model`` aside.
ALIGNN_TRAINING_DEFAULTS: dict[str, Any] = {
    "version": "NA", "dataset": "dft_3d", "target": "exfoliation_energy",
    "atom_features": "cgcnn", "neighbor_strategy": "k-nearest", "id_tag": "jid",
    "dtype": "float32", "random_seed": 123, "classification_threshold": None,
    "n_val": None, "n_test": None, "n_train": None, "train_ratio": 0.8,
    "val_ratio": 0.1, "test_ratio": 0.1, "target_multiplication_factor": None,
    "epochs": 300, "batch_size": 64, "gpu_memory_fraction": None, "use_amp": False,
    "ddp_find_unused_parameters": False, "resume_checkpoint": False,
    "lr_total_epochs": None, "deterministic": False, "weight_decay": 0.0,
    "learning_rate": 0.01, "filename": "sample", "warmup_steps": 2000,
    "criterion": "mse", "optimizer": "adamw", "scheduler": "onecycle",
    "pin_memory": False, "save_dataloader": False, "write_checkpoint": True,
    "write_predictions": True, "store_outputs": True, "progress": True,
    "log_tensorboard": False, "standard_scalar_and_pca": False,
    "use_canonize": True, "compute_line_graph": True, "num_workers": 4,
    "cutoff": 5.0, "cutoff_extra": 3.0, "three_body_cutoff": 3.5,
    "max_neighbors": 12, "keep_data_order": True, "normalize_graph_level_loss": False,
    "distributed": False, "data_parallel": False, "n_early_stopping": None,
    "output_dir": ".", "use_lmdb": True, "read_existing": False,
}  # fmt: skip

_COMMON_MODEL_DEFAULTS: dict[str, Any] = {
    "alignn_layers": 2, "gcn_layers": 2, "atom_input_features": 1,
    "edge_input_features": 80, "triplet_input_features": 40,
    "embedding_features": 64, "hidden_features": 64, "output_features": 1,
    "grad_multiplier": -1, "calculate_gradient": True, "atomwise_output_features": 0,
    "graphwise_weight": 1.0, "gradwise_weight": 1.0, "stresswise_weight": 0.0,
    "atomwise_weight": 0.0, "link": "identity", "zero_inflated": False,
    "classification": False, "force_mult_natoms": False, "energy_mult_natoms": True,
    "include_pos_deriv": False, "use_cutoff_function": False, "inner_cutoff": 3.0,
    "stress_multiplier": 1.0, "add_reverse_forces": True, "lg_on_fly": True,
    "batch_stress": True, "multiply_cutoff": False, "use_penalty": True,
    "extra_features": 0, "exponent": 5, "penalty_threshold": 1.0,
    "additional_output_features": 0, "additional_output_weight": 0.0,
}  # fmt: skip

#: Model-block fields and defaults of the two alignn models asegen reads.
ALIGNN_MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "alignn_atomwise_pure": {
        **_COMMON_MODEL_DEFAULTS,
        "penalty_factor": 0.5,
        "three_body_cutoff": 3.5,
        "use_zbl": None,
        "zbl_cutoff": 0.9,
        "conv_type": "alignn",
        "num_heads": 1,
    },
    "alignn_atomwise": {**_COMMON_MODEL_DEFAULTS, "penalty_factor": 0.1},
}

# Model-block fields copied into ALIGNNConfig under the same name.
_SAME_NAME = (
    "alignn_layers", "gcn_layers", "atom_input_features", "edge_input_features",
    "triplet_input_features", "embedding_features", "hidden_features",
    "output_features", "link", "classification", "atomwise_output_features",
    "additional_output_features", "energy_mult_natoms", "use_cutoff_function",
    "multiply_cutoff", "inner_cutoff", "exponent", "use_penalty", "penalty_factor",
    "penalty_threshold", "zbl_cutoff",
)  # fmt: skip

# Options asegen refuses when they differ from this value, with the reason.
_REFUSED = {
    "grad_multiplier": (-1, "forces must be minus the energy gradient"),
    "add_reverse_forces": (True, "without them alignn's forces are not a gradient"),
    "force_mult_natoms": (False, "scaling forces by the atom count is not a gradient"),
    "lg_on_fly": (True, "with precomputed angles forces miss every angle term"),
    "stress_multiplier": (1.0, "stress is reported in ASE units without extra factors"),
    "conv_type": ("alignn", "only the edge-gated 'alignn' convolution is implemented"),
    "compute_line_graph": (True, "ALIGNN needs its line graph"),
}  # fmt: skip


def config_from_alignn(data: dict[str, Any]) -> tuple[ALIGNNConfig, dict[str, Any]]:
    """Translate an alignn ``config.json`` dictionary into an :class:`ALIGNNConfig`.

    Returns
    -------
    config
        The model configuration with alignn's graph and aggregation settings.
    training
        Every TrainingConfig field (defaults filled in) plus the model block's
        loss weights, for the training engine or as metadata.

    Raises
    ------
    asegen.errors.ConfigError
        For unknown keys, unsupported models or neighbour strategies, and
        options asegen refuses (named with the reason).
    """
    training = dict(ALIGNN_TRAINING_DEFAULTS)
    for key, value in data.items():
        if key == "model":
            continue
        if key not in training:
            raise unknown_key_error(key, [*training, "model"], "")
        training[key] = value
    block = dict(data.get("model") or {"name": "alignn_atomwise"})
    name = block.pop("name", None)
    if name not in ALIGNN_MODEL_DEFAULTS:
        raise ConfigError(
            f"model.name {name!r} is not supported; asegen reads "
            "'alignn_atomwise_pure' and 'alignn_atomwise'"
        )
    model = dict(ALIGNN_MODEL_DEFAULTS[name])
    for key, value in block.items():
        if key not in model:
            raise unknown_key_error(key, model, "model.")
        model[key] = value
    _refuse_unsupported(training, model)

    options = {key: model[key] for key in _SAME_NAME if key in model}
    max_neighbors = training["max_neighbors"] or None
    three_body = training["three_body_cutoff"]
    calculate_gradient = model["calculate_gradient"] and model["gradwise_weight"] != 0
    config = ALIGNNConfig(
        **options,
        cutoff=float(training["cutoff"]),
        max_neighbors=max_neighbors,
        three_body_cutoff=float(
            training["cutoff"] if three_body is None else three_body
        ),
        keep_degenerate_triplets=True,
        atom_features=training["atom_features"],
        calculate_gradient=calculate_gradient,
        aggregation="mean",
        smooth_cutoff=False,
        use_zbl=model.get("use_zbl", False),
    )
    weights = ("graphwise_weight", "gradwise_weight", "stresswise_weight",
               "atomwise_weight", "additional_output_weight")  # fmt: skip
    training.update({key: model[key] for key in weights})
    return config, training


def _refuse_unsupported(training: dict[str, Any], model: dict[str, Any]) -> None:
    strategy = training["neighbor_strategy"]
    if strategy != "pure_torch":
        raise ConfigError(
            f"neighbor_strategy {strategy!r} builds alignn's DGL graphs, which asegen "
            "does not reproduce; models trained with 'pure_torch' load exactly"
        )
    if training["atom_features"] == "cfid":
        raise ConfigError("atom_features 'cfid' is not bundled; use 'cgcnn' or 'basic'")
    for key, (wanted, reason) in _REFUSED.items():
        source = training if key in training else model
        if key in source and source[key] != wanted:
            raise ConfigError(f"{key}: {source[key]!r} is not supported ({reason})")
    if model["calculate_gradient"] and not model["energy_mult_natoms"]:
        raise ConfigError(
            "energy_mult_natoms: false makes alignn's forces the gradient of the "
            "per-atom output, not of the energy; asegen does not reproduce that"
        )


# TrainingConfig fields that map onto asegen's TrainConfig.
_TRAIN_NAMES = {
    "epochs": "epochs", "batch_size": "batch_size", "learning_rate": "learning_rate",
    "weight_decay": "weight_decay", "optimizer": "optimizer", "scheduler": "scheduler",
    "warmup_steps": "warmup_steps", "lr_total_epochs": "lr_total_epochs",
    "n_early_stopping": "early_stopping", "random_seed": "seed",
    "train_ratio": "train_ratio", "val_ratio": "val_ratio", "test_ratio": "test_ratio",
    "n_train": "n_train", "n_val": "n_val", "n_test": "n_test",
    "keep_data_order": "keep_data_order", "num_workers": "num_workers",
    "dtype": "dtype", "classification_threshold": "classification_threshold",
}  # fmt: skip
_WEIGHT_NAMES = {
    "graphwise_weight": "energy", "gradwise_weight": "forces",
    "stresswise_weight": "stress", "atomwise_weight": "atomwise",
    "additional_output_weight": "additional",
}  # fmt: skip
# Fields that only steer alignn's own files, caches, logging and data source
# (asegen always trains on --data): no effect here.
_NO_EFFECT = (
    "version", "dataset", "target", "id_tag", "filename", "output_dir",
    "write_checkpoint", "write_predictions", "store_outputs", "progress",
    "log_tensorboard", "save_dataloader", "use_lmdb", "read_existing", "pin_memory",
    "deterministic", "gpu_memory_fraction", "ddp_find_unused_parameters",
    "distributed", "use_canonize", "cutoff_extra", "criterion", "neighbor_strategy",
    "atom_features", "cutoff", "max_neighbors", "three_body_cutoff",
    "compute_line_graph", "resume_checkpoint",
)  # fmt: skip
# Fields refused unless at alignn's default, with the reason.
_TRAIN_REFUSED = {
    "use_amp": (False, "mixed precision is not supported; use dtype float32"),
    "data_parallel": (False, "use DDP: launch with torchrun"),
    "normalize_graph_level_loss": (False, "loss normalisation is not supported"),
    "standard_scalar_and_pca": (False, "feature scaling/PCA is not supported"),
    "target_multiplication_factor": (None, "scale the targets in the data instead"),
}  # fmt: skip


def train_config_from_alignn(training: dict[str, Any]) -> dict[str, Any]:
    """Map alignn TrainingConfig fields to asegen's ``train`` section.

    The science is kept: alignn's force-field loop uses an L1 loss whatever
    ``criterion`` says, fits no reference energies and clips no gradients, so
    neither does the translated config; its stress term is an L1 in GPa, so the
    stress weight is multiplied by 160.2 (GPa per eV/Å³) to give the same loss
    on asegen's eV/Å³ stresses. The atomwise and additional heads learn the
    values train_alignn.py reads by default (``--atomwise_key forces``,
    ``--additional_output_key additional_output``). Fields that only steer
    alignn's files and caches have no effect; fields asegen cannot honour are
    refused by name unless they hold alignn's default.
    """
    for key, (default, reason) in _TRAIN_REFUSED.items():
        if training.get(key, default) != default:
            raise ConfigError(f"{key}: {training[key]!r} is not supported ({reason})")
    known = {*_TRAIN_NAMES, *_WEIGHT_NAMES, *_NO_EFFECT, *_TRAIN_REFUSED}
    for key in training:
        if key not in known:
            raise unknown_key_error(key, known, "")
    out: dict[str, Any] = {
        name: training[key] for key, name in _TRAIN_NAMES.items() if key in training
    }
    out["weights"] = {name: training[key] for key, name in _WEIGHT_NAMES.items()}
    # alignn's stress loss is an L1 in GPa; asegen's is in eV/Å³. Scaling the
    # weight by the conversion factor makes the two loss terms identical.
    out["weights"]["stress"] *= EV_PER_A3_IN_GPA
    out.update(loss="l1", fit_reference_energies=False, grad_clip=None)
    out.update(atomwise_key="forces", additional_key="additional_output")
    if out.get("seed") is None:
        out["seed"] = 123
    return out


def is_alignn_config(data: dict[str, Any]) -> bool:
    """Tell an alignn ``config.json`` from an asegen run config."""
    model = data.get("model")
    named = isinstance(model, dict) and model.get("name") in (
        *ALIGNN_MODEL_DEFAULTS,
        "alignn",
        "alignn_atomwise_pure_smooth",
        "ealignn_atomwise",
    )
    return named or any(key in ALIGNN_TRAINING_DEFAULTS for key in data)
