"""Reading alignn's ``config.json`` into asegen's ALIGNN and train settings.

The alignn package (``alignn_atomwise_pure`` and ``alignn_atomwise`` models)
stores a run as a directory with ``config.json`` (its TrainingConfig with a
``model`` block) and ``best_model.pt`` (a plain state dict).
:func:`config_from_alignn` gives the same network's
:class:`~asegen.models.alignn.ALIGNNConfig`: for alignn's weights, alignn's
exact form (normalised "mean" aggregation, no envelope, degenerate angle
pairs kept) and the graph of its ``neighbor_strategy`` (exact for
``pure_torch``, the closest asegen graph for the DGL strategies); for a new
model, asegen's geometry-aware defaults.
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
    "STRATEGY_DIFFERENCES",
    "config_from_alignn",
    "is_alignn_config",
    "strategy_notice",
    "train_config_from_alignn",
    "translation_notice",
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


# How asegen builds the graph of each alignn neighbor_strategy: the nearest-K
# cut (or the plain radius graph), the cutoff_extra fallback (the config's
# value, a fixed step, or none) and whether angles obey three_body_cutoff
# (only pure_torch has one; alignn's DGL line graphs take every bond pair).
_STRATEGIES: dict[str, tuple[bool, str | float | None, bool]] = {
    "pure_torch": (True, None, True),
    "k-nearest": (True, "cutoff_extra", False),
    "fast_graph": (True, None, False),
    "torch_graph": (True, None, False),
    "radius_graph": (False, "cutoff_extra", False),
    "radius_graph_jarvis": (False, 0.5, False),
}

#: Where asegen's graph differs from alignn's DGL builder, per strategy (the
#: one-line notice of ``from_alignn``; docs/alignn.md has the same table).
STRATEGY_DIFFERENCES: dict[str, str] = {
    "k-nearest": (
        "alignn keeps whole shells up to the K-th distance, adds every pair in "
        "both directions and, when an atom has fewer than K neighbours, retries "
        "at the longest lattice vector or twice the cutoff; asegen keeps exactly "
        "K per atom (ties by neighbour index) and grows the cutoff by cutoff_extra"
    ),
    "fast_graph": (
        "ties at the K-th distance are cut by neighbour index and image, not in "
        "matscipy's order"
    ),
    "torch_graph": (
        "ties at the K-th distance are cut by neighbour index and image, not in "
        "alignn's sort order"
    ),
    "radius_graph": (
        "alignn keeps pairs at exactly the cutoff, drops pairs closer than 1e-5 Å "
        "and grows the cutoff until the last atom has an edge; asegen keeps "
        "d < cutoff and grows it until every atom has one"
    ),
    "radius_graph_jarvis": (
        "jarvis's search drops pairs closer than 0.15 Å and grows the cutoff "
        "by 0.5 Å at most 10 times; asegen grows it by 0.5 Å until every atom "
        "has an edge"
    ),
}

# asegen's own model options an alignn config may name in its model block
# when it trains a new model (from_alignn keeps alignn's form).
_ASEGEN_MODEL_KEYS = {
    "aggregation": "sum",
    "smooth_cutoff": True,
    "keep_degenerate_triplets": False,
    "envelope_exponent": 5,
}


def config_from_alignn(
    data: dict[str, Any], *, new_model: bool = False
) -> tuple[ALIGNNConfig, dict[str, Any]]:
    """Translate an alignn ``config.json`` dictionary into an :class:`ALIGNNConfig`.

    Parameters
    ----------
    data
        The parsed ``config.json``.
    new_model
        ``False`` (reading alignn's weights): alignn's exact form, normalised
        ("mean") aggregation, no envelopes, angle pairs of a bond with its
        reverse kept. ``True`` (training a new model): asegen's defaults for
        those (see :func:`translation_notice`); the model block may set
        ``aggregation``, ``smooth_cutoff``, ``keep_degenerate_triplets`` and
        ``envelope_exponent`` by name.

    Returns
    -------
    config
        The model configuration. The graph follows ``neighbor_strategy``:
        nearest ``max_neighbors`` (``k-nearest``, ``pure_torch``,
        ``fast_graph``, ``torch_graph``) or the radius graph
        (``radius_graph``, ``radius_graph_jarvis``), with alignn's
        ``cutoff_extra`` fallback where the strategy has one and
        ``three_body_cutoff`` only for ``pure_torch``
        (:data:`STRATEGY_DIFFERENCES` says where it differs from alignn's).
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
    own = dict(_ASEGEN_MODEL_KEYS) if new_model else {}
    for key, value in block.items():
        if key in own:
            own[key] = value
        elif key in model:
            model[key] = value
        else:
            raise unknown_key_error(key, [*model, *own], "model.")
    _refuse_unsupported(training, model)

    options = {key: model[key] for key in _SAME_NAME if key in model}
    if "atom_input_features" not in block:  # follows atom_features
        options["atom_input_features"] = None
    nearest, extra, angle_cutoff = _STRATEGIES[training["neighbor_strategy"]]
    cutoff = float(training["cutoff"])
    three_body = training["three_body_cutoff"] if angle_cutoff else None
    if extra == "cutoff_extra":
        extra = training["cutoff_extra"]
    calculate_gradient = model["calculate_gradient"] and model["gradwise_weight"] != 0
    form = own or {
        "aggregation": "mean",
        "smooth_cutoff": False,
        "keep_degenerate_triplets": True,
    }
    config = ALIGNNConfig(
        **options,
        **form,
        cutoff=cutoff,
        max_neighbors=(training["max_neighbors"] or None) if nearest else None,
        cutoff_extra=None if extra is None else float(extra),
        three_body_cutoff=cutoff if three_body is None else float(three_body),
        atom_features=training["atom_features"],
        calculate_gradient=calculate_gradient,
        use_zbl=model.get("use_zbl", False),
    )
    weights = ("graphwise_weight", "gradwise_weight", "stresswise_weight",
               "atomwise_weight", "additional_output_weight")  # fmt: skip
    training.update({key: model[key] for key in weights})
    return config, training


def strategy_notice(training: dict[str, Any], source: str) -> str | None:
    """One line saying how asegen's graph differs for a DGL-built alignn run.

    ``None`` for ``pure_torch``, which asegen reproduces exactly.
    """
    strategy = training["neighbor_strategy"]
    if strategy not in STRATEGY_DIFFERENCES:
        return None
    return (
        f"notice: {source} was trained on alignn's {strategy!r} DGL graph, which "
        f"asegen approximates: {STRATEGY_DIFFERENCES[strategy]}; results differ "
        "where those graphs differ"
    )


def translation_notice(config: ALIGNNConfig, training: dict[str, Any]) -> str | None:
    """One line listing the asegen defaults that differ from alignn's, if any.

    ``config`` is the translated (``new_model=True``) configuration; options
    the config set to alignn's value are left out.
    """
    items = []
    if config.aggregation == "sum":
        items.append("gated-sum aggregation (alignn: mean; model.aggregation: mean)")
    if config.smooth_cutoff:
        items.append("envelopes at cutoff and three_body_cutoff")
    if not config.keep_degenerate_triplets:
        items.append("no angle of a bond with its own reverse")
    if config.predicts_energy and config.use_penalty:
        items.append("the short-distance penalty inside the energy")
    if config.predicts_energy and training.get("stresswise_weight"):
        items.append("stress in eV/Å³ (stress weight x 160.2)")
    if not items:
        return None
    return "notice: alignn config trains with asegen's " + "; ".join(items)


def _refuse_unsupported(training: dict[str, Any], model: dict[str, Any]) -> None:
    strategy = training["neighbor_strategy"]
    if strategy == "voronoi":
        raise ConfigError(
            "neighbor_strategy 'voronoi' is not supported: alignn lists it but "
            "its graph builder raises 'Not implemented yet'; use 'k-nearest' or "
            "'radius_graph'"
        )
    if strategy not in _STRATEGIES:
        raise ConfigError(
            f"neighbor_strategy {strategy!r} is not one of alignn's: "
            f"{sorted([*_STRATEGIES, 'voronoi'])}"
        )
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
