# capfast's single entry point. `make help` lists the targets.
# Everything installs into ./.venv from PyPI/crates.io, so a fresh clone needs only python3, cargo and make.

VENV ?= .venv
PY := $(VENV)/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
PYTEST_ARGS ?=

.PHONY: help venv develop demo test test-rust test-native test-python bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(VENV)/.created:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 'maturin>=1.7,<2'
	touch $@

venv: $(VENV)/.created

develop: venv ## build the native core (release) into the venv with the test extras
	$(VENV)/bin/maturin develop --release --extras test -q

demo: develop ## the main job: commit the bundled example data, print the roots, prove and verify one row
	bash examples/demo.sh $(VENV)

test-rust: ## cargo test of the pure-Rust core (no Python needed)
	cargo test --manifest-path rust/Cargo.toml -q

test-native: develop ## the whole Python suite on the native backend
	CAPFAST_BACKEND=native $(PY) -m pytest -q $(PYTEST_ARGS)

test-python: develop ## the whole Python suite on the pure-Python twin
	CAPFAST_BACKEND=python $(PY) -m pytest -q $(PYTEST_ARGS)

test: test-rust test-native test-python ## everything CI runs: cargo test, then the suite once per backend

bench: develop ## benchmarks with their same-run baselines (slow; not part of `make test`)
	CAPFAST_BACKEND=native $(PY) -m pytest benches -q --benchmark-enable --benchmark-columns=median,iqr,rounds -p no:randomly

clean:
	rm -rf $(VENV) target build .pytest_cache .hypothesis .benchmarks
