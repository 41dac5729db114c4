# `make demo` and `make test` each create .venv on first use, install the package into it, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: demo demo-full test dry-run bench clean-demo

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete all --configfile config/demo.yaml
	$(BIN)/snakemake --report results/report.html --configfile config/demo.yaml

# The demo with GoogLeNet too (several times as long as `make demo`; not timed).
demo-full: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete all --configfile config/demo.yaml config/demo_googlenet.yaml
	$(BIN)/snakemake --report results/report.html --configfile config/demo.yaml config/demo_googlenet.yaml

test: $(VENV)/.installed
	$(BIN)/python -m pytest

# The paper-scale DAG, built on a machine with no data: lists every job without running any.
dry-run: $(VENV)/.installed
	$(BIN)/snakemake -n all --quiet rules --configfile config/config.yaml

# Every benchmark, side by side ratios on this machine; writes docs/benchmarks.md and docs/benchmarks.json.
# The demo-stage summary reads the benchmark files of the last `make demo` and is skipped without them.
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/tokenizer.py --out benchmarks/results/tokenizer.json
	$(BIN)/python benchmarks/last_layer.py --steps 5 --repeats 3 --out benchmarks/results/last_layer.json
	$(BIN)/python benchmarks/last_layer.py --full-step --steps 3 --repeats 3 --out benchmarks/results/full_step.json
	$(BIN)/python benchmarks/image_input.py --out benchmarks/results/image_input.json
	$(BIN)/python benchmarks/probe.py --out benchmarks/results/probe.json
	$(BIN)/python benchmarks/text_scaling.py --out benchmarks/results/text_scaling.json
	-$(BIN)/python benchmarks/demo_stages.py --out benchmarks/results/demo_stages.json
	$(BIN)/python benchmarks/report.py --results benchmarks/results --json docs/benchmarks.json --out docs/benchmarks.md

clean-demo:
	rm -rf data/corpus/demo data/text/demo data/models/demo data/eval/demo data/features/demo logs/demo results
