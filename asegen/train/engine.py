"""The training loop shared by every asegen model.

``train(model, structures, config=..., task=...)`` splits the data, lets the
model's task (:class:`~asegen.train.Task`) turn structures into training
items and fit its statistics, trains with the configured optimizer and
schedule, and writes the run directory ``OUT/version_N/``:

- ``hparams.yaml``: everything needed to rebuild the model, and the settings;
- ``checkpoints/best.pt`` and ``checkpoints/last.pt`` (plain data, loaded with
  ``weights_only=True``); ``last.pt`` also holds optimizer, schedule and
  epoch, so ``resume=True`` continues an interrupted run;
- ``metrics.csv``: one row per epoch, flushed as it is written, with the
  columns ``train_<m>`` and ``val_<m>`` for each metric ``m`` the task
  declares;
- ``loss_curves.png`` and, at the end, the task's report on the test split.

Everything is checked before the run directory is made: the settings, the
device, the task's items (for the potential task, every structure and
label) and, on resume, that the run's model and settings are those given
(:data:`RESUME_MAY_CHANGE` lists the settings that may differ). A
non-finite loss or weight stops training with the epoch and batch, before a
checkpoint of it is written.

Multi-process training uses torch DDP under ``torchrun``: the engine reads
``WORLD_SIZE``/``RANK``/``LOCAL_RANK``, shards the training set with a
``DistributedSampler`` and lets rank 0 alone write files.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import yaml
from ase import Atoms
from ase.data import chemical_symbols
from torch import Tensor, nn
from tqdm import tqdm

from asegen._config import from_dict
from asegen._run_layout import BEST, HPARAMS, LAST, METRICS, checkpoint_path
from asegen._units import UNITS
from asegen._version import __version__
from asegen.errors import ConfigError, DataFormatError, InputNotFoundError
from asegen.graph import AtomsGraph
from asegen.models.base import AtomisticModel
from asegen.models.checkpoint import load_checkpoint, save_checkpoint, trained_elements
from asegen.train import distributed
from asegen.train.config import TrainConfig
from asegen.train.ema import WeightAverage
from asegen.train.plots import plot_losses
from asegen.train.run_dir import MetricsLog, latest_run, new_run
from asegen.train.split import split_indices
from asegen.train.task import Task, task_for

__all__ = ["RESUME_MAY_CHANGE", "metric_columns", "task_settings", "train"]

#: Engine settings that may differ from the run's on resume (they change
#: neither the batches nor the updates already made); every other engine
#: and task setting must equal the run's ``hparams.yaml``. A new ``epochs``
#: or ``lr_total_epochs`` must also keep a one-cycle schedule's horizon.
RESUME_MAY_CHANGE = frozenset(
    {
        "epochs",
        "lr_total_epochs",
        "early_stopping",
        "max_minutes",
        "num_workers",
        "device",
    }
)


class _Step(nn.Module):
    """The model and its task as one module, so DDP sees the whole loss."""

    def __init__(self, model: AtomisticModel, task: Task) -> None:
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, batch: AtomsGraph) -> tuple[Tensor, dict[str, float]]:
        return self.task.loss(self.model, batch, training=self.training)


def train(
    model: AtomisticModel,
    structures: Sequence[Atoms],
    *,
    config: TrainConfig | None = None,
    task: Any = None,
    val_structures: Sequence[Atoms] | None = None,
    out: str | os.PathLike = "logs",
    resume: bool = False,
    metadata: dict[str, Any] | None = None,
    progress: bool | None = None,
    model_from_config: bool = False,
) -> Path:
    """Train ``model`` on ``structures`` and return the run directory.

    Parameters
    ----------
    model
        A freshly built model. On resume the model stored in the run's
        ``last.pt`` is used instead; it must be of the same class (and, with
        ``model_from_config``, have the same hparams).
    structures
        The structures, with the labels the model's task reads (for a force
        field: energy, optionally forces and stress, as
        ``SinglePointCalculator`` results); split into train, validation and
        test sets by ``config``.
    config
        Engine settings; default :class:`TrainConfig()`.
    task
        Settings of the model's task: an instance of its ``config_class``
        (e.g. :class:`~asegen.train.PotentialConfig` for ALIGNN), a mapping
        read as strictly as a config file, or ``None`` for its defaults.
    val_structures
        A separate validation set; ``structures`` then gives train and test.
    out
        Parent directory of the run (``out/version_N``), or, with ``resume``,
        a run directory or its parent (the newest run is resumed).
    resume
        Continue the run from ``checkpoints/last.pt``. The engine and task
        settings and the split sizes must equal those in the run's
        ``hparams.yaml``, except :data:`RESUME_MAY_CHANGE`.
    metadata
        Extra plain data stored in ``hparams.yaml`` (data paths, ...); its
        ``"data"`` and ``"val"`` entries, where given, name the files of
        ``structures`` and ``val_structures`` in error messages.
    progress
        Show progress bars (default: when writing to a terminal).
    model_from_config
        Whether ``model`` was built from the run config (``asegen train``):
        on resume its hparams must then equal those of the run's model
        (entries it leaves empty, statistics the task fits, are not
        compared).

    Raises
    ------
    asegen.errors.AsegenError
        For a mistake found before training (settings, device, data, a
        resume that does not fit the run; no run directory is made) or a
        non-finite loss during training (the checkpoints keep the last good
        epoch).

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

    run, state = None, None
    if resume:
        run, model, state = _resumed(out, model, compare=model_from_config)
    task_class = task_for(model)
    job = task_class(model, task_settings(task_class, task), seed=config.seed)
    job.sources = _sources(metadata, separate_val=val_structures is not None)
    train_idx, val_idx, test_idx = split_indices(
        len(structures), config, with_val=val_structures is not None
    )
    train_items = job.items(structures, train_idx, split="train")
    if val_structures is None:
        val_items = job.items(structures, val_idx, split="val")
    else:
        val_items = job.items(val_structures, range(len(val_structures)), split="val")
    test_items = job.items(structures, test_idx, split="test")
    sizes = (len(train_items), len(val_items), len(test_items))
    if state is None:
        job.prepare(model, train_items)
    else:
        assert run is not None
        _check_resumed_settings(run, job, config, sizes)

    model = model.to(device=device, dtype=dtype)
    if config.trainable is not None:
        _freeze(model, config.trainable)
    optimizer = _optimizer(model, config)
    loader = distributed.loader(
        train_items, config.batch_size, config.num_workers, seed=config.seed,
        shuffle=True,
    )  # fmt: skip
    val_loader = distributed.loader(
        val_items, config.batch_size, 0, seed=config.seed, shuffle=False
    )
    scheduler = _scheduler(optimizer, config, steps_per_epoch=len(loader))
    average = (
        None if config.ema_decay is None else WeightAverage(model, config.ema_decay)
    )
    start_epoch, best, stale, spent = 0, float("inf"), 0, 0.0
    if state is not None:
        _restore(state, model, optimizer, scheduler, average, len(loader))
        start_epoch, best, stale = state["epoch"] + 1, state["best"], state["stale"]
        spent = float(state.get("spent", 0.0))
    if run is None:  # every check passed: only now is the run directory made
        run = distributed.broadcast_path(new_run(out) if rank == 0 else None)
    step = distributed.wrap(_Step(model, job), device)
    if rank == 0:
        _write_hparams(run, model, job, config, metadata, sizes)
    log = (
        MetricsLog(run / METRICS, metric_columns(job), start_epoch=start_epoch)
        if rank == 0
        else None
    )

    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        distributed.set_epoch(loader, epoch)
        step.train()
        train_metrics = _run_epoch(
            step, loader, config, device, dtype, optimizer, scheduler, average,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            show=progress if rank == 0 else False,  # None: when on a terminal
            epoch=epoch,
        )  # fmt: skip
        train_seconds = time.perf_counter() - started
        step.eval()
        raw = None if average is None else _copy(model.state_dict())
        with _averaged(average, model):
            val_metrics = (
                _run_epoch(
                    step,
                    val_loader,
                    config,
                    device,
                    dtype,
                    desc="validation",
                    show=False,
                    epoch=epoch,
                )
                if len(val_items)
                else train_metrics
            )
            _check_finite_weights(model, epoch)
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
                if not _bars(progress):
                    _say(_epoch_line(epoch, config.epochs, row, improved))
                if improved:
                    save_checkpoint(checkpoint_path(run, BEST), model, epoch=epoch)
                extra = {} if raw is None else {"training_state_dict": raw}
                spent += time.perf_counter() - started
                save_checkpoint(
                    checkpoint_path(run, LAST), model, epoch=epoch, best=best,
                    stale=stale, spent=spent, optimizer=optimizer.state_dict(),
                    scheduler=scheduler.state_dict(), **extra,
                )  # fmt: skip
        if config.early_stopping is not None and stale >= config.early_stopping:
            break
        if config.max_minutes is not None and distributed.any_true(
            spent >= 60 * config.max_minutes, device
        ):
            break
    distributed.barrier()
    if rank == 0:
        assert log is not None
        plot_losses(run / "loss_curves.png", log.read())
        best_model, _ = load_checkpoint(checkpoint_path(run, BEST))
        best_model = best_model.to(device=device, dtype=dtype).eval()
        # without a test split the report is on the validation split, named so
        split, items = (
            ("test", test_items) if len(test_items) else ("validation", val_items)
        )
        lines = job.report(
            run, best_model, items, split=split, device=device, dtype=dtype
        )
        _summarise(run, log.read(), lines or [])
    # every rank leaves the group together: a rank that left while rank 0
    # still wrote its report aborted at exit once in CI ("terminate called
    # without an active exception", SIGABRT)
    distributed.barrier()
    distributed.teardown()
    return run


