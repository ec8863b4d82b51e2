"""Diffusion generator against AGeDi 1.4.0: training, sampling and sample quality.

    OMP_NUM_THREADS=1 python benchmarks/diffusion/compare_agedi.py \
        --anchor-python AGEDI_VENV/bin/python --out bench-out/diffusion-agedi \
        [--case {cuau8,cuau32,slab,cluster8}] [--data DIR]

The protocol of specs/diffusion.md, sections 11-13, on one set of
``make_data.py`` (``--data``'s file, else built here with the same seeded
stream). ``make agedi-anchor`` builds AGEDI_VENV
(``~/.cache/asegen-anchors/agedi-venv``). ``--case`` (``agedi_cases.py``)
picks the set, the request and the noisers of both tools:

- ``cuau8`` (default): Cu4Au4 in the 7.7 x 3.85 x 3.85 Å cell of the 150
  8-atom Cu-Au cells; AGeDi ``CellPositions`` + ``Types``, asegen
  ``--no-cell`` (positions and types in the given cell); 100 epochs.
- ``cuau32``: Cu16Au16 in the 7.7 Å cube of the 32-atom cells; 40 epochs.
- ``slab``: Cu9Au3 onto the fixed 18-atom Cu(111) slab (``slab_template``),
  inside the window 9.5-13.0 Å; AGeDi ``ConfinedCellPositions`` + ``Types``
  with its ``MaskFixed`` mask, asegen ``--noiser surface``; 20 epochs.
  AGeDi's template keeps raw atomic numbers where its type noiser expects
  its own indices (it crashes, defect K2 of the spec), so the AGeDi job
  hands it the template with the indices its noiser gives those elements.
- ``cluster8``: Cu4Au4 clusters without cell; AGeDi ``Positions`` + ``Types``
  (VP SDE, its default there), asegen ``--noiser gas`` (VP); 100 epochs.

1. Training: AGeDi (PaiNN 64x4, through its Python API
   ``train_from_atoms``) and asegen (``asegen train diffusion``) with the
   same epochs, batch size, learning rate and 90/10 split; structures/s of
   the training passes (validation left out) and of whole epochs.
2. Sampling the case's request, batch 32, each sampling case a fresh
   process timed around the sampling call only: AGeDi's Euler-Maruyama
   sampler at each of ``--anchor-steps`` (default 500, its default, 200 and
   100), asegen at its default (100 steps with the Langevin corrector, 199
   network calls) and without the corrector (100 calls), so that both tools
   are compared at their defaults and at equal network calls.
3. Quality: ``asegen evaluate`` on every sample file, with EMT relaxation
   (validity, composition, template and window, uniqueness and novelty
   after relaxation, relaxed energy per atom against the training range and
   hull) and without a calculator (uniqueness of the samples as generated).
4. Where sampling time goes: timers around the score network and the
   neighbour search of each tool, one batch of 32, in a separate run.

Each tool runs in its own interpreter: the anchor in ``--anchor-python``
(this file runs there too, as a job that imports only the anchor's packages),
asegen in this one. Both get ``--threads`` (OMP/MKL variables and
``torch.set_num_threads``). Before every timed stage the script waits (up to
``--max-wait`` seconds) until no other ``benchmarks/`` process runs, then up to
``--max-busy-wait`` seconds for a calm CPU, and records how many cores other
processes used during each stage (``stages`` in ``results.json``, the "other
cores" columns). Writes ``results.json`` and ``results.md`` into ``--out``;
the logs, runs and samples of both tools stay there (``--report-only``
rebuilds the tables).

``--small`` is a smoke run of a few minutes: 30 structures, 2 epochs,
8 samples, few steps; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from agedi_cases import CASES
from agedi_report import markdown, quality, training_row

HERE = Path(__file__).resolve().parent
EMT = "+ase.calculators.emt.EMT()"


# -- jobs: each runs in a fresh interpreter (the anchor's or asegen's) -----------


def _threads(job):
    import torch

    torch.set_num_threads(job["threads"])
    return torch


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def job_versions(job):
    """Versions of the packages this interpreter runs (either venv)."""
    from importlib import metadata

    names = ["torch", "ase", "numpy", *job.get("packages", [])]
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return {"python": platform.python_version(), "packages": found}


def job_agedi_train(job):
    """Train AGeDi with its Python API; time every epoch with a callback."""
    torch = _threads(job)
    import lightning
    from agedi.api import train_from_atoms
    from ase.io import read
    from lightning.pytorch.callbacks import Callback

    lightning.seed_everything(job["seed"], workers=True)

    class Clock(Callback):
        """Seconds of each epoch: the training pass, and the whole epoch."""

        def __init__(self):
            self.train, self.total = [], []
            self._start = self._val_start = None

        def on_train_epoch_start(self, trainer, module):
            self._start, self._val_start = time.perf_counter(), None

        def on_validation_start(self, trainer, module):
            if not trainer.sanity_checking and self._start is not None:
                self._val_start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            now = time.perf_counter()
            self.train.append((self._val_start or now) - self._start)
            self.total.append(now - self._start)

    clock = Clock()
    data = read(job["data"], ":")
    start = time.perf_counter()
    diffusion, dataset, trainer = train_from_atoms(
        data,
        noisers=job["noisers"],
        **job["options"],
        batch_size=job["batch_size"],
        lr=job["lr"],
        train_split=0.9,
        val_split=0.1,
        epochs=job["epochs"],
        max_time=None,
        accelerator="cpu",
        log_dir=job["log_dir"],
        progress_bar=False,
        print_epoch_interval=0,
        extra_callbacks=[clock],
    )
    seconds = time.perf_counter() - start
    return {
        "run": str(trainer.logger.log_dir),
        "n_train": len(dataset.train_idx),
        "n_val": len(dataset.val_idx),
        "parameters": sum(p.numel() for p in diffusion.score_model.parameters()),
        "epoch_train_seconds": clock.train,
        "epoch_seconds": clock.total,
        "fit_seconds": seconds,
        "torch_threads": torch.get_num_threads(),
        "peak_rss_mb": _peak_mb(),
    }


def job_agedi_sample(job):
    """Sample with AGeDi's Python API (``agedi.api.sample``) and write extxyz.

    A template is handed over as AGeDi's graph with the type indices its
    type noiser gives those elements (``Types._atomic_to_compact``, what its
    training saw): with the atomic numbers that ``AtomsGraph.from_atoms``
    keeps, the first reverse step fails (defect K2 of the spec). Its last
    step maps every index back to an atomic number, the template's too.
    """
    torch = _threads(job)
    from agedi.api import load_diffusion, sample
    from agedi.data.atoms_graph import AtomsGraph
    from ase.io import read, write

    torch.manual_seed(job["seed"])
    diffusion = load_diffusion(job["run"], device="cpu")
    clock = {"network": 0.0, "network_calls": 0, "neighbours": 0.0, "nl_calls": 0}
    if job.get("profile"):
        _time_module(diffusion.score_model, clock)
        update = AtomsGraph.update_graph

        def timed_update(self):
            begin = time.perf_counter()
            rebuilt = update(self)
            clock["neighbours"] += time.perf_counter() - begin
            clock["nl_calls"] += 1
            return rebuilt

        AtomsGraph.update_graph = timed_update
    where = {}
    if job["template_extxyz"]:
        template = AtomsGraph.from_atoms(
            read(job["template_extxyz"]), confinement=job["confinement"]
        )
        types = next(n for n in diffusion.noisers if hasattr(n, "_atomic_to_compact"))
        template.x = types._atomic_to_compact[template.x]
        where = {"template": template, "confinement": job["confinement"]}
    elif job["cell"]:
        a, b, c = job["cell"]
        where = {"cell": [[a, 0.0, 0.0], [0.0, b, 0.0], [0.0, 0.0, c]]}
    else:  # clusters
        where = {"pbc": [False, False, False]}
    start = time.perf_counter()
    samples = sample(
        diffusion,
        n_samples=job["n"],
        formula=job["formula"],
        **where,
        steps=job["steps"],
        batch_size=job["batch_size"],
    )
    seconds = time.perf_counter() - start
    for atoms in samples:
        atoms.info.update(generator="agedi", steps=job["steps"])
    write(job["output"], samples, format="extxyz")
    return _sample_result(job, seconds, clock, torch)


def job_asegen_sample(job):
    """Sample with asegen's Python API (as ``asegen sample`` does) and write extxyz."""
    import asegen

    asegen.tune_allocator()  # what the asegen command does at start-up
    torch = _threads(job)
    from ase.io import write

    from asegen.data import read_structures
    from asegen.diffusion import graphs

    generator = asegen.load(job["run"])
    clock = {"network": 0.0, "network_calls": 0, "neighbours": 0.0, "nl_calls": 0}
    searches = []
    if job.get("profile"):
        _time_module(generator.model, clock)
        call = graphs.EdgeCache.__call__

        def timed_edges(self, graph):
            begin = time.perf_counter()
            edged = call(self, graph)
            clock["neighbours"] += time.perf_counter() - begin
            clock["nl_calls"] += 1
            searches[:] = [sum(lists.searches for lists in self._lists)]
            return edged

        graphs.EdgeCache.__call__ = timed_edges
    where = {}
    if job["template"]:
        template = next(iter(read_structures(job["template"])))
        where = {"template": template, "confinement": job["confinement"]}
    elif job["cell"]:
        where = {"cell": list(job["cell"])}
    start = time.perf_counter()
    samples = generator.sample(
        job["n"],
        formula=job["formula"],
        **where,
        steps=job["steps"],
        corrector=job["corrector"],
        seed=job["seed"],
        batch_size=job["batch_size"],
        progress=False,
    )
    seconds = time.perf_counter() - start
    write(job["output"], samples, format="extxyz")
    result = _sample_result(job, seconds, clock, torch)
    if searches:
        result["full_searches"] = searches[0]
    return result


