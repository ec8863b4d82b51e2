# asegen developer commands. `make demo` and `make test` work on a fresh machine
# with Python >= 3.10 (tested with 3.11) and pip: they create .venv and install
# what they need.

PYTHON ?= python3
VENV ?= .venv
# A plain `pip install torch` can pull a multi-GB CUDA build; install this first.
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SHARED ?= ../shared
PYTEST_ARGS ?= -n 2
# alignn, the anchor of ALIGNNCalculator.from_alignn, lives in its own
# virtualenv outside the repository: never a dependency of asegen.
ALIGNN_VENV ?= $(HOME)/.cache/asegen-anchors/alignn-venv
PARITY_OUT ?= $(CURDIR)/bench-out/parity
# schnetpack-gschnet, the anchor of AutoregressivePlacer (specs/gschnet.md,
# section 1), in its own virtualenv: never a dependency of asegen. GitHub at
# the spec's commit by default; GSCHNET_SRC=<checkout> for a local copy.
GSCHNET_VENV ?= $(HOME)/.cache/asegen-anchors/gschnet-venv
GSCHNET_SRC ?= git+https://github.com/atomistic-machine-learning/schnetpack-gschnet@f60addfddad4677f4437318c923fb9f29a2a254f
# AGeDi 1.4.0, the anchor of DiffusionGenerator (specs/diffusion.md), in its own
# virtualenv for benchmarks/diffusion/compare_agedi.py: never a dependency of asegen.
AGEDI_VENV ?= $(HOME)/.cache/asegen-anchors/agedi-venv
# `make data`: the full reference datasets, regenerated outside git.
DATA_OUT ?= data-out
DATA_JOBS ?= 2
# Universal ML potentials that ship their weights (specs/augment.md, section 6),
# one virtualenv each, for the optional labeler tests.
LABELERS_HOME ?= $(HOME)/.cache/asegen-anchors
LABELERS ?= chgnet==0.4.2 sevenn==0.13.0

.PHONY: help dev demo test lint format docs style parity gschnet-anchor agedi-anchor \
	labelers bench \
	data examples clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)

# Torch first (only if missing), then the package; stamps re-run pip when
# pyproject.toml changes.
$(VENV)/.base: pyproject.toml | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install "$(TORCH)"
	$(PIP) install -e .
	touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.base
	$(PIP) install -e ".[test]"
	touch $@

dev: $(VENV)/.test  ## create .venv with the package and the test extras

# the demo checks molecules with RDKit: the `molecules` extra
$(VENV)/.demo: pyproject.toml $(VENV)/.base
	$(PIP) install -e ".[molecules]"
	touch $@

demo: $(VENV)/.demo  ## bundled Pd-O FF grows seeds -> train a small FF -> MD, Pd4O4 samples, molecules -> demo-out/REPORT.md
	rm -rf demo-out && mkdir -p demo-out
	$(VENV)/bin/asegen augment examples/augment_demo.yaml
	$(VENV)/bin/asegen info demo-out/augmented.h5
	$(VENV)/bin/asegen train alignn examples/alignn_demo.yaml \
		--data demo-out/augmented.h5 --out demo-out/logs
	OMP_NUM_THREADS=1 $(PY) examples/demo_report.py demo-out/logs/version_0 demo-out

test: $(VENV)/.test lint docs parity  ## lint, docs, alignn parity, the whole test suite
	# one torch thread per xdist worker: two workers x two threads on two cores
	# oversubscribe the CPU and made the suite 7x slower
	OMP_NUM_THREADS=1 $(PY) -m pytest $(PYTEST_ARGS)

$(ALIGNN_VENV)/.installed:
	$(PYTHON) -m venv $(ALIGNN_VENV)
	$(ALIGNN_VENV)/bin/python -m pip install -q "$(TORCH)"
	$(ALIGNN_VENV)/bin/python -m pip install -q numpy scipy jarvis-tools spglib \
		scikit-learn matplotlib tqdm pandas pydantic pydantic-settings ase lmdb \
		matscipy psutil requests mpmath pyparsing
	$(ALIGNN_VENV)/bin/python -m pip install -q --no-deps alignn==2026.8.11
	touch $@

parity: $(VENV)/.test $(ALIGNN_VENV)/.installed  ## from_alignn against alignn itself
	rm -rf $(PARITY_OUT) && mkdir -p $(PARITY_OUT)
	cd $(PARITY_OUT) && $(ALIGNN_VENV)/bin/python $(CURDIR)/benchmarks/alignn/parity.py \
		anchor $(PARITY_OUT)/float64 --float64
	$(PY) benchmarks/alignn/parity.py compare $(PARITY_OUT)/float64 --float64
	cd $(PARITY_OUT) && $(ALIGNN_VENV)/bin/python $(CURDIR)/benchmarks/alignn/parity.py \
		anchor $(PARITY_OUT)/float32
	$(PY) benchmarks/alignn/parity.py compare $(PARITY_OUT)/float32