def _bars(progress: bool | None) -> bool:
    """Whether progress bars are shown (``None``: when stderr is a terminal)."""
    return bool(sys.stderr.isatty()) if progress is None else progress


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _epoch_line(epoch: int, epochs: int, row: dict[str, Any], improved: bool) -> str:
    """One plain line per epoch for logs: losses, validation metrics, time."""
    parts = [f"epoch {epoch + 1}/{epochs}", f"loss {row['train_loss']:.4g}"]
    shown = sorted(
        (k for k in row if k.startswith("val_")), key=lambda k: k != "val_loss"
    )
    parts += [f"{key} {row[key]:.4g}" for key in shown if math.isfinite(row[key])]
    parts.append(f"{row['seconds']:.1f} s" + ("  (best so far)" if improved else ""))
    return "  ".join(parts)


def _summarise(run: Path, rows: list[dict[str, str]], lines: list[str]) -> None:
    """Say which epoch was kept, and what the task's report found."""
    scored = [r for r in rows if r.get("val_loss")]
    if scored:
        best = min(scored, key=lambda r: float(r["val_loss"]))
        _say(
            f"finished {len(rows)} epochs; kept epoch {int(best['epoch']) + 1} "
            f"(validation loss {float(best['val_loss']):.4g}) as "
            f"{checkpoint_path(run, BEST)}"
        )
    for line in lines:
        _say(line)


