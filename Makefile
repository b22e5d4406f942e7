# amr-grpo: the pipeline steps by name. `make run` and `make test` work on a fresh clone.
# GPU users: make run TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"

PYTHON   ?= python3
VENV     ?= .venv
TORCH    ?= torch==2.13.0
BIN      := $(VENV)/bin
AMR      := $(BIN)/amr-grpo
STAMP    := $(VENV)/.installed
RUN      ?= runs/main
CASES    ?= data/cases.jsonl
DENO_VERSION ?= 2.9.6
DENO     := .tools/node_modules/.bin/deno

.PHONY: help install run data test test-slow bench bench-gpu serve tools chromium postgresql clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv, install torch first, then the package with its test extras

data: install  ## synthetic cases (if missing) -> GRPO dataset splits
	@test -f $(CASES) || $(AMR) synth -n 600 --seed 0 -o $(CASES)
	$(AMR) prepare $(CASES) -o $(RUN)/data --force

POLICY   ?= assets/tiny-policy
SFT_RECIPE ?= configs/train/tiny-sft.yaml
RECIPE   ?= configs/train/tiny-cpu.yaml
# the tiny policy's validations are ~80-200 tokens: 256 new tokens cut none, and an unfinished one costs less time
EVAL_ARGS ?= --max-new-tokens 256
# extra key=value overrides of the warm-start and GRPO recipes (tests/slow/test_main_job.py shortens the run with them)
SFT_ARGS ?=
TRAIN_ARGS ?=
# the best content-free outputs' weighted rewards (bench/reward_hacking.py writes them): reference lines in the report
BASELINE_JSON ?= runs/bench/reward_hacking.json

# Re-running `make run` after a Ctrl-C (or a kill) at any step continues where it stopped: an evaluation that left
# results.jsonl without summary.json gets --resume, a training run with a checkpoint-N gets --resume, a finished warm
# start (warm_start.json written last) is kept and an unfinished one starts over. (make expands a recipe before its
# first line runs: these look at the run directory as it was when `make run` started.)
resume_eval = $(if $(wildcard $(1)/results.jsonl),$(if $(wildcard $(1)/summary.json),,--resume))

run: data  ## the main job: evaluate the tiny policy, warm-start it (SFT on train), GRPO-train it, evaluate each stage, report
	$(AMR) evaluate --model $(POLICY) --data $(RUN)/data --split test --judge rules $(EVAL_ARGS) -o $(RUN)/eval-before $(call resume_eval,$(RUN)/eval-before)
	$(if $(wildcard $(RUN)/warm/warm_start.json),@echo "warm start: kept $(RUN)/warm",$(AMR) sft --config $(SFT_RECIPE) model.name_or_path=$(POLICY) data.dir=$(RUN)/data output_dir=$(RUN)/warm $(SFT_ARGS))
	$(AMR) evaluate --model $(RUN)/warm --data $(RUN)/data --split test --judge rules $(EVAL_ARGS) -o $(RUN)/eval-warm $(call resume_eval,$(RUN)/eval-warm)
	$(AMR) train --config $(RECIPE) model.name_or_path=$(RUN)/warm data.dir=$(RUN)/data output_dir=$(RUN)/train $(TRAIN_ARGS) $(if $(wildcard $(RUN)/train/checkpoint-*),--resume,)
	$(AMR) evaluate --model $(RUN)/train/model --data $(RUN)/data --split test --judge rules $(EVAL_ARGS) -o $(RUN)/eval-after $(call resume_eval,$(RUN)/eval-after)
	$(AMR) report $(RUN)/eval-before $(RUN)/eval-warm $(RUN)/eval-after --labels before,warm-start,after --train-log $(RUN)/train/metrics.jsonl $(addprefix --baseline-json ,$(wildcard $(BASELINE_JSON))) -o $(RUN)/report
	@echo ""
	@echo "Done. Outputs (research tool, not for clinical use):"
	@echo "  dataset          $(RUN)/data/{train,val,test}.jsonl, $(RUN)/data/hf"
	@echo "  before training  $(RUN)/eval-before/{results.jsonl,summary.json}"
	@echo "  warm start       $(RUN)/warm/ (SFT on the train split's references), $(RUN)/eval-warm/"
	@echo "  GRPO run         $(RUN)/train/ (model/, metrics.jsonl, judge_ledger.json, config.yaml, TensorBoard runs/)"
	@echo "  after training   $(RUN)/eval-after/{results.jsonl,summary.json}"
	@echo "  reference lines  $(or $(wildcard $(BASELINE_JSON)),none: bench/reward_hacking.py writes $(BASELINE_JSON))"
	@echo "  report           $(RUN)/report/report.md  and  $(RUN)/report/report.html"

test: install tools  ## install and run the fast test suite
	$(BIN)/python -m pytest

test-slow: install tools  ## the slow tests (tests/slow): README multi-GPU command on 2 CPU processes, SIGTERM + resume ledger, GPU bench logic, schemathesis, the main job
	$(BIN)/python -m pytest -m slow tests/slow

bench: install  ## benchmarks: each prints ours vs a baseline measured in the same run; reward_hacking: the red team
	$(BIN)/python bench/rules_judge.py
	$(BIN)/python bench/case_reader.py
	$(BIN)/python bench/reward_hacking.py
	$(BIN)/python bench/engine_throughput.py
	$(BIN)/python bench/service_load.py
	$(BIN)/python bench/review_agreement.py

bench-gpu: install  ## seconds a GRPO step, tokens/s and peak GPU memory of the 8B recipe (random weights); needs CUDA
	$(BIN)/python bench/gpu_step.py

serve: install  ## the evaluation API (and the web page with MODEL=path) on 127.0.0.1:8000
	$(AMR) serve --no-auth $(if $(MODEL),--model $(MODEL),)

tools: $(DENO) chromium postgresql  ## Deno (Edge Function tests), headless Chromium (browser tests), PostgreSQL (review store tests)

# Debian's chromium + chromedriver for the browser tests; needs root (CI runs as root). Without them
# the browser tests skip with the reason, except under CI where a missing browser fails the run.
chromium:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null); \
	else echo "chromium/chromedriver missing and not root: browser tests will skip (sudo apt-get install chromium chromium-driver)"; fi

# Debian's postgresql for the review store tests: they start their own server (initdb + pg_ctl in a temporary
# directory, run as the postgres user when root) and stop it; the package's own cluster is not used. Needs root, as
# chromium does; without it the PostgreSQL tests skip with the reason, except under CI where they fail.
postgresql:
	@if command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null); \
	else echo "postgresql missing and not root: PostgreSQL tests will skip (sudo apt-get install postgresql)"; fi

$(DENO):
	npm install --prefix .tools --no-save --no-package-lock --no-audit --no-fund deno@$(DENO_VERSION)

clean:  ## remove run outputs (keeps .venv)
	rm -rf runs
