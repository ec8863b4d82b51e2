"""The training loop shared by every asegen model.

``train(model, structures, config=...)`` splits the data, fits per-element
reference energies, trains with the configured optimizer and schedule, and
writes the run directory ``OUT/version_N/``:

- ``hparams.yaml``: everything needed to rebuild the model, and the settings;
- ``checkpoints/best.pt`` and ``checkpoints/last.pt`` (plain data, loaded with
  ``weights_only=True``); ``last.pt`` also holds optimizer, schedule and
  epoch, so ``resume=True`` continues an interrupted run;
- ``metrics.csv``: one row per epoch, flushed as it is written;
- at the end, ``test_predictions.csv`` (and ``test_atomwise.csv``,
  ``test_additional.csv`` for trained heads) and PNG plots (loss curves,
  parity).

Multi-process training uses torch DDP under ``torchrun``: the engine reads
``WORLD_SIZE``/``RANK``/``LOCAL_RANK``, shards the training set with a
``DistributedSampler`` and lets rank 0 alone write files.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from ase import Atoms
from ase.data import chemical_symbols
from torch import nn
from tqdm import tqdm

from asegen._version import __version__
from asegen.errors import ConfigError, InputNotFoundError
from asegen.graph import AtomsGraph, batch_graphs
from asegen.models.base import AtomisticModel
from asegen.models.checkpoint import load_checkpoint, save_checkpoint
from asegen.models.potential import predict
from asegen.train import distributed
from asegen.train.config import TrainConfig
from asegen.train.data import GraphDataset, make_datasets
from asegen.train.losses import loss_terms
from asegen.train.run_dir import MetricsLog, latest_run, new_run

__all__ = ["train"]

_COLUMNS = (
    "epoch", "lr", "train_loss", "train_energy_mae", "train_forces_mae",
    "train_stress_mae", "val_loss", "val_energy_mae", "val_forces_mae",
    "val_stress_mae", "train_target_mae", "train_target_error_rate",
    "val_target_mae", "val_target_error_rate", "train_atomwise_mae",
    "val_atomwise_mae", "train_additional_mae", "val_additional_mae",
    "train_seconds", "seconds",
)  # fmt: skip


class _Objective(nn.Module):
    """Wraps a model so DDP sees one module whose forward yields forces too."""

    def __init__(self, model: AtomisticModel, *, forces: bool, stress: bool) -> None:
        super().__init__()
        self.model = model
        self.forces = forces
        self.stress = stress

    def forward(self, graph: AtomsGraph) -> dict[str, torch.Tensor]:
        if not self.model.predicts_energy:  # a property model
            return self.model(graph)
        return predict(
            self.model,
            graph,
            forces=self.forces,
            stress=self.stress,
            create_graph=self.training,
        )


def train(
    model: AtomisticModel,
    structures: Sequence[Atoms],
    *,
    config: TrainConfig | None = None,
    val_structures: Sequence[Atoms] | None = None,
    out: str | os.PathLike = "logs",
    resume: bool = False,
    metadata: dict[str, Any] | None = None,
    progress: bool | None = None,
) -> Path:
    """Train ``model`` on ``structures`` and return the run directory.

    Parameters
    ----------
    model
        A freshly built model. On resume the model stored in the run's
        ``last.pt`` is used instead.
    structures
        Labelled training structures (energy, optionally forces and stress
        as ``SinglePointCalculator`` results; targets of trained heads in
        ``arrays`` / ``info``, see :class:`TrainConfig`); split into train,
        validation and test sets by ``config``.
    config
        Engine settings; default :class:`TrainConfig()`.
    val_structures
        A separate validation set; ``structures`` then gives train and test.
    out
        Parent directory of the run (``out/version_N``), or, with ``resume``,
        a run directory or its parent (the newest run is resumed).
    resume
        Continue the run from ``checkpoints/last.pt``.
    metadata
        Extra plain data stored in ``hparams.yaml`` (data paths, ...).
    progress
        Show progress bars (default: when writing to a terminal).

    Returns
    -------
    pathlib.Path
        The run directory.
    """
    config = config or TrainConfig()
    rank, _ = distributed.setup(config.device)
    device = distributed.device_for(config.device, rank)
    dtype = torch.float64 if config.dtype == "float64" else torch.float32
    torch.manual_seed(config.seed)

    train_set, val_set, test_set = make_datasets(
        model, config, structures, val_structures
    )

    run, resumed, state = _prepare_run(out, resume, rank)
    if resumed is not None:
        model = resumed
    if state is None and config.fit_reference_energies and model.predicts_energy:
        fit_reference_energies(
            model, [train_set.atoms(k) for k in range(len(train_set))]
        )
    model = model.to(device=device, dtype=dtype)
    want_forces = model.predicts_energy and config.weights.forces > 0
    want_stress = model.predicts_energy and config.weights.stress > 0
    objective = _Objective(model, forces=want_forces, stress=want_stress)
    optimizer = _optimizer(model, config)
    loader = distributed.loader(
        train_set, config.batch_size, config.num_workers, seed=config.seed, shuffle=True
    )
    scheduler = _scheduler(optimizer, config, steps_per_epoch=len(loader))
    start_epoch, best, stale = 0, float("inf"), 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        horizon = state["scheduler"].get("total_steps")
        planned = getattr(scheduler, "total_steps", horizon)
        if horizon is not None and horizon != planned:
            raise ConfigError(
                "the one-cycle schedule of the resumed run spans "
                f"{horizon} steps; resume with the run's epochs and batch size "
                "(or set train.lr_total_epochs to keep its horizon)"
            )
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best, stale = state["epoch"] + 1, state["best"], state["stale"]
    wrapped = distributed.wrap(objective, device)
    if rank == 0:
        _write_hparams(
            run, model, config, metadata, len(train_set), len(val_set), len(test_set)
        )
    log = (
        MetricsLog(run / "metrics.csv", _COLUMNS, start_epoch=start_epoch)
        if rank == 0
        else None
    )

    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        distributed.set_epoch(loader, epoch)
        wrapped.train()
        train_metrics = _run_epoch(
            wrapped, loader, config, device, dtype, optimizer, scheduler,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            show=progress if rank == 0 else False,  # None: when on a terminal
        )  # fmt: skip
        train_seconds = time.perf_counter() - started
        wrapped.eval()
        val_loader = distributed.loader(
            val_set, config.batch_size, 0, seed=0, shuffle=False
        )
        val_metrics = (
            _run_epoch(
                wrapped,
                val_loader,
                config,
                device,
                dtype,
                desc="validation",
                show=False,
            )
            if len(val_set)
            else train_metrics
        )
        score = val_metrics["loss"]
        improved = score < best
        best, stale = (score, 0) if improved else (best, stale + 1)
        if rank == 0:
            row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
            row.update({f"train_{k}": v for k, v in train_metrics.items()})
            row.update({f"val_{k}": v for k, v in val_metrics.items()})
            row["train_seconds"] = train_seconds
            row["seconds"] = time.perf_counter() - started
            assert log is not None
            log.append(row)
            if improved:
                save_checkpoint(run / "checkpoints" / "best.pt", model, epoch=epoch)
            save_checkpoint(
                run / "checkpoints" / "last.pt",
                model,
                epoch=epoch,
                best=best,
                stale=stale,
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict(),
            )
        if config.early_stopping is not None and stale >= config.early_stopping:
            break
    distributed.barrier()
    if rank == 0:
        _finish(run, model, test_set if len(test_set) else val_set, device, dtype, log)
    distributed.teardown()
    return run


def fit_reference_energies(model: AtomisticModel, images: Sequence[Atoms]) -> None:
    """Set per-element reference energies and the energy scale of ``model``.

    The reference energies solve ``min sum_s (E_s - sum_i ref[Z_i])^2`` over the
    training structures with an energy label (least squares, one unknown per
    element present). The scale is the RMS force component when forces are
    labelled, else the standard deviation of the residual energy per atom.
    """
    energies, counts, n_atoms, forces = [], [], [], []
    for atoms in images:
        results = atoms.calc.results if atoms.calc is not None else {}
        if "energy" not in results:
            continue
        energies.append(float(results["energy"]))
        counts.append(np.bincount(atoms.numbers, minlength=119))
        n_atoms.append(len(atoms))
        if "forces" in results:
            forces.append(np.asarray(results["forces"]).ravel())
    if not energies:
        return
    matrix = np.array(counts, dtype=float)
    present = matrix.any(axis=0)
    solution = np.linalg.lstsq(matrix[:, present], np.array(energies), rcond=None)[0]
    reference = np.zeros(119)
    reference[present] = solution
    residual = (np.array(energies) - matrix @ reference) / np.array(n_atoms)
    if forces:
        scale = float(np.sqrt(np.mean(np.concatenate(forces) ** 2)))
    else:
        scale = float(residual.std())
    with torch.no_grad():
        model.reference_energies.copy_(torch.from_numpy(reference))
        model.energy_scale.fill_(max(scale, 1e-3))


def _prepare_run(
    out: str | os.PathLike, resume: bool, rank: int
) -> tuple[Path, AtomisticModel | None, dict[str, Any] | None]:
    """Return the run directory and, on resume, the model and state of ``last.pt``."""
    if resume:
        run = latest_run(out)
        last = None if run is None else run / "checkpoints" / "last.pt"
        if last is None or not last.is_file():
            raise InputNotFoundError(
                f"nothing to resume in {out}: no checkpoints/last.pt; "
                "start a new run without --resume"
            )
        model, state = load_checkpoint(last)
        return run, model, state
    run = distributed.broadcast_path(new_run(out) if rank == 0 else None)
    return run, None, None


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        plain = name.endswith("bias") or "norm" in name or parameter.ndim < 2
        (no_decay if plain else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.learning_rate, momentum=0.9)
    return torch.optim.AdamW(groups, lr=config.learning_rate)


def _scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, *, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    if config.scheduler == "onecycle":
        epochs = config.lr_total_epochs or config.epochs
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=config.learning_rate,
            total_steps=max(1, epochs * max(1, steps_per_epoch)),
            pct_start=0.3,
        )
    warmup = max(0, config.warmup_steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0
    )


def _run_epoch(
    objective: nn.Module,
    loader: torch.utils.data.DataLoader,
    config: TrainConfig,
    device: torch.device,
    dtype: torch.dtype,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    *,
    desc: str,
    show: bool | None,
) -> dict[str, float]:
    """One pass over ``loader``; trains when an optimizer is given."""
    sums: dict[str, float] = {}
    count = 0
    for graph in tqdm(
        loader, desc=desc, leave=False, disable=None if show is None else not show
    ):
        graph = graph.to(device=device, dtype=dtype)
        pred = objective(graph)
        loss, metrics = loss_terms(
            pred,
            graph,
            config.weights,
            config.loss,
            threshold=config.classification_threshold,
        )
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(objective.parameters(), config.grad_clip)
            optimizer.step()
            assert scheduler is not None
            scheduler.step()
        size = graph.n_structures
        for key, value in metrics.items():
            sums[key] = sums.get(key, 0.0) + value * size
        count += size
    return distributed.average(sums, count)


def _write_hparams(
    run: Path,
    model: AtomisticModel,
    config: TrainConfig,
    metadata: dict[str, Any] | None,
    n_train: int,
    n_val: int,
    n_test: int,
) -> None:
    reference = getattr(model, "reference_energies", None)
    normalisation = {}
    if reference is not None:
        normalisation = {
            "energy_scale": float(model.energy_scale),
            "reference_energies": {
                chemical_symbols[z]: float(v)
                for z, v in enumerate(reference.tolist())
                if v
            },
        }
    hparams = {
        "asegen_version": __version__,
        "model_class": model.model_name,
        "model": model.hparams(),
        "graph": model.graph_options(),
        "normalisation": normalisation,
        "train": dataclasses.asdict(config),
        "data": {
            "n_train": n_train,
            "n_val": n_val,
            "n_test": n_test,
            **(metadata or {}),
        },
        "units": {"energy": "eV", "length": "Å", "forces": "eV/Å", "stress": "eV/Å^3"},
    }
    (run / "hparams.yaml").write_text(yaml.safe_dump(hparams, sort_keys=False))


def _finish(
    run: Path,
    model: AtomisticModel,
    test_set: GraphDataset,
    device: torch.device,
    dtype: torch.dtype,
    log: MetricsLog | None,
) -> None:
    """Predict the test set with the best weights and draw the plots."""
    from asegen.train.plots import plot_run

    best, _ = load_checkpoint(run / "checkpoints" / "best.pt")
    best = best.to(device=device, dtype=dtype).eval()
    classifier = getattr(getattr(best, "config", None), "classification", False)
    quantity = "energy_per_atom" if best.predicts_energy else "target"
    quantity = "class1_probability" if classifier else quantity
    rows = []
    # true and predicted values of force components and of each trained head
    parts: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {
        name: ([], []) for name in ("forces", *test_set.heads)
    }
    for k in range(len(test_set)):
        graph = batch_graphs([test_set[k]]).to(device=device, dtype=dtype)
        n = int(graph.n_atoms[0])
        if best.predicts_energy:
            out = predict(best, graph, forces=True)
            true = float(graph.energy[0]) / n if graph.energy is not None else np.nan
            rows.append((k, n, true, float(out["energy"][0]) / n))
        else:
            with torch.no_grad():
                out = best(graph)
            value = out["logits"].exp()[0, 1] if classifier else out["graph"][0, 0]
            true = float(graph.target[0, 0]) if graph.target is not None else np.nan
            rows.append((k, n, true, float(value)))
        for name, (true_parts, pred_parts) in parts.items():
            label = getattr(graph, name)
            if label is not None and name in out:
                true_parts.append(label.cpu().numpy())
                pred_parts.append(out[name].detach().cpu().numpy())
    lines = [f"index,n_atoms,{quantity}_true,{quantity}_pred"]
    lines += [f"{k},{n},{t:.10g},{p:.10g}" for k, n, t, p in rows]
    (run / "test_predictions.csv").write_text("\n".join(lines) + "\n")
    pairs = {}
    for name, (true_parts, pred_parts) in parts.items():
        if not true_parts:
            continue
        if name in test_set.heads:
            _write_head_predictions(
                run / f"test_{name}.csv", name, true_parts, pred_parts
            )
        pairs[name] = np.stack(
            [np.concatenate(true_parts).ravel(), np.concatenate(pred_parts).ravel()],
            axis=1,
        )
    plot_run(
        run,
        metrics=log.read() if log is not None else [],
        values=np.array([(t, p) for _, _, t, p in rows]).reshape(-1, 2),
        label=quantity.replace("_", " "),
        forces=pairs.pop("forces", None),
        heads=pairs,
    )


def _write_head_predictions(
    path: Path, head: str, true: list[np.ndarray], pred: list[np.ndarray]
) -> None:
    """Write ``test_{head}.csv`` with reference and predicted head values.

    One row per test structure (``additional``) or per atom (``atomwise``),
    one column per component of each.
    """
    width = true[0].shape[1]
    names = [head] if width == 1 else [f"{head}_{j}" for j in range(width)]
    per_atom = head == "atomwise"
    header = ["index", *(["atom"] if per_atom else [])]
    header += [f"{name}_true" for name in names] + [f"{name}_pred" for name in names]
    lines = [",".join(header)]
    for k, (true_rows, pred_rows) in enumerate(zip(true, pred, strict=True)):
        for atom, values in enumerate(np.concatenate([true_rows, pred_rows], axis=1)):
            ids = [k, atom] if per_atom else [k]
            lines.append(",".join([*map(str, ids), *(f"{v:.10g}" for v in values)]))
    path.write_text("\n".join(lines) + "\n")