def _time_module(module, clock):
    """Accumulate the seconds of every forward call of ``module`` in ``clock``."""

    def before(_module, _inputs):
        clock["_start"] = time.perf_counter()

    def after(_module, _inputs, _output):
        clock["network"] += time.perf_counter() - clock.pop("_start")
        clock["network_calls"] += 1

    module.register_forward_pre_hook(before)
    module.register_forward_hook(after)


def _sample_result(job, seconds, clock, torch):
    result = {
        "n": job["n"],
        "seconds": seconds,
        "structures_per_s": job["n"] / seconds,
        "torch_threads": torch.get_num_threads(),
        "peak_rss_mb": _peak_mb(),
    }
    if job.get("profile"):
        clock.pop("_start", None)
        result.update(clock)
    return result


JOBS = {
    "versions": job_versions,
    "agedi_train": job_agedi_train,
    "agedi_sample": job_agedi_sample,
    "asegen_sample": job_asegen_sample,
}


def run_job_file(path: Path) -> None:
    job = json.loads(path.read_text())
    result = JOBS[job["kind"]](job)
    Path(job["result"]).write_text(json.dumps(result, indent=1))


# -- the driver (asegen's interpreter) ------------------------------------------


def busy_seconds() -> float:
    """CPU seconds all processes of the machine have used (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(v) for v in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_busy(seconds: float) -> float:
    """Cores busy over the next ``seconds`` (this process sleeps meanwhile)."""
    before = busy_seconds()
    time.sleep(seconds)
    return (busy_seconds() - before) / seconds


class Bench:
    """Runs the stages, waits for a quiet machine, and keeps the record."""

    def __init__(self, args):
        self.args = args
        self.out = args.out.resolve()
        self.env = os.environ | {
            "OMP_NUM_THREADS": str(args.threads),
            "MKL_NUM_THREADS": str(args.threads),
            "OPENBLAS_NUM_THREADS": str(args.threads),
            "PYTHONUNBUFFERED": "1",
        }
        self.asegen_cli = str(Path(sys.executable).with_name("asegen"))
        self.case = CASES[args.case]
        self.template = None  # the case's template files, set by data()
        self.record = {"commands": {}, "stages": {}}

    # machine state

    def others(self) -> list[str]:
        found = subprocess.run(
            ["pgrep", "-af", "benchmarks/"], capture_output=True, text=True
        ).stdout.splitlines()
        return [line for line in found if "compare_agedi.py" not in line]

    def wait_quiet(self, stage: str) -> dict:
        """Wait for other benchmarks to end, then briefly for a calm CPU.

        Other ``benchmarks/`` processes: up to ``--max-wait`` seconds. Other
        CPU load (tests, builds of colleagues): up to ``--max-busy-wait``
        seconds for fewer than ``--max-busy`` busy cores; the stage then runs
        anyway and its record says how many cores others used meanwhile.
        """
        waited = 0
        while (busy := self.others()) and waited < self.args.max_wait:
            print(f"[{stage}] waiting for {busy}", flush=True)
            time.sleep(30)
            waited += 30
        calm = 0.0
        while (cores := cpu_busy(3.0)) >= self.args.max_busy:
            if calm >= self.args.max_busy_wait:
                break
            calm += 3.0
        state = {
            "waited_s": waited + calm, "others": busy,
            "busy_cores_before": round(cores, 2), "load": os.getloadavg(),
        }  # fmt: skip
        if busy:
            print(f"[{stage}] other benchmarks still run after {waited} s: {busy}")
        return state

    # subprocesses

    def job(self, python: str, name: str, **job) -> dict:
        folder = self.out / "jobs"
        folder.mkdir(parents=True, exist_ok=True)
        job["threads"] = self.args.threads
        job["result"] = str(folder / f"{name}.result.json")
        (folder / f"{name}.json").write_text(json.dumps(job, indent=1))
        command = [
            python,
            str(Path(__file__).resolve()),
            "--job",
            str(folder / f"{name}.json"),
        ]
        self.run(name, command)
        return json.loads(Path(job["result"]).read_text())

    def run(self, name: str, command: list[str]) -> float:
        self.record["commands"][name] = " ".join(command)
        log = self.out / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"[{name}] {' '.join(command)}", flush=True)
        busy, children = busy_seconds(), child_cpu_seconds()
        start = time.perf_counter()
        with log.open("w") as handle:
            done = subprocess.run(
                command, stdout=handle, stderr=subprocess.STDOUT, env=self.env
            )
        seconds = time.perf_counter() - start
        # CPU the rest of the machine used meanwhile, in cores (contention)
        others = (busy_seconds() - busy) - (child_cpu_seconds() - children)
        self.record["stages"][name] = {
            "wall_s": round(seconds, 2), "other_cores": round(others / seconds, 2),
        }  # fmt: skip
        if done.returncode:
            tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
            raise SystemExit(f"{name} failed ({done.returncode}); {log}:\n{tail}")
        print(f"[{name}] {seconds:.1f} s", flush=True)
        return seconds

    # stages

    def data(self) -> tuple[Path, Path]:
        """The case's set: ``--data``'s file, else built with make_data's stream.

        Also the case's template (``self.template``: its HDF5 file and an
        extxyz copy for the anchor), from ``--data`` or make_data.
        """
        from ase.io import write

        from asegen.data import read_structures

        sys.path.insert(0, str(HERE))
        import make_data

        case, seed = self.case, self.args.data_seed
        (self.out / "data").mkdir(parents=True, exist_ok=True)
        count = 30 if self.args.small else make_data.FULL[case.data]
        files = {
            case.data: self._built(
                case.data, lambda: make_data.build(case.data, count, seed)
            )
        }
        if case.template:  # the slab's: make_data writes it the same way
            files[case.template] = self._built(
                case.template, lambda: [make_data.slab_template()]
            )
        for name, h5 in files.items():
            xyz = self.out / "data" / f"{h5.stem}.extxyz"  # what the anchor reads
            write(xyz, list(read_structures(h5)), format="extxyz")
            files[name] = {"h5": str(h5), "extxyz": str(xyz)}
        self.template = files.get(case.template)
        self.record["data"] = files[case.data] | {"template": self.template}
        return Path(files[case.data]["h5"]), Path(files[case.data]["extxyz"])

    def _built(self, name: str, make) -> Path:
        """``--data``'s ``NAME.h5``, else the structures of ``make()`` written here."""
        from asegen.data import write as write_h5

        given = self.args.data / f"{name}.h5" if self.args.data else None
        if given is not None and given.exists() and not self.args.small:
            return given.resolve()
        h5 = self.out / "data" / f"{name}{'-small' if self.args.small else ''}.h5"
        if not h5.exists():
            write_h5(h5, make())
        return h5

    def versions(self) -> None:
        anchor = self.job(
            self.args.anchor_python, "versions-agedi", kind="versions",
            packages=[
                "agedi", "schnetpack", "lightning", "torch-geometric", "matscipy",
            ],
        )  # fmt: skip
        ours = self.job(
            sys.executable, "versions-asegen", kind="versions",
            packages=["asegen", "matscipy"],
        )  # fmt: skip
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        self.record["versions"] = {"agedi": anchor, "asegen": ours}
        self.record["machine"] = {"cpu": cpu, "cores": os.cpu_count()}

    def train_agedi(self, xyz: Path) -> dict:
        log_dir = self.out / "agedi-train"
        shutil.rmtree(log_dir, ignore_errors=True)
        quiet = self.wait_quiet("train-agedi")
        result = self.job(
            self.args.anchor_python, "train-agedi", kind="agedi_train",
            data=str(xyz), log_dir=str(log_dir), epochs=self.args.epochs,
            batch_size=self.args.batch_size, lr=self.args.lr, seed=self.args.seed,
            noisers=list(self.case.agedi_noisers), options=self.case.agedi_options,
        )  # fmt: skip
        result["machine"] = quiet
        return result

    def train_asegen(self, h5: Path) -> dict:
        parent = self.out / "asegen-train"
        shutil.rmtree(parent, ignore_errors=True)
        quiet = self.wait_quiet("train-asegen")
        command = [
            self.asegen_cli, "train", "diffusion", "--data", str(h5),
            "--out", str(parent), "--epochs", str(self.args.epochs),
            "--batch-size", str(self.args.batch_size), "--lr", str(self.args.lr),
            "--seed", str(self.args.seed), *self.case.asegen_options,
            "--device", "cpu",
            "--set", "train.train_ratio=0.9", "--set", "train.val_ratio=0.1",
            "--set", "train.test_ratio=0",
        ]  # fmt: skip
        wall = self.run("train-asegen", command)
        run = max(parent.glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
        import csv

        with (run / "metrics.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        hparams = (run / "hparams.yaml").read_text()
        sizes = [int(v) for v in re.findall(r"\bn_(?:train|val): (\d+)", hparams)]
        import asegen

        generator = asegen.load(run)
        return {
            "run": str(run),
            "n_train": sizes[0],
            "n_val": sizes[1],
            "parameters": sum(p.numel() for p in generator.model.parameters()),
            "epoch_train_seconds": [float(r["train_seconds"]) for r in rows],
            "epoch_seconds": [float(r["seconds"]) for r in rows],
            "command_seconds": wall,
            "machine": quiet,
        }

    def sample(self, case: dict, run: str, profile: bool = False) -> dict:
        tool = case["tool"]
        name = f"{'profile' if profile else 'sample'}-{case['name']}"
        folder = self.out / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        n = self.args.batch_size if profile else self.args.samples
        quiet = self.wait_quiet(name)
        # asegen always draws whole batches (a sample depends only on the seed,
        # the batch size and its index), so a batch larger than n wastes work
        template = self.template or {}
        job = {
            "run": run, "n": n, "formula": self.case.formula, "cell": self.case.cell,
            "template": template.get("h5"), "template_extxyz": template.get("extxyz"),
            "confinement": self.case.confinement,
            "steps": case["steps"], "batch_size": min(self.args.batch_size, n),
            "seed": self.args.seed, "profile": profile,
            "output": str(folder / f"{name}.extxyz"),
        }  # fmt: skip
        if tool == "agedi":
            result = self.job(self.args.anchor_python, name, kind="agedi_sample", **job)
        else:
            job["corrector"] = case["corrector"]
            result = self.job(sys.executable, name, kind="asegen_sample", **job)
        result.update(output=job["output"], machine=quiet)
        return result

    def evaluate(self, name: str, samples: str, reference: Path) -> dict:
        folder = self.out / "evaluate"
        folder.mkdir(parents=True, exist_ok=True)
        fill = []  # template unchanged, new atoms inside the window
        if self.template:
            fill += ["--template", self.template["h5"]]
        if self.case.confinement:
            fill += ["--confinement", *map(str, self.case.confinement)]
        for mode, extra in (("emt", ["--calculator", EMT]), ("raw", [])):
            target = folder / f"{name}-{mode}.json"
            command = [
                self.asegen_cli, "evaluate", samples, "--reference", str(reference),
                "--formula", self.case.formula, *fill, *extra,
                "--json", str(target), "--no-plot",
            ]  # fmt: skip
            self.run(f"evaluate-{name}-{mode}", command)
        return self.quality(name, samples)

    def quality(self, name: str, samples: str) -> dict:
        """The metrics of the comparison from the ``asegen evaluate`` JSON files."""
        from collections import Counter

        from ase.io import read

        folder = self.out / "evaluate"
        emt = json.loads((folder / f"{name}-emt.json").read_text())
        raw = json.loads((folder / f"{name}-raw.json").read_text())
        held = emt["settings"]["n_template"]  # composition of the new atoms
        formulas = Counter(a[held:].get_chemical_formula() for a in read(samples, ":"))
        return quality(emt, raw) | {"formulas": dict(formulas.most_common())}


def cases(args) -> list[dict]:
    """AGeDi at each of ``--anchor-steps``, asegen with and without corrector.

    AGeDi's Euler-Maruyama sampler calls its network once per step; asegen's
    predictor-corrector twice per step but once on the last (``2 n - 1``):
    asegen's default for the models trained here (60 steps, focused training
    times: 119 calls) and asegen without corrector (60 calls) both sit
    between AGeDi's 200 and 100 steps.
    """
    agedi_steps = args.anchor_steps or ([50, 20, 10] if args.small else [500, 200, 100])
    n = args.asegen_steps or (10 if args.small else 60)
    found = [
        {"name": f"agedi-{steps}", "tool": "agedi", "steps": steps, "calls": steps}
        for steps in agedi_steps
    ]
    found += [
        {"name": f"asegen-pc{n}", "tool": "asegen", "steps": n, "corrector": True,
         "calls": 2 * n - 1},
        {"name": f"asegen-em{n}", "tool": "asegen", "steps": n, "corrector": False,
         "calls": n},
    ]  # fmt: skip
    return found


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    parser.add_argument("--anchor-python", help="python of AGeDi's own virtualenv")
    parser.add_argument(
        "--case", choices=list(CASES), default="cuau8",
        help="set, request and noisers (agedi_cases.py)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path,
        help="results folder (default bench-out/diffusion-agedi[-CASE])",
    )  # fmt: skip
    parser.add_argument(
        "--data", type=Path,
        help="folder of make_data.py's sets (CASE.h5, slab_template.h5); else built",
    )  # fmt: skip
    parser.add_argument("--data-seed", type=int, default=0, help="make_data's --seed")
    parser.add_argument("--small", action="store_true", help="smoke run, minutes")
    parser.add_argument(
        "--epochs", type=int,
        help="training epochs (default the case's: cuau8 100, cuau32 40, slab 20, "
        "cluster8 100)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--samples", type=int, help="samples per case (default 64)")
    parser.add_argument(
        "--anchor-steps", type=int, nargs="+",
        help="AGeDi's sampling steps, one case each (default 500 200 100)",
    )  # fmt: skip
    parser.add_argument(
        "--asegen-steps", type=int,
        help="asegen's steps (default 60, the default of a model trained with "
        "focused times; 100 for models trained before)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--max-wait", type=int, default=300,
        help="seconds to wait for other benchmarks before each timed stage",
    )  # fmt: skip
    parser.add_argument(
        "--max-busy", type=float, default=0.3,
        help="other processes may use this many cores before a timed stage",
    )  # fmt: skip
    parser.add_argument(
        "--max-busy-wait", type=int, default=10,
        help="seconds to wait for --max-busy before running a stage anyway",
    )  # fmt: skip
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument(
        "--reuse-training", type=Path, metavar="OUT",
        help="skip training: sample from the runs recorded in OUT/results.json",
    )  # fmt: skip
    parser.add_argument(
        "--retrain-asegen", action="store_true",
        help="with --reuse-training: train asegen afresh, reuse only AGeDi's run",
    )  # fmt: skip
    parser.add_argument(
        "--report-only", action="store_true",
        help="rebuild results.json/.md of --out from its evaluation files",
    )  # fmt: skip
    parser.add_argument("--job", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job is None and not args.report_only and not args.anchor_python:
        parser.error("--anchor-python is required")
    if args.out is None:
        suffix = "" if args.case == "cuau8" else f"-{args.case}"
        args.out = Path(f"bench-out/diffusion-agedi{suffix}")
    args.epochs = args.epochs or (2 if args.small else CASES[args.case].epochs)
    args.samples = args.samples or (8 if args.small else 64)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.job is not None:
        return run_job_file(args.job)
    bench = Bench(args)
    if args.report_only:
        return report_only(bench)
    bench.out.mkdir(parents=True, exist_ok=True)
    record = bench.record
    record["settings"] = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
    }
    record["case"] = {"name": args.case} | asdict(bench.case)
    started = time.perf_counter()
    h5, xyz = bench.data()
    bench.versions()
    if args.reuse_training:  # sample again from the runs of an earlier --out
        earlier = json.loads((args.reuse_training / "results.json").read_text())
        raw = earlier["training_raw"]
        record["stages"].update(
            {k: v for k, v in earlier["stages"].items() if k.startswith("train-")}
        )
        record["training_from"] = str(args.reuse_training)
        if args.retrain_asegen:
            raw["asegen"] = bench.train_asegen(h5)  # its stage replaces the earlier
    else:
        raw = {"agedi": bench.train_agedi(xyz), "asegen": bench.train_asegen(h5)}
    record["training_raw"] = raw
    record["training"] = {tool: training_row(r) for tool, r in raw.items()}
    runs = {tool: r["run"] for tool, r in raw.items()}
    record["cases"] = cases(args)
    record["sampling"] = {
        case["name"]: bench.sample(case, runs[case["tool"]]) for case in record["cases"]
    }
    if not args.no_profile:
        # one batch each: asegen's default and AGeDi at its fewest steps
        agedi = [case for case in record["cases"] if case["tool"] == "agedi"]
        profiled = [record["cases"][-2], min(agedi, key=lambda case: case["steps"])]
        record["profile"] = {
            case["name"]: bench.sample(case, runs[case["tool"]], profile=True)
            for case in profiled
        }
    record["quality"] = {
        name: bench.evaluate(name, result["output"], h5)
        for name, result in record["sampling"].items()
    }
    record["total_seconds"] = time.perf_counter() - started
    write_results(bench.out, record)


def write_results(out: Path, record: dict) -> None:
    (out / "results.json").write_text(json.dumps(record, indent=1))
    table = markdown(record)
    (out / "results.md").write_text(table)
    print(table)
    print(f"wrote {out / 'results.json'} ({record['total_seconds']:.0f} s)")


def report_only(bench: Bench) -> None:
    """Recompute the quality metrics and tables of a finished ``--out``."""
    record = json.loads((bench.out / "results.json").read_text())
    record["quality"] = {
        name: bench.quality(name, result["output"])
        for name, result in record["sampling"].items()
    }
    write_results(bench.out, record)


if __name__ == "__main__":
    main()
