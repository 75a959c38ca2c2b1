# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000

.PHONY: install run test lint schema

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## Install, migrate, load the FY2024 report's data, create a local admin, serve on SQLite.
run: install
	DEBUG=1 $(PY) manage.py migrate --no-input
	DEBUG=1 $(PY) manage.py load_plan
	DEBUG=1 $(PY) manage.py ensure_local_admin
	DEBUG=1 $(PY) manage.py runserver $(HOST)

## Install and run the test suite (SQLite unless DATABASE_URL is set).
test: install
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

schema: install
	DJANGO_SETTINGS_MODULE=dxapi.test_settings $(PY) manage.py spectacular --file openapi/schema.yaml
