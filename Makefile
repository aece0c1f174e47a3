# Set-up, tests and demo. Everything installs itself into .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
PACKAGES := emulators salesforce-client singer-kit intercom-client tap-intercom-events target-salesforce-leads transform
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
# Optional dependencies the tests need (the webhook receiver, the PostgreSQL inbox and
# run history).
EXTRAS_tap-intercom-events := [receiver,postgres]
EXTRAS_target-salesforce-leads := [postgres]
PYTEST_ARGS ?=
# make test runs the tests on this many pytest-xdist workers (most of a test's time is spent
# waiting on emulators and Meltano subprocesses, not on a core); one test file is one unit of
# work (conftest.py). PYTEST_WORKERS=0 runs them in one process.
PYTEST_WORKERS ?= 4
# make types: the import name of each package directory (default: the directory's name with _ for
# -), and the shared packages checked as soon as their directory exists.
MODULE_transform := mapper_intercom_salesforce
TYPED := $(sort $(PACKAGES) salesforce-client intercom-client singer-kit)

# The lock: every third-party package of the dev environment pinned (requirements-dev.txt and the
# packages' dependencies with the extras above, for Python 3.10 and later), written by `make lock`
# with uv's resolver. `make venv` installs exactly it, then this repository's packages (editable,
# without their dependencies) on top, and `uv pip check` fails if the lock misses one of them.
# Meltano's plugin installs read it too, as constraints (`-c requirements.lock` in meltano.yml).
LOCK := requirements.lock
LOCK_ARGS ?=
LOCAL_NAMES := $(foreach f,$(PYPROJECTS),$(shell grep -m1 '^name = ' $(f) | cut -d'"' -f2))

.PHONY: venv lock test demo bench lint types catalog clean

venv: $(STAMP)

$(UV):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

$(STAMP): $(LOCK) $(PYPROJECTS) requirements-dev.txt | $(UV)
	UV_COMPILE_BYTECODE=1 $(UV) pip sync --quiet --python $(BIN)/python $(LOCK)
	UV_COMPILE_BYTECODE=1 $(UV) pip install --quiet --python $(BIN)/python --no-deps \
		$(foreach p,$(PACKAGES),-e './$(p)')
	$(UV) pip check --quiet --python $(BIN)/python \
		|| { echo 'make venv: $(LOCK) lacks a dependency above: run make lock'; exit 1; }
	touch $(STAMP)

# After changing requirements-dev.txt or a package's dependencies: rewrite the lock (then commit
# it). Versions already locked stay unless needed; `make lock LOCK_ARGS=--upgrade` takes the
# newest of everything, `LOCK_ARGS='--upgrade-package NAME'` of one package.
lock: | $(UV)
	{ echo '-r requirements-dev.txt'; printf -- '-e ./%s\n' $(foreach p,$(PACKAGES),'$(p)$(EXTRAS_$(p))'); } \
		| $(UV) pip compile --quiet --universal --python-version 3.10 --custom-compile-command 'make lock' \
		$(addprefix --no-emit-package ,$(LOCAL_NAMES)) $(LOCK_ARGS) -o $(LOCK) -

# make test: lint (ruff check, ruff format --check), types (mypy), then the tests; it fails at
# the first of the three that fails.
test: lint types
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/python -m scripts.demo

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python -m benchmarks.$$(basename $$b .py) || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Type check (mypy.ini): each package on its own (a directory not here yet is skipped), then
# scripts/, benchmarks/ and tests/; fails when any of them has an error.
types: $(STAMP)
	@status=0; for pair in $(foreach d,$(TYPED),$(d):$(or $(MODULE_$(d)),$(subst -,_,$(d)))); do \
		dir=$${pair%%:*}; module=$${pair#*:}; \
		if [ ! -d "$$dir" ]; then echo "types: $$dir/ not here yet, skipped"; continue; fi; \
		echo "types: $$module ($$dir/)"; $(BIN)/mypy -p "$$module" || status=1; \
	done; \
	echo "types: scripts/ benchmarks/ tests/"; $(BIN)/mypy scripts benchmarks tests || status=1; \
	exit $$status

# After editing the tap's streams or meltano.yml's select/metadata rules or settings: rewrite the
# committed catalog, meltano.yml's generated settings and plugins/*.yml (then commit them).
catalog: $(STAMP)
	$(BIN)/python scripts/plugin_definitions.py

clean:
	rm -rf $(VENV) .meltano .demo output
