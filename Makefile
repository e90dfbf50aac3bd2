# Entry points for developers and CI. A fresh machine needs only Python 3.11+ and make: when
# `uv` is not on PATH, it is installed into .tools/ (a venv of its own, or pip --target).
#
#   make up     the whole embedded stack in the foreground (bpu-dev up; Ctrl-C stops it)
#   make test   the whole test suite: tests/unit, tests/integration, tests/e2e
#   make lint   ruff check, ruff format --check, and mypy (pydantic plugin) over the packages

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION ?= 0.13.9
SYNC_FLAGS ?= --frozen
# Test modules run on this many worker processes (pytest-xdist, a module to a worker: most of
# an end-to-end test's time is spent waiting on the broker, so three share two cores well);
# 0 runs them in this process.
TEST_WORKERS ?= 3
TOOLS := .tools

ifndef UV
UV := $(shell command -v uv 2>/dev/null)
endif
ifeq ($(strip $(UV)),)
UV := $(TOOLS)/bin/uv
endif

.PHONY: help install system-deps up test lint bench

help:
	@echo "make up     start the embedded stack (broker, store, four services) in the foreground"
	@echo "make test   run every test (unit, integration, e2e)"
	@echo "make lint   ruff check, ruff format --check, mypy over shared/, services/, deploy/"
	@echo "make system-deps  apt-get install chromium (dashboard browser test) and wrk (bench)"
	@echo "make bench  run the benchmarks in bench/ (about 8 minutes; prints figures)"
	@echo "(uv: $(UV))"

# Only when uv is not on PATH: a venv with uv in .tools/, or, without venv/ensurepip, pip's
# --target install. .tools/ ignores itself, so it never shows up in git status.
$(TOOLS)/bin/uv:
	@echo "uv is not on PATH: installing uv $(UV_VERSION) into $(TOOLS)/ with $(PYTHON)"
	@mkdir -p $(TOOLS)/bin && echo '*' > $(TOOLS)/.gitignore
	@if $(PYTHON) -m venv $(TOOLS)/venv >/dev/null 2>&1 \
	    && $(TOOLS)/venv/bin/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"; then \
	    ln -sf ../venv/bin/uv $(TOOLS)/bin/uv; \
	elif $(PYTHON) -m pip install -q --disable-pip-version-check --target $(TOOLS)/pip "uv==$(UV_VERSION)"; then \
	    ln -sf ../pip/bin/uv $(TOOLS)/bin/uv; \
	else \
	    echo "could not install uv with $(PYTHON): it needs the venv or pip module" >&2; exit 1; \
	fi
	@$(TOOLS)/bin/uv --version

install: $(UV)
	$(UV) sync $(SYNC_FLAGS)

# Debian packages outside Python: chromium, which the dashboard page's browser test drives
# (Playwright with executable_path=/usr/bin/chromium; no browser download), and wrk, the load
# tool of bench/reporting_reads.py. Installed with apt-get when missing (root, or sudo).
SYSTEM_PACKAGES ?= chromium wrk
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "system packages present: $(SYSTEM_PACKAGES)"; exit 0; fi; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	echo "installing$$missing with apt-get"; \
	$$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing

up: install
	$(UV) run $(SYNC_FLAGS) bpu-dev up

test: install
	$(UV) run $(SYNC_FLAGS) pytest -n $(TEST_WORKERS) --dist loadfile

# mypy's settings (strictness, pydantic plugin, the untyped third-party packages) are in
# pyproject.toml's [tool.mypy].
lint: install
	$(UV) run $(SYNC_FLAGS) ruff check .
	$(UV) run $(SYNC_FLAGS) ruff format --check .
	$(UV) run $(SYNC_FLAGS) mypy shared/src services/*/src deploy/devstack/src

bench: install
	$(UV) run $(SYNC_FLAGS) python bench/registration_api.py
	$(UV) run $(SYNC_FLAGS) python bench/projection.py
	$(UV) run $(SYNC_FLAGS) python bench/coverage_query.py
	$(UV) run $(SYNC_FLAGS) python bench/billing_run.py
	@command -v wrk >/dev/null || { echo "bench/reporting_reads.py needs wrk: make system-deps" >&2; exit 1; }
	$(UV) run $(SYNC_FLAGS) python bench/reporting_reads.py --workers 100000
