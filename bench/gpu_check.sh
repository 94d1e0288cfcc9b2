#!/usr/bin/env bash
# The GPU check, in one go: environment, build, the whole test suite on the
# GPU, compute-sanitizer, the benchmark, the SASS check and the >2^31-element
# test. Each stage is time-capped and logs to its own file in OUT_DIR (8 files
# at most), so a stage that runs long still leaves the earlier results.
#
#   bash bench/gpu_check.sh OUT_DIR
#
# Needs an NVIDIA GPU with torch (CUDA), nvcc, ninja, pytest; uses Triton,
# compute-sanitizer and cuobjdump when present. About 6-8 minutes on an H100.
set -u
OUT="${1:?usage: gpu_check.sh OUT_DIR}"
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
export MAX_JOBS="${MAX_JOBS:-16}"
PY="${PYTHON:-python3}"

stage() {  # stage NAME SECONDS FILE CMD...
  local name=$1 secs=$2 file=$3
  shift 3
  echo "== $name (limit ${secs}s) ==" | tee -a "$OUT/$file"
  local t0=$SECONDS
  timeout --signal=TERM --kill-after=10 "$secs" "$@" >>"$OUT/$file" 2>&1
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - t0))s ==" | tee -a "$OUT/$file"
  return $rc
}

# 1. What we run on.
{
  date -u
  git rev-parse HEAD
  nvidia-smi
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
  nvcc --version
  command -v compute-sanitizer cuobjdump ncu
} >"$OUT/1_env.txt" 2>&1

# 2. Build for the card.
stage build 300 2_build.log "$PY" -m pip install --no-build-isolation --no-deps -v -e . || {
  echo "build failed; see 2_build.log"
  exit 1
}
"$PY" -c "import activations_ext as a; assert a.has_cuda_kernels(); print('CUDA kernels:', a.has_cuda_kernels(), 'CPU ISA:', a.cpu_kernel_isa())" \
  >>"$OUT/2_build.log" 2>&1

# 3. The suite's CUDA cases (CUDA tests run, not skip; the CPU cases are
#    CI's, and with 25 activations the whole suite no longer fits the cap);
#    then compute-sanitizer
#    memcheck and racecheck on a selection that exercises every kernel, odd
#    sizes and misaligned inputs.
stage tests 240 3_tests.log "$PY" -m pytest tests -q -rs -p no:cacheprovider -k "cuda or gpu"
if command -v compute-sanitizer >/dev/null; then
  stage memcheck 150 4_sanitizer.log compute-sanitizer --tool memcheck --error-exitcode 1 \
    "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py \
    -k "(misaligned and offset1 and float32) or strided or (per_channel and float32) or deterministic"
  stage racecheck 120 4_sanitizer.log compute-sanitizer --tool racecheck --error-exitcode 1 \
    "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py -k "(per_channel and float32) or deterministic"
else
  echo "compute-sanitizer not found" >"$OUT/4_sanitizer.log"
fi

# 4. Benchmark: every activation fwd/bwd, f32/bf16, 2^20..2^28, native,
#    compiled at 2^26, bias_act vs eager vs compiled, copy ceiling.
stage bench 240 5_bench.log "$PY" bench/gpu_bench.py --out "$OUT/6_bench.json"

# 5. SASS: 16-byte loads/stores in the elementwise kernels, no local memory.
SO=$(ls activations_ext/_C*.so | head -1)
if command -v cuobjdump >/dev/null; then
  {
    cuobjdump --dump-sass "$SO" >/tmp/actext_sass.txt
    echo "kernels: $(grep -c 'Function :' /tmp/actext_sass.txt)"
    echo "LDG.E.128: $(grep -c 'LDG.E.128' /tmp/actext_sass.txt)  STG.E.128: $(grep -c 'STG.E.128' /tmp/actext_sass.txt)"
    echo "local memory (LDL/STL): $(grep -cE '\b(LDL|STL)\b' /tmp/actext_sass.txt)"
    # Per vectorized kernel: does it have 128-bit global loads and stores?
    awk '/Function :/ {name=$3} /LDG.E.128/ {l[name]=1} /STG.E.128/ {s[name]=1} /Function :/ {seen[$3]=1}
         END {for (k in seen) if (k ~ /forward_kernel|backward_kernel/) printf "%s ldg128=%d stg128=%d\n", k, (k in l), (k in s)}' \
      /tmp/actext_sass.txt | sort | head -80
  } >"$OUT/7_sass.txt" 2>&1
else
  echo "cuobjdump not found" >"$OUT/7_sass.txt"
fi

# 6. More than 2^31 elements (float16, 2^31 + 17), head and tail slices.
ACTIVATIONS_EXT_BIG=1 stage big_tensor 150 8_big.log "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py -k more_than_2_to_31

echo "done; results in $OUT"
tail -n 40 "$OUT/5_bench.log"
