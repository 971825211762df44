# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo bench test lint clean

install: $(STAMP)

# torch is pinned and installed first (a CPU build is on these machines), so that pip never
# resolves a newer torch with gigabytes of CUDA packages.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[all,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/learnedsys bench --quick --json report/bench.json --report report
	@echo "report written to report/report.md (records in report/bench.json)"

bench: $(STAMP)
	$(VENV)/bin/learnedsys bench --json report/bench-full.json --report report-full

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) report report-full .pytest_cache
