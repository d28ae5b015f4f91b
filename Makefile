# labbook: `make demo` runs the demo on SQLite; `make test` runs the whole suite.
# DATABASE_URL=postgres://... makes either use PostgreSQL. PYTHON=/path/to/python3.12 picks the interpreter.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# make test runs the suite in this many pytest-xdist worker processes (each with its own test database);
# PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2

.PHONY: demo test venv install install-test chromium chromium-install lint bench clean-db help

help:
	@echo "make demo   - create .venv, install, migrate (SQLite unless DATABASE_URL), load the demo series, serve at http://$(HOST):$(PORT) with a job worker (HOST=, PORT= to change)"
	@echo "make test   - install test requirements and run the whole suite (pytest, PYTEST_WORKERS=2 processes)"
	@echo "make lint   - ruff"

# A Python 3.12+ that really runs: $(PYTHON) if given, else python3.13/python3.12 on PATH, else pyenv's.
$(PY):
	@set -e; ok() { "$$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }; \
	py="$(PYTHON)"; \
	if [ -n "$$py" ]; then ok "$$py" || { echo "PYTHON=$$py is not a working Python 3.12+ (Django 6 needs 3.12 or newer)" >&2; exit 1; }; fi; \
	if [ -z "$$py" ]; then for c in python3.13 python3.12 python3; do if command -v "$$c" >/dev/null && ok "$$c"; then py="$$c"; break; fi; done; fi; \
	if [ -z "$$py" ]; then root="$${PYENV_ROOT:-$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)}"; \
	  for c in $$(ls -d "$$root"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do if ok "$$c"; then py="$$c"; break; fi; done; fi; \
	if [ -z "$$py" ]; then echo "labbook needs Python 3.12 or newer (Django 6); none found. Install one, or run: make PYTHON=/path/to/python3.12 ..." >&2; exit 1; fi; \
	echo "using $$py ($$("$$py" -c 'import sys; print(sys.version.split()[0])'))"; \
	"$$py" -m venv $(VENV); $(PY) -m pip install -q --upgrade pip

venv: $(PY)

$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(PY) -m pip install -q -r requirements-test.txt
	@touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# The whole system in one command: the web server and a job worker, stopped together by one Ctrl-C.
# DEBUG stays off (static files and BokehJS come through WhiteNoise).
demo: install
	$(PY) manage.py migrate --no-input -v 0
	$(PY) manage.py collectstatic --no-input -v 0
	$(PY) manage.py load_demo
	$(PY) manage.py serve_demo $(HOST):$(PORT)

# Headless Chromium for the page tests (tests/labbook/pages/test_browser.py): Debian's packages,
# driven by Playwright's Python driver (nothing is downloaded at test time); and minisign, the reference
# tool the .eln signature tests check our signatures against. `chromium` installs them when missing;
# `chromium-install` always runs apt (a no-op when installed; .ci/run uses it, so CI
# exercises the install on every run). apt runs as root directly, else through sudo.
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v minisign >/dev/null || $(MAKE) --no-print-directory chromium-install

chromium-install:
	@set -e; \
	if [ "$$(id -u)" = 0 ]; then as_root=""; \
	elif command -v sudo >/dev/null; then as_root="sudo"; \
	else echo "installing chromium needs root or sudo: apt-get install chromium chromium-driver minisign" >&2; exit 1; fi; \
	$$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	$$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver minisign; \
	dpkg-query -W chromium chromium-driver minisign

# make's own status is 2 on any failure; pytest's code (1 failures, 2 interrupted, 5 nothing collected...) is printed.
test: install-test chromium
	@$(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS) || { rc=$$?; echo "pytest exited with code $$rc" >&2; exit $$rc; }

lint: install-test
	$(PY) -m ruff check .

clean-db:
	rm -f var/db.sqlite3*
