# tfreuse: `make bench` measures and reports, `make test` checks. Both set up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tfreuse-installed
PROFILE ?= full
# Lets TensorFlow report allocator figures on CPU as well; recorded in every run's machine_info.
TF_CPU_ALLOCATOR_USE_BFC ?= 1
RUN_ID := $(shell date -u +%Y%m%dT%H%M%SZ)
RESULTS := reports/runs/$(RUN_ID).json

.PHONY: install test bench report clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest tests benchmarks --profile smoke --benchmark-disable -q -rs

# The report is written even when a benchmark failed; the exit status is still pytest's.
bench: $(STAMP)
	mkdir -p reports/runs
	TF_CPU_ALLOCATOR_USE_BFC=$(TF_CPU_ALLOCATOR_USE_BFC) $(PY) -m pytest benchmarks \
		--profile $(PROFILE) --benchmark-json $(RESULTS) --benchmark-sort name; \
	status=$$?; \
	if [ -s $(RESULTS) ]; then $(PY) -m tfreuse.cli report $(RESULTS) -o reports || status=$$?; fi; \
	exit $$status

# Rebuild reports/index.html from every run kept under reports/runs.
report: $(STAMP)
	$(PY) -m tfreuse.cli report reports/runs -o reports

clean:
	rm -rf $(VENV) build src/*.egg-info