def task_settings(task_class: type[Task], settings: Any) -> Any:
    """Return the task's settings from an instance, a mapping or ``None``.

    Raises
    ------
    asegen.errors.ConfigError
        For an unknown key or value (named with the task's section), or a
        settings object of another task's class.
    """
    wanted = task_class.config_class
    if settings is None:
        return wanted()
    if isinstance(settings, Mapping):
        return from_dict(wanted, settings, f"{task_class.section}.")
    if not isinstance(settings, wanted):
        raise ConfigError(
            f"the {task_class.name} task takes {wanted.__name__} settings, not "
            f"{type(settings).__name__}"
        )
    return settings


def metric_columns(task: Task) -> list[str]:
    """Return the columns of ``metrics.csv`` for ``task``."""
    return [
        "epoch",
        "lr",
        *(f"train_{name}" for name in task.metrics),
        *(f"val_{name}" for name in task.metrics),
        "train_seconds",
        "seconds",
    ]


def _sources(
    metadata: Mapping[str, Any] | None, *, separate_val: bool
) -> dict[str, str]:
    """Return the file of each split named by ``metadata`` (``data``, ``val``)."""
    metadata = metadata or {}
    data, val = metadata.get("data"), metadata.get("val")
    files = {"train": data, "val": val if separate_val else data, "test": data}
    return {split: str(name) for split, name in files.items() if name is not None}


def _resumed(
    out: str | os.PathLike, given: AtomisticModel, *, compare: bool
) -> tuple[Path, AtomisticModel, dict[str, Any]]:
    """Return the run directory, model and state of the newest ``last.pt``.

    Raises
    ------
    asegen.errors.ConfigError
        If the stored model is of another class than ``given`` or (with
        ``compare``) has other hparams.
    """
    run = latest_run(out)
    last = None if run is None else checkpoint_path(run, LAST)
    if last is None or not last.is_file():
        raise InputNotFoundError(
            f"nothing to resume in {out}: no checkpoints/{LAST}; "
            "start a new run without --resume"
        )
    assert run is not None
    model, state = load_checkpoint(last)
    if model.model_name != given.model_name:
        raise ConfigError(
            f"--resume: {run} holds a {model.model_name!r} model, not "
            f"{given.model_name!r}; resume it as a {model.model_name!r} run or give "
            "another --out for a new run"
        )
    if compare:
        difference = _first_difference(
            _plain(model.hparams()), _plain(given.hparams()), skip_empty=True
        )
        if difference is not None:
            key, old, new = difference
            raise ConfigError(
                f"--resume: the model of {run} has {_model_key(key)} = {old!r}, "
                f"the config gives {new!r}; resume with the run's model settings "
                "or give another --out for a new run"
            )
    return run, model, state


