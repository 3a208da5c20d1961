# One-command set-up for a fresh clone: `make demo` and `make test` create .venv and install
# everything first (PyTorch pinned to the CPU build, see README).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export AVPREP_HOME ?= $(HOME)/.avprep/datasets

.PHONY: setup demo train-demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,train]'
	# FID's Inception file only: torch-fidelity requires torchvision, which has no CPU build
	# to match torch here; models/eval/fid.py loads its network without it
	$(BIN)/python -m pip install -q --no-deps 'torch-fidelity>=0.3,<0.5'
	touch $@

demo: setup
	$(BIN)/avprep build demo --overwrite
	$(BIN)/avprep inspect $(AVPREP_HOME)/demo

# DAVS on the demo build, on the CPU, small batch (a few minutes); re-run to resume/extend
TRAIN_STEPS ?= 50
train-demo: setup
	test -f $(AVPREP_HOME)/demo/build.json || $(BIN)/avprep build demo
	$(BIN)/avprep train davs --data $(AVPREP_HOME)/demo --out runs/demo-davs --resume \
	    --steps $(TRAIN_STEPS) --batch-size 2 --workers 2 --device cpu \
	    --set sample_every=25 --set checkpoint_every=25 --set log_every=5

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