$(GSCHNET_VENV)/.installed:
	$(PYTHON) -m venv $(GSCHNET_VENV)
	$(GSCHNET_VENV)/bin/python -m pip install -q "$(TORCH)"
	$(GSCHNET_VENV)/bin/python -m pip install -q "numpy<2.4" sympy ase h5py pyyaml \
		hydra-core "$(TORCH)" pytorch_lightning torchmetrics hydra-colorlog rich \
		fasteners dirsync torch-ema "matscipy>=1.1.0" tensorboard tensorboardX tqdm \
		protobuf progressbar petname vesin rdkit
	# schnetpack 2.2.0 declares Python >= 3.12 but runs on 3.11 (spec section 1)
	$(GSCHNET_VENV)/bin/python -m pip download -q schnetpack==2.2.0 --no-deps \
		--ignore-requires-python -d $(GSCHNET_VENV)/dl
	$(GSCHNET_VENV)/bin/python -m pip install -q --no-deps --ignore-requires-python \
		$(GSCHNET_VENV)/dl/schnetpack-2.2.0-py3-none-any.whl
	$(GSCHNET_VENV)/bin/python -m pip install -q --no-deps "$(GSCHNET_SRC)"
	touch $@

gschnet-anchor: $(GSCHNET_VENV)/.installed  ## the cG-SchNet anchor's own venv, for benchmarks/placer

$(AGEDI_VENV)/.installed:
	$(PYTHON) -m venv $(AGEDI_VENV)
	$(AGEDI_VENV)/bin/python -m pip install -q "$(TORCH)"
	# AGeDi's declared dependencies and those of schnetpack (its PaiNN backbone)
	$(AGEDI_VENV)/bin/python -m pip install -q "$(TORCH)" ase hydra-core lightning \
		numpy rich-click tensorboard torch-ema torch-geometric h5py pyyaml sympy \
		torchmetrics hydra-colorlog rich fasteners dirsync "matscipy>=1.1.0" \
		tensorboardX tqdm protobuf progressbar petname vesin
	# both declare Python >= 3.12 but run on 3.11 (specs/diffusion.md, B1)
	$(AGEDI_VENV)/bin/python -m pip install -q --no-deps --ignore-requires-python \
		agedi==1.4.0 schnetpack==2.2.0
	$(AGEDI_VENV)/bin/python -c "import agedi.api"
	touch $@

agedi-anchor: $(AGEDI_VENV)/.installed  ## AGeDi's own venv, for benchmarks/diffusion

labelers: $(VENV)/.test  ## augment with CHGNet and SevenNet (own venvs; slow)
	for pkg in $(LABELERS); do \
		venv=$(LABELERS_HOME)/$${pkg%%==*}-venv; \
		test -x $$venv/bin/python || $(PYTHON) -m venv $$venv || exit 1; \
		$$venv/bin/python -c "import torch" 2>/dev/null || \
			$$venv/bin/python -m pip install -q "$(TORCH)" || exit 1; \
		$$venv/bin/python -m pip install -q "$$pkg" pytest -e . || exit 1; \
		OMP_NUM_THREADS=1 $$venv/bin/python -m pytest -q -p no:cacheprovider \
			tests/augment/test_universal_labelers.py -k $${pkg%%==*} || exit 1; \
	done

lint: $(VENV)/.test  ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.test  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

docs: $(VENV)/.test  ## build the HTML docs, warnings as errors
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html

style: $(VENV)/.test  ## layout, hint and docstring figures; model calls per geometry
	$(PY) $(SHARED)/tools/style_metrics.py asegen --long 500 --max-median 250 \
		--max-lines 800 --min-hinted 90 --min-doc 90 --max-all 8
	$(PY) $(SHARED)/tools/count_forward_calls.py ase-lj \
		tests/calculator_factories.py:tiny_alignn --max-calls 1

bench: $(VENV)/.test  ## run the benchmarks (minutes; results go to bench-out/)
	mkdir -p bench-out
	$(PY) benchmarks/neighbours.py | tee bench-out/neighbours.md
	$(PY) benchmarks/data_io.py | tee bench-out/data_io.md

$(VENV)/.data: pyproject.toml $(VENV)/.base
	$(PIP) install -e ".[data]"
	touch $@

data: $(VENV)/.data  ## regenerate the full molecule and Pd–O sets into data-out/ (about 1 CPU hour)
	OMP_NUM_THREADS=1 $(PY) scripts/make_molecules.py --out $(DATA_OUT)/molecules \
		--download-dir $(DATA_OUT)/downloads --jobs $(DATA_JOBS)
	# CHGNet labels; rerun to resume an interrupted augmentation
	OMP_NUM_THREADS=1 $(PY) scripts/make_pdo.py --out $(DATA_OUT)/pdo \
		--n-target 3600 --jobs $(DATA_JOBS)

# demo_report.py is the end of `make demo` (it needs the run that trains)
examples: $(VENV)/.test  ## run every example at small size (outputs in examples-out/)
	mkdir -p examples-out
	for f in examples/*.py; do \
		case $$f in *demo_report.py) continue;; esac; \
		(cd examples-out && $(abspath $(PY)) $(CURDIR)/$$f --small) || exit 1; \
	done

clean:  ## remove build outputs (keeps .venv)
	rm -rf docs/_build demo-out bench-out examples-out .pytest_cache .ruff_cache
