#!/usr/bin/env bash
# The whole GPU run, through the project's own launcher and run_graph, on a machine with one NVIDIA GPU.
#
#   experiments/gpu/run_h100.sh WHEELS_DIR TOKENIZER_DIR RESULTS_DIR
#
# WHEELS_DIR holds the wheels of requirements-gpu.txt (experiments/gpu/fetch_wheels.sh downloads
# them); TOKENIZER_DIR is SmolLM2's folder (tokenizer + config.json, `python -m serving model` here).
# It installs the wheels beside the machine's own torch, writes a model folder shaped like
# Llama-3.1-8B (random weights: --load-format dummy), measures host-to-GPU bandwidth, then runs
#   cold_hit at 8k, 16k and 31k manual tokens, overhead at 31k, the server's tokenize time of the
#   31k prompt (one stack, the gpu profile's),
#   tiers at 31k (its own stack: vLLM's prefix cache on, then reset),
# and writes RESULTS_DIR/README.md with the table. A user with vllm + lmcache already installed
# runs the same steps with `make demo PROFILE=gpu` and their own model.
set -uo pipefail
wheels=$1 tokenizer=$2 results=$3
cd "$(dirname "$0")/../.."
work=${LMLAB_GPU_WORK:-/tmp/lmlab-gpu}
mkdir -p "$work" "$results"

if [ ! -f "$work/site/.installed" ]; then
  echo "== installing $(ls "$wheels"/*.whl | wc -l) wheels into $work/site"
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$work/site" "$wheels"/*.whl || exit 1
  touch "$work/site/.installed"
fi
export PYTHONPATH="$work/site:$PWD" PYTHONUNBUFFERED=1
export LMLAB_HOME="$work/home"
export LMLAB_PROFILE=gpu LMLAB_MODEL_DIR="$work/llama-3.1-8b-dummy" LMLAB_SERVED_MODEL_NAME=llama-3.1-8b-dummy
export LMLAB_LOAD_FORMAT=dummy LMLAB_ATTENTION_BACKEND=FLASH_ATTN
export VLLM_USE_FLASHINFER_SAMPLER=0  # FlashInfer is not carried: it is heavy and FLASH_ATTN does not need it
export LMLAB_START_TIMEOUT_S=${LMLAB_START_TIMEOUT_S:-300}
trap 'python3 -m serving down >/dev/null 2>&1; LMLAB_NAME=tiers python3 -m serving down >/dev/null 2>&1' EXIT

python3 -m experiments.gpu.dummy_model "$LMLAB_MODEL_DIR" --tokenizer "$tokenizer" || exit 1
cp "$LMLAB_MODEL_DIR/config.json" "$results/model-config.json"
nvidia-smi --query-gpu=name,memory.total,driver_version,pcie.link.gen.max,pcie.link.width.max --format=csv | tee "$results/gpu.csv"
python3 -m experiments.gpu.pcie "$results/pcie.json" || exit 1

# One run_graph call; exit 1 (a missed pass mark) still leaves figures worth keeping, anything worse stops.
run() {
  echo "== $*"
  python3 -m experiments.run_graph "$@" --max-tokens 16  # dummy weights answer noise: keep every decode equal
  local rc=$?
  [ "$rc" -le 1 ] || { echo "stopping: run_graph exited $rc"; exit "$rc"; }
}
for tokens in 8000 16000 31000; do
  run --scenario cold_hit --manual-tokens "$tokens" --keep-stack --out "$results/cold_hit-$tokens"
done
run --scenario overhead --manual-tokens 31000 --keep-stack --out "$results/overhead-31000"
python3 -m experiments.gpu.breakdown "$results/breakdown.json" 31000
python3 -m serving down
run --scenario tiers --manual-tokens 31000 --out "$results/tiers-31000"
cp "$LMLAB_HOME"/stacks/*/logs/*.log "$results/" 2>/dev/null
python3 -m experiments.gpu.summarize "$results" "$LMLAB_MODEL_DIR"
