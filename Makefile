# One-command set-up for a fresh clone: `make demo` and `make test` create .venv and install
# everything first (PyTorch pinned to the CPU build, see README).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export AVPREP_HOME ?= $(HOME)/.avprep/datasets

.PHONY: setup demo train-demo test lint bench clean browser gpu-prep gpu-dry-run

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

# DAVS (real networks, joint stage) on the demo's LRW-style word clips, on the CPU, batch 2;
# re-run to resume or extend (TRAIN_STEPS=20 make train-demo). About 15-100 s a step on a
# laptop CPU: raise TRAIN_STEPS on a GPU.
TRAIN_STEPS ?= 10
train-demo: setup
	test -f $(AVPREP_HOME)/demo-words/build.json || \
	    $(BIN)/avprep build demo --option parts=words --out $(AVPREP_HOME)/demo-words
	$(BIN)/avprep train davs --data $(AVPREP_HOME)/demo-words --out runs/demo-davs --resume \
	    --steps $(TRAIN_STEPS) --batch-size 2 --workers 2 --device cpu \
	    --set sample_every=5 --set checkpoint_every=5 --set log_every=1

test: setup browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q

# Chromium for the report's browser test (tests/report): Debian's package, installed when
# missing and run as root; elsewhere that test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	  >/dev/null; } || echo "chromium not installed: the report's browser test will be skipped"

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# A lent GPU machine (no network, no Beam/dlib/pocketsphinx; README "On a GPU machine"):
# gpu-prep fills the git-ignored .whl/ (cp312 wheels the device image lacks) and .gpu/builds
# (prebuilt demo builds), checking that what travels stays under the 64 MiB limit; there,
# `bash benchmarks/gpu_session.sh` is the one command. gpu-dry-run runs that script here on the
# CPU in a venv standing in for the device image (torch, tensorboard, scikit-image and the
# image's packages we use), with the same wheels for this machine's python.
GPU_DRY ?= /tmp/avprep-gpu-dry
gpu-prep: setup
	$(BIN)/python benchmarks/gpu_prep.py

gpu-dry-run: gpu-prep
	test -x $(GPU_DRY)/venv/bin/python || { $(PYTHON) -m venv $(GPU_DRY)/venv && \
	  $(GPU_DRY)/venv/bin/python -m pip install -q torch==2.13.0 tensorboard scikit-image \
	  $$($(BIN)/python benchmarks/gpu_prep.py --print-device-has); }
	$(BIN)/python benchmarks/gpu_prep.py --wheels-only --dest $(GPU_DRY)/wheels --python-version \
	  $$($(GPU_DRY)/venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
	rm -rf $(GPU_DRY)/site
	PYTHON=$(GPU_DRY)/venv/bin/python GPU_WHEELS=$(GPU_DRY)/wheels GPU_SITE=$(GPU_DRY)/site \
	  OUT=$(GPU_DRY)/out bash benchmarks/gpu_session.sh --cpu-dry-run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
