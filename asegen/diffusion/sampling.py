"""What ``asegen sample`` runs: sample, optionally relax, append, resume."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.optimize import FIRE

from asegen.errors import ConfigError

__all__ = ["read_cell", "run_sampling"]


def run_sampling(
    model: str | os.PathLike,
    *,
    output: str | os.PathLike,
    n_samples: int,
    seed: int | None = None,
    batch_size: int = 32,
    cell: str | None = None,
    template: str | os.PathLike | None = None,
    properties: Sequence[str] = (),
    relax: str | None = None,
    fmax: float = 0.05,
    relax_steps: int = 200,
    device: str = "auto",
    progress: bool | None = None,
    shard: str | None = None,
    **request: Any,
) -> tuple[int, int]:
    """Sample ``n_samples`` structures into ``output``, resuming what it holds.

    ``request`` holds the other :meth:`DiffusionGenerator.sample` arguments
    (``formula``, ``n_atoms``, ``confinement``, ``guidance``, ``steps``,
    ``corrector``). Returns the number of structures written now and in
    total.

    Raises
    ------
    asegen.errors.ConfigError
        For bad options, or an output holding samples of another seed or
        batch size (resuming it would not continue the same stream).
    """
    from asegen._scaleout import (
        RUN_KEY,
        SHARD_KEY,
        UNITS_KEY,
        check_resumed_shard,
        fingerprint,
        parse_shard,
    )
    from asegen.augment.io import (
        OutputWriter,
        output_format,
        output_lock,
        read_existing,
        resumed_seed,
    )
    from asegen.augment.specs import build_calculator
    from asegen.data import read_structures
    from asegen.diffusion.generator import DiffusionGenerator, check_template
    from asegen.models.checkpoint import resolve_checkpoint

    for flag, value, least in (
        ("-n", n_samples, 1),
        ("--batch-size", batch_size, 1),
        ("--relax-steps", relax_steps, 0),
    ):
        if value < least:
            raise ConfigError(f"{flag} must be at least {least}, got {value}")
    if not fmax > 0:
        raise ConfigError(f"--fmax must be a positive number of eV/Å, got {fmax}")
    part = parse_shard(shard)
    fmt = output_format(output)
    calculator = build_calculator(relax) if relax else None
    start = None if template is None else _one(read_structures(template), template)
    if start is not None:
        check_template(start, f"the template {template}")
    if request.get("confinement") is not None:
        request["confinement"] = tuple(request["confinement"])
    generator = DiffusionGenerator.load(model, device=device)
    with output_lock(output):
        done = read_existing(output, fmt)
        if done:
            seed = resumed_seed(
                done[0].info, seed, batch_size, output,
                generator="diffusion", command="asegen sample", unit="samples",
            )  # fmt: skip
            request["steps"] = _resumed_steps(
                done[0].info, request.get("steps"), output
            )
        if request.get("steps") is None:
            request["steps"] = generator.process.sampling_steps
        tag: dict[str, Any] = {}
        if part is not None:
            if seed is None:
                raise ConfigError(
                    "--shard needs --seed: every shard must draw from the same "
                    "stream of samples"
                )
            run = fingerprint(
                "sample", Path(resolve_checkpoint(model)), seed, batch_size, cell,
                None if start is None else start, sorted(properties), relax, fmax,
                relax_steps, request,
            )  # fmt: skip
            units = -(-n_samples // batch_size)  # batches
            tag = {SHARD_KEY: str(part), RUN_KEY: run, UNITS_KEY: units}
        if done:
            check_resumed_shard(done[0].info, part, tag.get(RUN_KEY, ""), output)
        # the batches of this output, each written whole (the last one cut)
        counts = [
            min(batch_size, n_samples - lo) for lo in range(0, n_samples, batch_size)
        ]
        owned = [k for k, _ in enumerate(counts) if part is None or part.owns(k)]
        if len(done) >= sum(counts[k] for k in owned):
            return 0, len(done)
        held, skip = divmod(len(done), batch_size)
        written = 0
        with OutputWriter(output, fmt) as writer:
            for batch in generator.batches(
                n_samples,
                start=owned[held],
                shard=part,
                seed=seed,
                batch_size=batch_size,
                progress=progress,
                cell=None if cell is None else read_cell(cell),
                template=start,
                property=_properties(properties),
                **request,
            ):
                for atoms in batch[skip:]:
                    if calculator is not None:
                        _relax(atoms, calculator, fmax, relax_steps)
                    atoms.info.update(tag)
                    writer.write(atoms)
                    written += 1
                skip = 0
    return written, len(done) + written


def _resumed_steps(
    info: dict[str, Any], steps: int | None, output: str | os.PathLike
) -> int | None:
    """Return the steps that continue ``output``: the ones it was written with.

    Raises
    ------
    asegen.errors.ConfigError
        If ``steps`` is given and differs (the batches would not continue the
        same samples).
    """
    if "steps" not in info:
        return steps
    stored = int(info["steps"])
    if steps is not None and steps != stored:
        raise ConfigError(
            f"{output} was written with --steps {stored}; use it again (or leave "
            "--steps out) to continue the same samples, or write to another output"
        )
    return stored


def read_cell(text: str) -> Any:
    """Return a cell from ``a,b,c``, ``a,b,c,alpha,beta,gamma`` or a structure file."""
    if Path(text).is_file():
        from asegen.data import read_structures

        return _one(read_structures(text), text).cell
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(
            f"--cell {text!r} is neither a,b,c[,alpha,beta,gamma] nor a file"
        ) from None


def _one(images: Sequence[Atoms], path: str | os.PathLike) -> Atoms:
    if len(images) != 1:
        raise ConfigError(
            f"{path} holds {len(images)} structures; give a file with one"
        )
    return images[0]


def _properties(items: Sequence[str]) -> dict[str, float]:
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            values[name] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise ConfigError(f"--property {item!r} must look like NAME=NUMBER")
    return values


def _relax(atoms: Atoms, calculator: Any, fmax: float, steps: int) -> None:
    """Relax in place (template atoms stay fixed) and label with the result."""
    atoms.calc = calculator
    optimizer = FIRE(atoms, logfile=None)
    converged = optimizer.run(fmax=fmax, steps=steps)
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.array(forces))
    atoms.info["relax_steps"] = int(optimizer.nsteps)
    atoms.info["relaxed"] = bool(converged)
