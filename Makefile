# Two commands do all the set-up:  `make train`  and  `make test`.
# Variables: PY (the Python that makes the venv), VENV, DATA_DIR (datasets), ARGS (extra Hydra overrides).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DATA_DIR ?= $(CURDIR)/data
# glibc keeps freed memory instead of returning it to the OS: large CPU batches run up to 2x faster.
export MALLOC_MMAP_THRESHOLD_ ?= 33554432
export MALLOC_TRIM_THRESHOLD_ ?= 1073741824
export MALLOC_TOP_PAD_ ?= 268435456
export WANDB_SILENT ?= true

PRESET ?= quick
FIGS := 1 2 3 4 5 6 fashion4 fashion6 fashion_extras fashion_levers extras dims depth levers

.PHONY: install train test test-fast lint bench evaluate report clean figures wandb-sync compare $(addprefix fig,$(FIGS))

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

install: $(STAMP)  ## create the virtual environment (if missing) and install the project

train: install  ## the default job: MNIST, Table 1 network, kernel 5, seed 0 (ARGS='kernel=3 seed=1' to change)
	$(BIN)/python -m src.train $(ARGS)

test: install  ## the whole test suite (CI runs exactly this), one worker per core, each test file on one worker
	$(BIN)/python -m pytest -n auto --dist loadfile --durations=15 $(ARGS)

test-fast: install  ## the suite without the tests marked slow (subprocesses, longer training)
	$(BIN)/python -m pytest -n auto --dist loadfile -m "not slow" $(ARGS)

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: install  ## throughput of forward, sensitivity maps and training on this machine
	$(BIN)/python -m src.bench $(ARGS)

report: install  ## the tables of docs/REPRODUCTION.md from figures/*.json
	$(BIN)/python -m src.report

evaluate: install  ## sensitivity maps of finished runs: make evaluate ARGS='run_dir=outputs/train/runs/...'
	$(BIN)/python -m src.evaluate $(ARGS)

$(addprefix fig,$(FIGS)): fig%: install  ## make fig2 PRESET=quick|paper: train what is missing, evaluate, draw
	$(BIN)/python -m src.reproduce figure=$* preset=$(PRESET) $(ARGS)

figures: $(addprefix fig,$(FIGS))  ## every figure (CIFAR-10 ones need the CIFAR-10 files in $$DATA_DIR)

compare: install  ## group runs by config keys: make compare RUNS=outputs/exp1_mnist/seeds3 BY=kernel
	$(BIN)/python -m src.compare runs=$(RUNS) by=[$(or $(BY),kernel)] $(ARGS)

wandb-sync: install  ## upload every offline W&B run below outputs/ (after `wandb login`)
	PATH=$(BIN):$$PATH $(BIN)/python -m src.wandb_log outputs  # one `wandb sync` per run: its folders append in order

clean:
	rm -rf outputs .pytest_cache .ruff_cache