def _check_resumed_settings(
    run: Path, task: Task, config: TrainConfig, sizes: tuple[int, int, int]
) -> None:
    """Refuse settings or split sizes that differ from the run's ``hparams.yaml``.

    :data:`RESUME_MAY_CHANGE` may differ; keys the file lacks (runs of
    earlier releases) are not compared.

    Raises
    ------
    asegen.errors.ConfigError
        Naming the first key that differs, with both values.
    asegen.errors.DataFormatError
        If the run has no readable ``hparams.yaml``.
    """
    try:
        stored = yaml.safe_load((run / HPARAMS).read_text())
    except (OSError, yaml.YAMLError):
        stored = None
    if not isinstance(stored, dict):
        raise DataFormatError(
            f"--resume: {run / HPARAMS} is missing or unreadable, so the run's "
            "settings cannot be compared; restore it or start a new run"
        )
    given = _plain(_sections(task, config))
    for section, values in given.items():
        for key, value in values.items():
            if section == "train" and key in RESUME_MAY_CHANGE:
                continue
            old = (stored.get(section) or {}).get(key, value)
            difference = _first_difference(old, value, skip_empty=False)
            if difference is not None:
                path = ".".join(p for p in (section, key, difference[0]) if p)
                raise ConfigError(
                    f"--resume: {run} was trained with {path} = {difference[1]!r}, "
                    f"the config gives {difference[2]!r}; resume with the run's "
                    "value or give another --out for a new run (only "
                    f"{', '.join(sorted(RESUME_MAY_CHANGE))} may change on resume)"
                )
    data = stored.get("data") or {}
    for name, size in zip(("n_train", "n_val", "n_test"), sizes, strict=True):
        if data.get(name, size) != size:
            raise ConfigError(
                f"--resume: {run} was trained on a split of {data.get(name)} "
                f"structures where this data gives {size} ({name}); resume with "
                "the run's data and split settings"
            )


def _plain(value: Any) -> Any:
    """Return ``value`` as ``hparams.yaml`` stores it (tuples become lists)."""
    return yaml.safe_load(yaml.safe_dump(value))


def _first_difference(
    old: Any, new: Any, *, skip_empty: bool
) -> tuple[str, Any, Any] | None:
    """Return ``(dotted key, old, new)`` of the first leaf where they differ.

    With ``skip_empty``, a mapping that ``new`` leaves empty is not compared
    (statistics a task fits into a model, such as a diffusion process).
    """
    if isinstance(old, dict) and isinstance(new, dict):
        if skip_empty and not new:
            return None
        for key in sorted({*old, *new}, key=str):
            if key not in old or key not in new:
                return str(key), old.get(key), new.get(key)
            inner = _first_difference(old[key], new[key], skip_empty=skip_empty)
            if inner is not None:
                return ".".join(p for p in (str(key), inner[0]) if p), *inner[1:]
        return None
    return None if old == new else ("", old, new)


def _model_key(key: str) -> str:
    """Name a model hparams key as a config writes it (``config.x`` is ``model.x``)."""
    return "model." + key.removeprefix("config.")


def _restore(
    state: dict[str, Any],
    model: AtomisticModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    average: WeightAverage | None,
    steps_per_epoch: int,
) -> None:
    """Put the state of ``last.pt`` back: raw weights, average, optimizer, schedule."""
    if "training_state_dict" in state:  # saved with weight averaging
        if average is not None:
            updates = (state["epoch"] + 1) * steps_per_epoch
            average.load(state["state_dict"], updates)
        model.load_state_dict(state["training_state_dict"])
    elif average is not None:
        raise ConfigError(
            "the resumed run kept no average of its weights; resume it without "
            "train.ema_decay"
        )
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


