#!/usr/bin/env bash
# The whole GPU run, through the project's own launcher and run_graph, on a machine with one NVIDIA GPU.
#
#   experiments/gpu/run_gpu.sh WHEELS_DIR TOKENIZER_DIR [RESULTS_DIR|- [PHASE ...]]
#
# WHEELS_DIR holds the wheels of requirements-gpu.txt (experiments/gpu/fetch_wheels.sh downloads
# them); TOKENIZER_DIR is SmolLM2's folder (tokenizer + config.json, `python -m serving model` here).
# RESULTS_DIR (or -) defaults to results/gpu/<date>-<card>-vllm<version>-lmcache<version>, the card read
# from nvidia-smi (h100, h200, ...). It installs the wheels beside the machine's own torch, writes a
# model folder shaped like Llama-3.1-8B (random weights: --load-format dummy), measures host-to-GPU
# bandwidth, then, on the gpu profile's defaults (CUDA graphs, vLLM's prefix cache with LMCache behind it):
#   up            start the stack and time it (startup.tsv)
#   accounting    hit_accounting at 8k, 16k and 31k on two freshly started stacks (it restarts the stack once)
#   cold_hit      cold_hit at 8k, 16k and 31k manual tokens (LMLAB_GPU_COLD_HIT_SIZES="8000 16000 31000");
#                 with 31k among them, the server's tokenize time of the 31k prompt
#   hit_timing    (not in the default list) 31k hits right after the cold call vs after a 2 s pause, with the
#                 host's CPU counters and /tokenize per edition (experiments/gpu/hit_timing.py;
#                 LMLAB_GPU_HIT_TIMING_EDITIONS editions, default 3)
#   tiers         tiers at 31k (vLLM's GPU cache, then LMCache's CPU tier after a reset)
#   overhead      (not in the default list) overhead at 31k: graph vs bare client vs the question alone, interleaved
#   lmcache_only  a stack with --enforce-eager and vLLM's prefix cache off (timed), cold_hit_lmcache at 8k, 16k, 31k
#   summary       the logs and RESULTS_DIR/README.md with the tables
# PHASEs run in the order given (default: all of them); a machine that keeps files between commands
# can run them over several commands with the same RESULTS_DIR. A user with vllm + lmcache installed
# runs the same steps with `make demo PROFILE=gpu` and their own model.
set -uo pipefail
wheels=$1 tokenizer=$2
cd "$(dirname "$0")/../.."
work=${LMLAB_GPU_WORK:-/tmp/lmlab-gpu}
mkdir -p "$work"

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
# Every scenario of the default settings shares one stack: their own stack names and ports yield to
# these, and a stack is reused only when every setting is equal.
export LMLAB_NAME=gpu LMLAB_VLLM_PORT=8100 LMLAB_LMCACHE_PORT=5555 LMLAB_LMCACHE_HTTP_PORT=8090
results=${3:--}
if [ "$results" = - ]; then results=results/gpu/$(python3 -m experiments.gpu.naming) || exit 1; fi
shift $(( $# < 3 ? $# : 3 ))
phases=${*:-up accounting cold_hit tiers lmcache_only summary}
mkdir -p "$results"
echo "== results in $results; phases: $phases"
# A failed run stops its stacks; a run that ends well leaves the default stack up for the next
# command's phases (lmcache_only stops it; `python3 -m serving down` with LMLAB_NAME=gpu otherwise).
trap 'rc=$?; [ "$rc" -eq 0 ] || { python3 -m serving down >/dev/null 2>&1; LMLAB_NAME=lmcache-only python3 -m serving down >/dev/null 2>&1; }' EXIT

if [ ! -f "$LMLAB_MODEL_DIR/config.json" ]; then
  python3 -m experiments.gpu.dummy_model "$LMLAB_MODEL_DIR" --tokenizer "$tokenizer" || exit 1
  cp "$LMLAB_MODEL_DIR/config.json" "$results/model-config.json"
  nvidia-smi --query-gpu=name,memory.total,driver_version,pcie.link.gen.max,pcie.link.width.max --format=csv | tee "$results/gpu.csv"
  free -g > "$results/host-memory.txt"
  python3 -m experiments.gpu.pcie "$results/pcie.json" || exit 1
fi

# One run_graph call; exit 1 (a missed pass mark) still leaves figures worth keeping, anything worse stops.
run() {
  echo "== $*"
  python3 -m experiments.run_graph "$@" --max-tokens 16  # dummy weights answer noise: keep every decode equal
  local rc=$?
  [ "$rc" -le 1 ] || { echo "stopping: run_graph exited $rc"; exit "$rc"; }
}
# Start the stack the current LMLAB_* settings describe and append "<label> <seconds>" to startup.tsv.
up() {
  local start=$(date +%s.%N)
  python3 -m serving up || exit 1
  echo "$1 $(python3 -c "import time; print(round(time.time() - $start, 1))")" | tee -a "$results/startup.tsv"
}

for phase in $phases; do
  case $phase in
    up) python3 -m serving down >/dev/null 2>&1; up "defaults(cuda-graphs,prefix-cache+lmcache)" ;;
    accounting)
      LMLAB_ACCOUNTING_SIZES=8000,16000,31000 LMLAB_ACCOUNTING_STACKS=2 \
        run --scenario hit_accounting --repeats 5 --keep-stack --out "$results/hit_accounting" ;;
    cold_hit)
      for tokens in ${LMLAB_GPU_COLD_HIT_SIZES:-8000 16000 31000}; do
        run --scenario cold_hit --manual-tokens "$tokens" --keep-stack --out "$results/cold_hit-$tokens"
        if [ "$tokens" = 31000 ]; then python3 -m experiments.gpu.breakdown "$results/breakdown.json" 31000; fi
      done ;;
    hit_timing) python3 -m experiments.gpu.hit_timing "$results/hit_timing-31000.json" 31000 "${LMLAB_GPU_HIT_TIMING_EDITIONS:-3}" 2 ;;
    tiers) run --scenario tiers --manual-tokens 31000 --keep-stack --out "$results/tiers-31000" ;;
    overhead) run --scenario overhead --manual-tokens 31000 --keep-stack --out "$results/overhead-31000" ;;
    lmcache_only)
      python3 -m serving down
      export LMLAB_NAME=lmcache-only LMLAB_PREFIX_CACHING=false LMLAB_ENFORCE_EAGER=true
      up "eager,lmcache-only(prefix-cache-off)"
      for tokens in 8000 16000 31000; do
        run --scenario cold_hit_lmcache --manual-tokens "$tokens" --keep-stack --out "$results/cold_hit_lmcache-$tokens"
      done
      python3 -m serving down
      export LMLAB_NAME=gpu; unset LMLAB_PREFIX_CACHING LMLAB_ENFORCE_EAGER ;;
    summary)
      for log in "$LMLAB_HOME"/stacks/*/logs/vllm.log; do
        grep -h -E "Retrieved|Stored|LMCache hit tokens" "$log" >> "$results/lmcache-requests.log"
        cp "$log" "$results/vllm-$(basename "$(dirname "$(dirname "$log")")").log"
      done
      python3 -m experiments.gpu.summarize "$results" "$LMLAB_MODEL_DIR" ;;
    *) echo "error: unknown phase '$phase'; phases: up accounting cold_hit hit_timing tiers overhead lmcache_only summary" >&2; exit 2 ;;
  esac
done
