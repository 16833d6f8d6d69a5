# Two commands set up a fresh machine: `make demo` and `make test`.
# Everything installs from this repository's own files into .venv (Python),
# .venv-tools (cfn-lint, checkov) and node_modules (Serverless Framework).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .venv-tools
SLS := node_modules/.bin/sls
PYTEST_ARGS ?=
# uv installs every environment from a committed lock; it comes itself from
# requirements-uv.txt (one hash-pinned wheel) and never downloads a Python.
UV_HOME := .venv-uv
UV := $(UV_HOME)/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
# The Lambda's platform, for the artifacts' locks (requirements*.txt).
LAMBDA_PLATFORM := --python-version 3.12 --python-platform x86_64-manylinux_2_28

.PHONY: install install-dev tools node chromium demo demo-kafka lint lock test bench package lambda-package deploy-local clean

$(UV): requirements-uv.txt
	test -x $(UV_HOME)/bin/python || $(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements-uv.txt
	touch $@

# The runtime alone (what `make demo` runs), from uv.lock.
$(BIN)/.installed: pyproject.toml uv.lock $(UV)
	$(UV) sync --quiet --frozen --no-dev
	touch $@

install: $(BIN)/.installed

# The runtime and the dev group (the test tools), from uv.lock.
$(BIN)/.installed-dev: pyproject.toml uv.lock $(UV)
	$(UV) sync --quiet --frozen
	touch $(BIN)/.installed $@

install-dev: $(BIN)/.installed-dev

# Compiled to bytecode when installed: with PYTHONDONTWRITEBYTECODE set, Python never
# writes it, and checkov and cfn-lint (tests/cloudformation.py) compiled their ~5,000
# modules again at every start, ~5.6 s of CPU in all per `make test`. The stamp's name
# says so, so a checkout installed before is synced (and compiled) again.
$(TOOLS)/.installed-compiled: requirements-tools.txt $(UV)
	test -x $(TOOLS)/bin/python || $(UV) venv --quiet $(TOOLS)
	$(UV) pip sync --no-config --quiet --require-hashes --compile-bytecode --python $(TOOLS)/bin/python requirements-tools.txt
	touch $@

tools: $(TOOLS)/.installed-compiled

# Re-resolve every lock from its source: uv.lock from pyproject.toml, the tools'
# and the Lambda artifacts' requirements*.txt from their .in files. Bump a
# package by editing its floor (pyproject) or pin (.in), then run this.
lock: $(UV)
	$(UV) lock
	$(UV) pip compile --no-config --quiet --generate-hashes --python-version 3.11 requirements-tools.in -o requirements-tools.txt
	$(UV) pip compile --no-config --quiet --generate-hashes $(LAMBDA_PLATFORM) requirements.in -o requirements.txt
	$(UV) pip compile --no-config --quiet --generate-hashes $(LAMBDA_PLATFORM) --no-emit-package boto3 --no-emit-package botocore --no-emit-package s3transfer requirements-zones.in -o requirements-zones.txt
	$(UV) pip compile --no-config --quiet --generate-hashes $(LAMBDA_PLATFORM) requirements-compact.in -o requirements-compact.txt
	$(UV) pip compile --no-config --quiet --generate-hashes requirements-uv.in -o requirements-uv.txt
	$(UV) pip compile --no-config --quiet --generate-hashes $(LAMBDA_PLATFORM) --no-emit-package boto3 --no-emit-package botocore --no-emit-package s3transfer requirements-live.in -o requirements-live.txt
	$(UV) pip compile --no-config --quiet --generate-hashes --python-version 3.12 requirements-parkapi.in -o requirements-parkapi.txt

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node: node_modules/.installed

# Debian's Chromium, for the browser test of `parking-cli report` (tests/test_report.py).
/usr/bin/chromium:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

chromium: /usr/bin/chromium

# The ingest Lambda's package: handler.py, the parking modules it imports, and
# requirements.txt built for python3.12 on x86_64 Linux.
build/ingest.zip: requirements.txt handler.py $(shell find parking -name "*.py") scripts/build_lambda.py | install-dev
	$(BIN)/python scripts/build_lambda.py ingest

# The zones monitor's: zones_handler.py, its parking modules and SQL, and requirements-zones.txt (Powertools, orjson, PyAthena).
build/zones.zip: requirements-zones.txt zones_handler.py $(shell find parking -name "*.py") $(wildcard queries/*.sql queries/_parts/*.sql) scripts/build_lambda.py | install-dev
	$(BIN)/python scripts/build_lambda.py zones

# The compaction Lambda's own artifact: compact_handler.py, its parking modules, DuckDB and orjson.
build/compact.zip: requirements-compact.txt compact_handler.py $(shell find parking -name "*.py") scripts/build_lambda.py | install-dev
	$(BIN)/python scripts/build_lambda.py compact

# The live functions' artifact (issue 26): live_handler.py, the live modules, FastAPI, Mangum, pandas, PyAthena.
build/live.zip: requirements-live.txt live_handler.py $(shell find parking cli -name "*.py") $(wildcard queries/*.sql) $(wildcard parking/live/static/*) scripts/build_lambda.py | install-dev
	$(BIN)/python scripts/build_lambda.py live

lambda-package: build/ingest.zip build/zones.zip build/compact.zip build/live.zip

package: lambda-package node
	$(SLS) package --stage dev

demo: install
	$(BIN)/python scripts/demo.py

demo-kafka: install-dev
	$(BIN)/python scripts/demo_kafka.py

# ruff and mypy, pinned in requirements-tools.txt, with their rules in pyproject.toml. mypy
# reads .venv's packages and a tree of links laid out as the wheel is (cli/ is parking.cli).
lint: tools install-dev
	$(TOOLS)/bin/ruff check .
	rm -rf build/typecheck && mkdir -p build/typecheck
	cp -rs $(CURDIR)/parking build/typecheck/parking && cp -rs $(CURDIR)/cli build/typecheck/parking/cli
	ln -s $(CURDIR)/handler.py $(CURDIR)/zones_handler.py $(CURDIR)/compact_handler.py $(CURDIR)/live_handler.py build/typecheck/
	cd build/typecheck && $(CURDIR)/$(TOOLS)/bin/mypy --config-file $(CURDIR)/pyproject.toml \
		--python-executable $(CURDIR)/$(BIN)/python parking handler.py zones_handler.py compact_handler.py live_handler.py

# tests/test_wheel.py builds the wheel and runs it from a fresh venv, offline. One run on two
# workers; the tests that run `sls` share one xdist group, so they run one at a time on one worker.
# The suite's temporary files (its lakes of many small files, a few GB in all) go to tmpfs when
# /dev/shm has 8 GB free, removed afterwards: on this machine's disk they cost a fifth of the CPU.
# Python writes its bytecode caches even where PYTHONDONTWRITEBYTECODE is set (as on this machine):
# the suite starts hundreds of Python processes, and each compiled pandas, moto, ... from source
# again (test_operator_cli: 55 s without the caches, 27 s with them). __pycache__ is ignored by git.
test: lint install-dev tools node lambda-package chromium
	@unset PYTHONDONTWRITEBYTECODE; root=/dev/shm; [ "$$(df --output=avail -B1G $$root 2>/dev/null | tail -1)" -ge 8 ] 2>/dev/null || root=$${TMPDIR:-/tmp}; \
	scratch=$$(mktemp -d -p $$root parking-tests.XXXXXX) && echo "test files under $$scratch"; \
	TMPDIR=$$scratch $(BIN)/python -m pytest -n 2 --basetemp=$$scratch/pytest --durations=30 $(PYTEST_ARGS); \
	status=$$?; rm -rf $$scratch; exit $$status

bench: install-dev
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/queries.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/freshness.py
	$(BIN)/python bench/compaction.py
	$(BIN)/python bench/forecast.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/city.py --spots 10000 --days 1

deploy-local: install-dev lambda-package node
	$(BIN)/python scripts/deploy_local.py

clean:
	rm -rf $(VENV) $(TOOLS) $(UV_HOME) node_modules build .serverless .pytest_cache .hypothesis
