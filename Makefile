# pg_ops: `make demo` runs the whole rollout on a sandbox, `make test` runs the tests.
# Both install what is missing: Debian packages (as root, with apt) and a virtualenv with the pinned set.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PG_OPS := $(VENV)/bin/pg-ops
SCALE ?= 0.1
BENCH_SCALE ?= 1.0
UI_PORT ?= 3000

# program -> Debian package that provides it
SYSTEM_NEEDS := \
	/usr/lib/postgresql/15/bin/initdb:postgresql-15 \
	/usr/lib/postgresql/15/lib/rum.so:postgresql-15-rum \
	/usr/lib/postgresql/15/lib/hypopg.so:postgresql-15-hypopg \
	/usr/sbin/pgbouncer:pgbouncer \
	/usr/bin/prometheus:prometheus \
	/usr/bin/promtool:prometheus \
	/usr/bin/prometheus-pushgateway:prometheus-pushgateway \
	/usr/bin/prometheus-postgres-exporter:prometheus-postgres-exporter \
	/usr/bin/prometheus-alertmanager:prometheus-alertmanager \
	/usr/bin/chromium:chromium \
	/usr/bin/chromedriver:chromium-driver

.PHONY: help install system-packages venv demo ui test bench lint clean screenshots

help:
	@echo "make demo   - sandbox + demo platform (SCALE=$(SCALE)) + the whole rollout + PgBouncer deployed"
	@echo "make ui     - Dagster UI on http://127.0.0.1:3000 against the sandbox"
	@echo "make test   - the test suite on real servers"
	@echo "make bench  - the performance report (BENCH_SCALE=$(BENCH_SCALE))"

install: system-packages venv

system-packages:
	@missing=""; \
	for need in $(SYSTEM_NEEDS); do \
	  [ -e "$${need%%:*}" ] || missing="$$missing $${need##*:}"; \
	done; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing// /}" ]; then \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "pg_ops: missing system packages: $$missing(install them with your package manager)" >&2; exit 1; \
	  elif [ "$$(id -u)" != 0 ]; then \
	    echo "pg_ops: missing system packages: $$missing(run as root, or: sudo apt-get install $$missing)" >&2; exit 1; \
	  fi; \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	@echo "installing the pinned Python set into $(VENV) (about a minute the first time)"
	@$(VENV)/bin/pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	@set -o pipefail; $(VENV)/bin/pip install -q -e '.[dev]' 2>&1 | { grep -v "^WARNING: Location" || true; }
	@$(VENV)/bin/pip check 2>&1 | grep -v "^WARNING: Location"
	@touch $@

demo: install
	@$(PG_OPS) sandbox up
	@$(PG_OPS) demo load --scale $(SCALE)
	@$(PG_OPS) run --sandbox 2>$(CURDIR)/.pg_ops/demo-run.log || { tail -5 .pg_ops/demo-run.log; exit 1; }
	@$(PG_OPS) snapshot --sandbox
	@$(PG_OPS) sandbox pooler-up
	@$(PG_OPS) pooler deploy --sandbox --override-window "make demo: a sandbox has no maintenance window"
	@$(PG_OPS) pooler traffic --sandbox
	@echo
	@echo "Run log: .pg_ops/demo-run.log.  Open the Dagster UI with: make ui   (http://127.0.0.1:3000)"

ui: install
	@$(PG_OPS) sandbox up >/dev/null
	@$(PG_OPS) ui --sandbox --port $(UI_PORT)

test: install
	@$(VENV)/bin/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no test" >&2; exit 1; fi; exit $$rc

bench: install
	@$(PG_OPS) bench --scale $(BENCH_SCALE)

# The README's two screenshots, taken by the browser test (a real dagster dev, headless Chromium).
screenshots: install
	@PG_OPS_SCREENSHOTS=$(CURDIR)/.pg_ops/screenshots $(VENV)/bin/python -m pytest -q tests/test_ui.py -k browser
	@mkdir -p tests/screenshots
	@cp .pg_ops/screenshots/asset-graph.png .pg_ops/screenshots/validation.png tests/screenshots/
	@echo "tests/screenshots/asset-graph.png and validation.png updated"

lint: venv
	@$(VENV)/bin/ruff check pg_ops tests && $(VENV)/bin/mypy pg_ops

clean:
	-@[ -x $(PG_OPS) ] && $(PG_OPS) sandbox down --purge
	rm -rf $(VENV) .pg_ops
