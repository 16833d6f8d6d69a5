# Two commands set up a fresh machine: `make demo` and `make test`.
# Everything installs from this repository's own files into .venv (Python),
# .venv-tools (cfn-lint, checkov) and node_modules (Serverless Framework).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .venv-tools
SLS := node_modules/.bin/sls
PYTEST_ARGS ?=

.PHONY: install tools node demo demo-kafka test bench package lambda-deps deploy-local clean

$(BIN)/.installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

$(TOOLS)/.installed: requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r requirements-tools.txt
	touch $@

tools: $(TOOLS)/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node: node_modules/.installed

# The Lambda layer: requirements.txt built for python3.12 on x86_64 Linux.
build/layer/.installed: requirements.txt | install
	rm -rf build/layer
	$(BIN)/python -m pip install --quiet --target build/layer/python --only-binary=:all: \
		--platform manylinux2014_x86_64 --implementation cp --python-version 3.12 -r requirements.txt
	touch $@

lambda-deps: build/layer/.installed

package: lambda-deps node
	$(SLS) package --stage dev

demo: install
	$(BIN)/python scripts/demo.py

demo-kafka: install
	$(BIN)/python scripts/demo_kafka.py

test: install tools node lambda-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/queries.py

deploy-local: install lambda-deps node
	$(BIN)/python scripts/deploy_local.py

clean:
	rm -rf $(VENV) $(TOOLS) node_modules build .serverless .pytest_cache .hypothesis
