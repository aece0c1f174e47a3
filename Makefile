# Set-up, tests and demo. Everything installs itself into .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
PACKAGES := emulators tap-intercom-events target-salesforce-leads transform
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
# Optional dependencies the tests need (the webhook receiver, the PostgreSQL inbox and
# run history).
EXTRAS_tap-intercom-events := [receiver,postgres]
EXTRAS_target-salesforce-leads := [postgres]
PYTEST_ARGS ?=

.PHONY: venv test demo bench lint catalog clean

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
	$(BIN)/python scripts/demo.py

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .

# After editing the tap's streams or meltano.yml's select/metadata rules or settings: rewrite the
# committed catalog, meltano.yml's generated settings and plugins/*.yml (then commit them).
catalog: $(STAMP)
	$(BIN)/python scripts/plugin_definitions.py

clean:
	rm -rf $(VENV) .meltano .demo output
