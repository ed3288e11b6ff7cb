# Two commands: `make demo` (fresh machine -> the main job) and `make test` (the whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Every installable package of the repository: the core, each plugin, each contrib extra.
PACKAGES := . $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml contrib/*/pyproject.toml))
STAMP  := $(VENV)/.installed
# Extras asked of the core; every other package is asked for `plot` only (a variable: commas cannot stand in $(if)).
CORE_EXTRAS := [plot,files,ray,ocsf,serve]

.PHONY: demo test install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools>=68" wheel

# torch first, pinned: a CPU build of 2.13.0 is on these machines; an open range pulls CUDA wheels.
# Extras for the tests: the core gets plot (matplotlib), files (pyarrow, pandas, safetensors), ray (Ray Data),
# ocsf (jsonschema: the OCSF findings are validated in tests/test_explain_ocsf.py);
# every plugin and contrib package has only `plot` (see their pyproject.toml).
# mkdocs, mkdocs-material and mkdocstrings: tests/test_docs_site.py builds the docs site (the core's `docs` extra).
$(STAMP): $(BIN)/python pyproject.toml $(wildcard plugins/*/pyproject.toml contrib/*/pyproject.toml)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q --no-build-isolation $(foreach p,$(PACKAGES),-e "$(p)$(if $(filter .,$(p)),$(CORE_EXTRAS),[plot])") pytest hypothesis scikit-learn onnx onnxruntime skops skl2onnx mypy ruff \
		mkdocs mkdocs-material "mkdocstrings[python]"
	touch $(STAMP)

install: $(STAMP)

# The tabular demo, then the main job: `deepaid explain` on generated files (deepaid-out/).
demo: $(STAMP)
	$(BIN)/deepaid demo
	mkdir -p deepaid-out
	cd deepaid-out && ../$(BIN)/python ../docs/examples/explain_files.py && ../$(BIN)/deepaid explain tabular \
		--model deepaid_sdk.bench.synthetic:mlp_autoencoder --model-args '{"width": 20}' \
		--weights ae.safetensors --normal normal.csv --input alerts.csv --id-column alert_id \
		--output explained.jsonl && head -2 explained.jsonl

# The habits first (lint and format check, then types: settings in pyproject.toml), then the whole suite.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/deepaid bench core

clean:
	rm -rf $(VENV) .deepaid-cache .mypy_cache .ruff_cache
