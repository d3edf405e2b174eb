# Recompra Pipelines. `make demo` and `make test` work on a fresh machine with Python >= 3.11.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The bench's own environment for dlt, the comparison of `make bench` (never a product dependency).
DLT_VENV ?= .venv-bench-dlt
DLT_STAMP := $(DLT_VENV)/.installed-stamp

.PHONY: install demo test bench bench-fleet lint

install: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The whole product locally; `make demo ONCE=1` syncs today for the demo organizations and exits.
demo: install
	$(BIN)/recompra demo $(if $(ONCE),--once,)

# Against RECOMPRA_TEST_DATABASE_URL's server when set, else an embedded PostgreSQL; on parallel
# workers (pytest-xdist), one database each. `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= auto
test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

$(DLT_STAMP): bench/dlt/requirements.txt
	test -x $(DLT_VENV)/bin/python || $(PYTHON) -m venv $(DLT_VENV)
	$(DLT_VENV)/bin/python -m pip install --quiet -r bench/dlt/requirements.txt
	touch $(DLT_STAMP)

# The code the fixed cost of a run is compared with (bench/run_cost.py): main before #17's
# cheaper runs (pooled Dagster storage, lazy imports, entity skip, change check) were merged.
RUN_COST_BASELINE ?= 7eb290e
RUN_COST_BASELINE_DIR := .bench-baseline

# Ratios against a plain COPY / a bare read / dlt in the same run; results in bench/results/.
bench: install $(DLT_STAMP)
	$(BIN)/python -m bench.run --dlt-python $(DLT_VENV)/bin/python
	$(BIN)/python -m bench.rfm
	$(BIN)/python -m bench.run_volume
	$(BIN)/python -m bench.overhead
	rm -rf $(RUN_COST_BASELINE_DIR) && mkdir -p $(RUN_COST_BASELINE_DIR)
	git archive $(RUN_COST_BASELINE) recompra_pipelines dagster.yaml | tar -x -C $(RUN_COST_BASELINE_DIR)
	$(BIN)/python -m bench.run_cost --baseline-root $(RUN_COST_BASELINE_DIR) --baseline-label "main before #17's cheaper runs, $(RUN_COST_BASELINE)"
	$(BIN)/python -m bench.backfill
	$(BIN)/python -m bench.webhooks
	$(BIN)/python -m bench.ledger_checks

# The fleet under the real dagster-daemon (30-60 min per N; not part of `make bench`):
# `make bench-fleet` runs the ladder 25, 50, 100, 200 and stops at the first N not sustained;
# FLEET_N=25 (or "25 50") runs those sizes only, FLEET_TICKS the ticks measured per N.
bench-fleet: install
	$(BIN)/python -m bench.fleet $(if $(FLEET_N),--n $(FLEET_N),) $(if $(FLEET_TICKS),--ticks $(FLEET_TICKS),) $(if $(FLEET_NOTE),--note "$(FLEET_NOTE)",)

# Ruff, then the import contracts of pyproject.toml's [tool.importlinter] (layers, Dagster at the edge).
lint: install
	$(BIN)/ruff check recompra_pipelines recompra_pipelines_tests bench examples
	$(BIN)/lint-imports --no-cache
