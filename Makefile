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
# make types: the import name of each package directory (default: the directory's name with _ for
# -), and the shared packages checked as soon as their directory exists.
MODULE_transform := mapper_intercom_salesforce
TYPED := $(sort $(PACKAGES) salesforce-client intercom-client singer-kit)

.PHONY: venv test demo bench lint types catalog clean

venv: $(STAMP)

$(STAMP): $(PYPROJECTS) requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	UV_COMPILE_BYTECODE=1 $(UV) pip install --quiet --python $(BIN)/python -r requirements-dev.txt \
		$(foreach p,$(PACKAGES),-e './$(p)$(EXTRAS_$(p))')
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/python -m scripts.demo

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python -m benchmarks.$$(basename $$b .py) || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .

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
