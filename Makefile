# Two entry points: `make lab` (the workbench) and `make test` (the suite). Both build .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_VERSION := 2.13.0

export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: lab test venv bench clean peers-venv test-peers docs docs-build screenshots

# torch goes first, pinned: an unpinned torch from the registry is the multi-GB CUDA build
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

# ARGS go to jupyter lab, e.g. make lab ARGS="--no-browser --port 8899" (headless)
lab: $(STAMP)
	$(VENV)/bin/tiny-interp lab $(if $(ARGS),-- $(ARGS))

# one environment with the peers: sae-lens 6.54.12 and circuit-tracer 0.5.0 beside tiny-interp, on TransformerLens 3
# (the [peers] extra pins what resolves together); torch first, the same pinned CPU build
PEERS_VENV := .peers-venv
PEERS_PY := $(PEERS_VENV)/bin/python
peers-venv: $(PEERS_VENV)/.installed
$(PEERS_VENV)/.installed: pyproject.toml
	test -x $(PEERS_PY) || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_PY) -m pip install -q --upgrade pip
	$(PEERS_PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PEERS_PY) -m pip install -q -e ".[peers,dev]"
	touch $@

# the interop tests; CI=true turns a missing peer into a failure instead of a skip
PEERS_TESTS := tests/test_saelens_compat.py tests/test_graphs_interop.py $(wildcard tests/test_peers_*.py)
test-peers: $(PEERS_VENV)/.installed
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PEERS_PY) -m pytest -q $(PEERS_TESTS)

# the suite in .venv, then the interop tests in the peers' environment (.peers-venv, built on first use)
test: $(STAMP) $(PEERS_VENV)/.installed
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q tests $(addprefix --ignore=,$(PEERS_TESTS))
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PEERS_PY) -m pytest -q $(PEERS_TESTS)

# the docs site (mkdocs.yml, docs/): `make docs` serves it on http://127.0.0.1:8000 with live reload,
# `make docs-build` builds site/ as CI does (strict: a broken link or docstring reference fails)
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[dev,docs]"
	touch $@

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

docs-build: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# the pictures in the docs: each view of the shipped models drawn in Chromium, saved in docs/assets/screens/
screenshots: $(STAMP)
	TINY_INTERP_SCREENSHOTS=1 HF_HUB_OFFLINE=1 $(PY) -m pytest -q tests/test_docs_screens.py

bench: $(STAMP)
	$(PY) bench/train_throughput.py

# runs/ is left alone: it holds the user's trained models and the lab's notebook copies
clean:
	rm -rf $(VENV) $(PEERS_VENV) .pytest_cache .cache
