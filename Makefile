# Everything runs from a virtualenv this Makefile creates; nothing is installed globally.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: commands messages install run run-worker test test-fault mutate test-packaging test-browser test-schema openapi openapi-check lint format clean bench bench-admin

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(BIN)/.demo $@

# The demo alone needs far less than the development tools (the "demo" extra).
$(BIN)/.demo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[demo]"
	touch $@

install: $(BIN)/.installed

## Serve the example project on http://127.0.0.1:$(PORT) (SQLite unless DATABASE_URL is set).
run: $(BIN)/.demo
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_setup
	@echo "Admin: http://127.0.0.1:$(PORT)/admin/  Callbacks: http://127.0.0.1:$(PORT)/imcallback/<command>"
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

## Task mode: serve with IMCALLBACK_DISPATCH=task (make run) and run this beside it.
run-worker: $(BIN)/.demo
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py db_worker

## Run the whole test suite (SQLite unless DATABASE_URL is set), then the demo's own tests.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(BIN)/python -m pytest --ds=example_project.settings example_project

## Benchmarks against the floor on PostgreSQL (BENCH_DATABASE_URL; needs wrk, installed if missing),
## then imcallback_sync of 1,000 groups from the fake REST API.
bench: install
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.sync

## Admin page timings on 100,000 dismissals and 5,000,000 members (BENCH_ADMIN_DATABASE_URL).
bench-admin: install
	$(BIN)/python -m benchmarks.admin $(BENCH_ARGS)

## Fault test on PostgreSQL: workers killed and the database restarted under load (CI).
test-fault: install
	$(BIN)/python scripts/fault_test.py $(FAULT_ARGS)

## Build the sdist and wheel, install the wheel in a fresh virtualenv, run the demo's checks.
test-packaging: install
	$(BIN)/python -m pytest -m packaging $(PYTEST_ARGS)

## The admin in headless Chromium (Debian's, installed if missing); screenshots in artifacts/screenshots/.
test-browser: install
	$(BIN)/python -m pip install --quiet -e ".[dev,browser]"
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	fc-list :lang=zh | grep -q . || (apt-get update -qq && apt-get install -y -qq fonts-wqy-zenhei)
	$(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

## Re-extract the strings people read (admin, checks, commands) into the zh-hans catalogue
## and compile it (needs GNU gettext); translate the new entries in django.po first.
messages: install
	command -v msgfmt >/dev/null || (apt-get update -qq && apt-get install -y -qq gettext)
	cd django_imcallback && DJANGO_SETTINGS_MODULE=tests.settings PYTHONPATH=$(CURDIR) \
		$(CURDIR)/$(BIN)/django-admin makemessages -l zh_Hans --no-location --no-obsolete
	cd django_imcallback && $(CURDIR)/$(BIN)/django-admin compilemessages -l zh_Hans

## Write openapi.yaml from the serializers (drf-spectacular); openapi-check fails if it is stale.
openapi: install
	$(BIN)/python manage.py spectacular --urlconf django_imcallback.schema --validate --fail-on-warn --file openapi.yaml

openapi-check: install
	$(BIN)/python manage.py spectacular --urlconf django_imcallback.schema --validate --fail-on-warn --file .openapi.check.yaml
	diff -u openapi.yaml .openapi.check.yaml && rm .openapi.check.yaml

## Rewrite the table of docs/commands.md from the commands' declarations.
commands: install
	$(BIN)/python scripts/commands_doc.py

## schemathesis against the example project, driven by openapi.yaml.
test-schema: openapi-check
	BIN=$(BIN) scripts/test-schema.sh

## Mutation testing (mutmut) of the modules in [tool.mutmut] (pyproject.toml); not run by CI.
mutate: install
	$(BIN)/python -m pip install --quiet -e ".[dev,mutate]"
	cd $(CURDIR) && $(BIN)/mutmut run $(MUTATE_ARGS) || true
	$(BIN)/mutmut results

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) build dist *.egg-info example.sqlite3 .pytest_cache .ruff_cache .hypothesis
