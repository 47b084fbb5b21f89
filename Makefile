# The commands the README names. CI (.ci/run) calls `make test`.
.PHONY: env run test lint format typecheck clean browser-deps bench faults soak fuzz

PY = .venv/bin/python
PORT ?= 8000

## env: create .tools/ (pinned uv) and .venv/ (locked dependencies); fast when done already
env:
	@sh .ci/bootstrap

## run: migrate the SQLite database, load demo data, serve with worker and scheduler
run: env
	@# runserver runs the system checks; skipping them here saves seconds per start.
	@$(PY) manage.py migrate --noinput --skip-checks
	@$(PY) manage.py load_demo --skip-checks
	@PORT=$(PORT) bash .ci/serve

## test: the whole suite: pytest (browser tests too), ruff, migrations check, mypy
test: env browser-deps
	$(PY) -m pytest
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m mypy .

## faults: stop the database under load and under a task worker, kill a task worker, each on a
## PostgreSQL cluster of its own (needs root and Debian's postgresql; never touches port 5432);
## kill generate_cases while it loads (a SQLite file of its own)
faults: env
	$(PY) -m pytest -m fault -s -q tests/faults

## soak: SOAK_SECONDS (default 60) of concurrent API and form load on a cluster of its own
soak: env
	$(PY) -m pytest -m soak -s -q tests/soak

## fuzz: the property-based and API fuzz tests (hypothesis's `hypothesis` marker) with the deep
## profile (2,000 examples a property; `make test` runs 200, CI 50); DATABASE_URL as for make test
fuzz: env
	HYPOTHESIS_PROFILE=deep $(PY) -m pytest -m hypothesis -q

## browser-deps: Debian's chromium for the browser tests and gettext for the translation check (installed only when missing)
browser-deps:
	@sh .ci/install-chromium

## bench: load benchmark (gunicorn + wrk, SQLite and PostgreSQL, 10,000 cases; docs/BENCHMARKS.md)
bench: env
	$(PY) bench/load.py --cases 10000 --db sqlite,postgres --duration 20

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format:
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

typecheck:
	$(PY) -m mypy .

## clean: remove the environments and local data (a linked .venv is left alone)
clean:
	rm -rf .tools var staticfiles test-artifacts
	if [ ! -L .venv ]; then rm -rf .venv; fi
