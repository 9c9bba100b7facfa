# Each target sets up what it needs: a fresh clone runs `make run` or `make test` directly.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
YAML_LANGUAGE_SERVER := 1.25.0
KERAS_HUB := 0.32.0
# PyTorch's CPU build (a file on CI's disk; PyPI's default torch is a CUDA build of GBs)
TORCH := 2.13.0
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: venv run test lint format bench catalogue clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@# KerasHub for the hub.* node types (tests/test_backbones.py), without its dependencies:
	@# it requires tensorflow-text, which requires the full `tensorflow` (this venv has
	@# tensorflow-cpu); keras_hub's layers need only the light ones listed here.
	$(BIN)/python -m pip install --quiet --no-deps "keras-hub==$(KERAS_HUB)"
	$(BIN)/python -m pip install --quiet regex sentencepiece tokenizers "kagglehub!=1.0.1" \
		"kagglesdk==0.1.28"
	@# the YAML language server editors use, for tests/test_editor.py (skipped without node)
	if command -v npm >/dev/null; then npm install --silent --no-audit --no-fund \
		--prefix $(VENV)/node yaml-language-server@$(YAML_LANGUAGE_SERVER) \
		|| echo "warning: npm could not install yaml-language-server (tests/test_editor.py will say so)"; fi
	touch $(STAMP)

venv: $(STAMP)

## The main job: train the default spec on scikit-learn's digits (offline), print test accuracy.
run: venv
	$(BIN)/modelspec validate specs/antirectifier_digits.yaml
	$(BIN)/modelspec train specs/antirectifier_digits.yaml

## The whole test suite, lint and type checks included, in PYTEST_WORKERS processes
## (pytest-xdist; PYTEST_WORKERS=0: one process; work-stealing keeps both busy to the end);
## the tests marked `backends` run again on JAX and PyTorch, with those marked
## `other_backends` (every seed spec: build, 2 epochs, save/reload, predict; on TensorFlow
## the rest of the suite covers them).
PYTEST_WORKERS ?= 2
test: venv lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal -m "not other_backends"
	KERAS_BACKEND=jax $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal \
		-m "backends or other_backends" tests
	KERAS_BACKEND=torch $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal \
		-m "backends or other_backends" tests

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv
	$(BIN)/python bench/validate_vs_import.py
	$(BIN)/python bench/build_deep.py
	$(BIN)/python bench/antirectifier_vs_relu.py
	$(BIN)/python bench/train_vs_keras.py --variant train.steps_per_execution=10
	$(BIN)/python bench/export_latency.py
	$(BIN)/python bench/backends.py
	$(BIN)/python bench/distributed.py

## Regenerate modelspec/catalogue/keras_catalogue.json from the installed Keras (and KerasHub).
catalogue: venv
	$(BIN)/python -m modelspec.layers.catalogue

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
