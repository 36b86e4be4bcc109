# capfast's single entry point. `make help` lists the targets.
# Everything installs into ./.venv from PyPI/crates.io, so a fresh clone needs only python3, cargo and make.

VENV ?= .venv
PY := $(VENV)/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
PYTEST_ARGS ?=

.PHONY: help venv develop demo test test-rust test-native test-python bench clean \
	lint lint-fix lint-ruff lint-mypy lint-fmt lint-clippy lint-tools stubtest actionlint gate gate-baseline readme-table wheel-smoke sdist ci-extra

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

bench: develop ## full benchmark suite (1M rows) with same-run baselines and floors; report in .benchmarks/full/
	$(BENCHGATE) gate --report-dir .benchmarks/full $(GATE_ARGS)

# ---- benchmark gate ----------------------------------------------------------------------------------------------
# The gate is developer tooling (benches/benchgate/), not part of the wheel.
BENCHGATE = PYTHONPATH=$(CURDIR)/benches $(PY) -m benchgate
GATE_BASELINE ?= .benchmarks/gate-baseline-quick.json
GATE_ARGS ?=

gate: develop ## quick benchmark gate: ratios vs benches/floors.toml (+ saved same-machine baseline if present)
	$(BENCHGATE) gate --quick --report-dir .benchmarks/gate \
		$(if $(wildcard $(GATE_BASELINE)),--baseline-file $(GATE_BASELINE)) $(GATE_ARGS)

gate-baseline: develop ## run the quick gate and save its medians as this machine's baseline ($(GATE_BASELINE))
	$(BENCHGATE) gate --quick --report-dir .benchmarks/gate --save-baseline $(GATE_BASELINE) $(GATE_ARGS)

readme-table: venv ## README performance table from the full report (run `make bench` first)
	$(BENCHGATE) readme --report .benchmarks/full/gate.json --readme README.md

# ---- lint, stubs, workflows ------------------------------------------------------------------------------------------
# The tools are the `lint` extra of pyproject.toml, installed without rebuilding the package.
$(VENV)/.lint-tools: pyproject.toml | $(VENV)/.created
	$(PY) .ci/extra_requirements.py lint > $(VENV)/lint-requirements.txt
	$(PY) -m pip install -q -r $(VENV)/lint-requirements.txt
	touch $@

lint-tools: $(VENV)/.lint-tools

lint: lint-ruff lint-mypy lint-fmt lint-clippy ## ruff, mypy, cargo fmt --check, cargo clippy -D warnings

lint-fix: lint-tools ## apply the automatic fixes: ruff check --fix (import order, pyupgrade), cargo fmt
	$(VENV)/bin/ruff check --fix python tests benches .ci
	cargo fmt --all

lint-ruff: lint-tools
	$(VENV)/bin/ruff check python tests benches .ci

lint-mypy: lint-tools
	$(VENV)/bin/mypy

lint-fmt:
	cargo fmt --all --check

lint-clippy: # with the python feature (the binding layer) and all targets (tests too)
	cargo clippy --manifest-path rust/Cargo.toml --features python --all-targets -q -- -D warnings

stubtest: develop lint-tools ## python/capfast/_native.pyi against the built module (allowlist: .ci/stubtest-allowlist)
	$(PY) -m mypy.stubtest capfast._native --allowlist .ci/stubtest-allowlist --mypy-config-file pyproject.toml

actionlint: lint-tools ## validate .github/workflows/*.yml
	VENV=$(VENV) bash .ci/actionlint.sh

# ---- packaging ---------------------------------------------------------------------------------------------------
DIST ?= target/dist

wheel-smoke: venv ## release wheel -> fresh virtualenv (pip install) -> smoke test (import, native, Merkle KAT, cap --help)
	rm -rf $(DIST)/wheel && $(VENV)/bin/maturin build --release -q --out $(DIST)/wheel
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		python3 -m venv "$$tmp/venv" && \
		"$$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check $(DIST)/wheel/*.whl && \
		cd "$$tmp" && env -u CAPFAST_BACKEND "$$tmp/venv/bin/python" $(CURDIR)/.ci/wheel_smoke.py

sdist: venv ## maturin sdist and a check of its contents
	rm -rf $(DIST)/sdist && $(VENV)/bin/maturin sdist --out $(DIST)/sdist 2>&1 | tail -n 1
	$(PY) .ci/check_sdist.py $(DIST)/sdist/*.tar.gz

ci-extra: lint stubtest actionlint wheel-smoke sdist gate ## what .ci/run adds after `make test`

clean:
	rm -rf $(VENV) target build .pytest_cache .hypothesis .benchmarks
