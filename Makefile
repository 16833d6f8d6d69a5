# Two commands set up a fresh machine: `make demo` and `make test`.
# Everything installs from this repository's own files into .venv (Python),
# .venv-tools (cfn-lint, checkov) and node_modules (Serverless Framework).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .venv-tools
SLS := node_modules/.bin/sls
PYTEST_ARGS ?=

.PHONY: install tools node chromium demo demo-kafka lint test bench package lambda-package deploy-local clean

$(BIN)/.installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

$(TOOLS)/.installed: requirements-tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r requirements-tools.txt
	touch $@

tools: $(TOOLS)/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node: node_modules/.installed

# Debian's Chromium, for the browser test of `parking-cli report` (tests/test_report.py).
/usr/bin/chromium:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

chromium: /usr/bin/chromium

# The Lambda packages: each entry point (handler.py, zones_handler.py), the
# parking modules it imports, and requirements.txt built for python3.12 on x86_64 Linux.
build/ingest.zip build/zones.zip &: requirements.txt handler.py zones_handler.py $(shell find parking -name "*.py") $(wildcard queries/*.sql) scripts/build_lambda.py | install
	$(BIN)/python scripts/build_lambda.py ingest zones

# The compaction Lambda's own artifact: compact_handler.py, its parking modules, DuckDB and orjson.
build/compact.zip: requirements-compact.txt compact_handler.py $(shell find parking -name "*.py") scripts/build_lambda.py | install
	$(BIN)/python scripts/build_lambda.py compact

lambda-package: build/ingest.zip build/zones.zip build/compact.zip

package: lambda-package node
	$(SLS) package --stage dev

demo: install
	$(BIN)/python scripts/demo.py

demo-kafka: install
	$(BIN)/python scripts/demo_kafka.py

# ruff, pinned in requirements-tools.txt, with the rules in pyproject.toml.
lint: tools
	$(TOOLS)/bin/ruff check .

# tests/test_wheel.py builds the wheel and runs it from a fresh venv, offline.
# Two workers for the suite; the tests that run `sls` (it writes .serverless/ in the
# repository) alone afterwards, one at a time.
test: lint install tools node lambda-package chromium
	$(BIN)/python -m pytest -n 2 -m "not serverless" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m serverless $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/queries.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/freshness.py
	$(BIN)/python bench/compaction.py

deploy-local: install lambda-package node
	$(BIN)/python scripts/deploy_local.py

clean:
	rm -rf $(VENV) $(TOOLS) node_modules build .serverless .pytest_cache .hypothesis
