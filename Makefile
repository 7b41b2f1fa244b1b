# Accord: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STAMP  := $(VENV)/.installed
XSTAMP := $(VENV)/.crosscheck

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast lint bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11+): set PYTHON=..."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -e '.[dev,spark]'
	touch $(STAMP)

# Tests and benchmarks also compare with ChannelAttribution (compiled from source: ~20 s once).
$(XSTAMP): $(STAMP)
	command -v c++ >/dev/null || { apt-get update -qq && apt-get install -y -qq g++; }
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -e '.[dev,spark,crosscheck]'
	touch $(XSTAMP)

install: $(XSTAMP) ## Create the virtual environment with every extra

demo: $(STAMP) ## Generate a funnel, load it into DuckDB (accord-demo/), report
	rm -rf accord-demo
	$(VENV)/bin/accord demo accord-demo

# Two workers, a module each at a time: the Spark process tests run beside everything else.
TEST_JOBS ?= 2

test: $(XSTAMP) ## Run every test (DuckDB, PostgreSQL and Spark engines)
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile

test-fast: $(XSTAMP) ## Tests without Spark
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile -m "not spark"

lint: $(STAMP) ## ruff and mypy (strict on src/accord)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

bench: $(XSTAMP) ## Throughput: generator and load, scoring, attribution vs ChannelAttribution, learning, processes, service, report, dashboard, webhooks, Spark
	$(PY) benchmarks/bench_generate_load.py
	$(PY) benchmarks/bench_scoring.py
	$(PY) benchmarks/bench_attribution.py
	$(PY) benchmarks/bench_learn.py
	$(PY) benchmarks/bench_processes.py
	$(PY) benchmarks/bench_service.py
	$(PY) benchmarks/bench_report.py
	$(PY) benchmarks/bench_dashboard.py
	$(PY) benchmarks/bench_webhooks.py
	$(PY) benchmarks/bench_spark.py

clean: ## Remove the venv, caches and demo output
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache accord-demo bench-out spark-warehouse
