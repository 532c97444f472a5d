# Threshold: two commands.
#   make run   - set up everything and serve the product on the embedded default (SQLite, sandbox)
#   make test  - run the whole suite against PostgreSQL and Redis on their standard local ports
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

TEST_ENV := DEBUG=1 INTERVALS_SANDBOX=0 THRESHOLD_TESTING=1 CELERY_TASK_ALWAYS_EAGER=1 DB_POOL_MAX_SIZE=0 \
	DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/threshold} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}

.PHONY: run test install lint typecheck bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The embedded default is DEBUG=1 (unset means production, which refuses to start without its secrets).
# SITE_URL follows HOST/PORT: the embedded sandbox and every link it prints are addressed through it.
RUN_ENV := DEBUG=1 SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)}

run: install
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py seed_demo
	$(RUN_ENV) $(VENV)/bin/uvicorn config.asgi:application --host $(HOST) --port $(PORT)

test: install
	$(TEST_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(VENV)/bin/mypy .
	$(VENV)/bin/bandit -q -r accounts coaching config integrations mcpserver --severity-level high

bench: install
	$(PY) -m bench.mcp_overhead

clean:
	rm -rf $(VENV) var staticfiles