def _copy(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {name: value.detach().clone() for name, value in state.items()}


def _averaged(average: WeightAverage | None, model: AtomisticModel) -> Any:
    """Context holding the averaged weights in ``model`` (a no-op without)."""
    return nullcontext() if average is None else average.applied(model)


def _freeze(model: nn.Module, trainable: list[str]) -> None:
    """Train only the parameters whose names match a pattern of ``trainable``."""
    matched = 0
    for name, parameter in model.named_parameters():
        keep = any(fnmatch.fnmatchcase(name, pattern) for pattern in trainable)
        parameter.requires_grad_(keep)
        matched += keep
    if not matched:
        raise ConfigError(
            f"train.trainable {trainable} matches no parameter of the model; "
            "give patterns of its parameter names (model.named_parameters())"
        )


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
    step: nn.Module,
    loader: torch.utils.data.DataLoader,
    config: TrainConfig,
    device: torch.device,
    dtype: torch.dtype,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    average: WeightAverage | None = None,
    *,
    desc: str,
    show: bool | None,
    epoch: int,
) -> dict[str, float]:
    """One pass over ``loader``; trains when an optimizer is given.

    Metrics are averaged over items, each batch weighted by its size.

    Raises
    ------
    asegen.errors.ConfigError
        If the loss of a batch (on any process) is not finite; nothing of
        that batch is applied.
    """
    sums: dict[str, float] = {}
    count = 0
    bar = tqdm(
        loader, desc=desc, leave=False, disable=None if show is None else not show
    )
    for number, batch in enumerate(bar):
        batch = batch.to(device=device, dtype=dtype)
        loss, metrics = step(batch)
        if distributed.any_true(not math.isfinite(metrics["loss"]), device):
            stage = "training" if optimizer is not None else "validation"
            raise ConfigError(
                f"the {stage} loss became {metrics['loss']} in epoch {epoch + 1} "
                f"(metrics.csv epoch {epoch}), batch {number + 1} of {len(loader)}; "
                "training stopped and checkpoints/last.pt keeps the last good "
                "epoch: lower train.learning_rate or set train.grad_clip and "
                "start a new run"
            )
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(step.parameters(), config.grad_clip)
            optimizer.step()
            assert scheduler is not None
            scheduler.step()
            if average is not None:
                average.update(_inner(step).model)
        size = batch.n_structures
        for key, value in metrics.items():
            sums[key] = sums.get(key, 0.0) + value * size
        count += size
        bar.set_postfix(loss=f"{sums['loss'] / count:.4g}", refresh=False)
    return distributed.average(sums, count)


def _check_finite_weights(model: nn.Module, epoch: int) -> None:
    """Raise before a checkpoint of non-finite weights could be written."""
    for name, parameter in model.named_parameters():
        if not torch.isfinite(parameter).all():
            raise ConfigError(
                f"the weight {name} became non-finite in epoch {epoch + 1} "
                f"(metrics.csv epoch {epoch}); training stopped and "
                "checkpoints/last.pt keeps the last good epoch: lower "
                "train.learning_rate or set train.grad_clip and start a new run"
            )


def _inner(step: nn.Module) -> _Step:
    """Return the :class:`_Step` inside a DDP wrapper (or ``step`` itself)."""
    return step.module if hasattr(step, "module") else step  # type: ignore[return-value]


def _write_hparams(
    run: Path,
    model: AtomisticModel,
    task: Task,
    config: TrainConfig,
    metadata: dict[str, Any] | None,
    sizes: tuple[int, int, int],
) -> None:
    n_train, n_val, n_test = sizes
    elements = trained_elements(model)
    symbols = {} if elements is None else {"trained_elements": [
        chemical_symbols[z] for z in elements
    ]}  # fmt: skip
    hparams = {
        "asegen_version": __version__,
        "model_class": model.model_name,
        "task": task.name,
        "model": model.hparams(),
        "graph": model.graph_options(),
        "normalisation": model.normalisation(),
        **symbols,
        **_sections(task, config),
        "data": {
            "n_train": n_train,
            "n_val": n_val,
            "n_test": n_test,
            **(metadata or {}),
        },
        "units": dict(UNITS),
    }
    (run / HPARAMS).write_text(yaml.safe_dump(hparams, sort_keys=False))


def _sections(task: Task, config: TrainConfig) -> dict[str, dict[str, Any]]:
    """Return the engine's and the task's settings by ``hparams.yaml`` section."""
    settings = dataclasses.asdict(task.settings)
    engine = dataclasses.asdict(config)
    sections: dict[str, dict[str, Any]] = {"train": engine}
    if task.section == "train":
        engine.update(settings)
    else:
        sections[task.section] = settings
    return sections
