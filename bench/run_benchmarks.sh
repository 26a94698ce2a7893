#!/usr/bin/env bash
# Runs the whole qstore benchmark suite and writes every result into one directory.
#
#   bench/run_benchmarks.sh [options] [RESULTS_DIR]      (default RESULTS_DIR: build-bench/results)
#
# Builds build-bench (Release) if needed, then:
#   1. qstore_compare on every model in ../shared/models (one table: sizes, speeds, memory)
#      -> compare-models.{md,json,log}
#   2. qstore_compare on a SYNTHETIC Llama-shaped BF16 model (default 100M parameters;
#      its ratios are not real-model results) -> compare-synthetic-SIZE.{md,json,log}
#   3. the Google Benchmark micro-benchmarks of the codec kernels -> micro.{txt,json}
#   4. qstore_schemes on every model: the pair's size and load speeds per low-precision
#      scheme -> schemes.md
#   5. qstore_load_ratio on every model and the synthetic one: one-thread loads of a
#      kept-open handle against zstd -d of the same bytes, CPU time -> load-ratio.txt
#   6. machine.txt (CPU and its vector extensions, cores, compiler, git commit) and
#      summary.md with everything.
#
# Options:
#   --models DIR        models folder (default: <repo>/../shared/models)
#   --runs N            timed runs per speed measurement (default 5; synthetic uses 3)
#   --synthetic SIZE    parameter count of the synthetic model (default 100M; e.g. 1B)
#   --no-synthetic      skip step 2
#   --no-micro          skip step 3
#   --build-dir DIR     build directory (default: <repo>/build-bench)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$REPO/build-bench"
MODELS="$REPO/../shared/models"
RUNS=5
SYNTHETIC=100M
MICRO=1
OUT=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --models) MODELS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --synthetic) SYNTHETIC="$2"; shift 2 ;;
    --no-synthetic) SYNTHETIC=""; shift ;;
    --no-micro) MICRO=0; shift ;;
    --build-dir) BUILD="$2"; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run_benchmarks.sh: unknown option $1" >&2; exit 2 ;;
    *) OUT="$1"; shift ;;
  esac
done
OUT="${OUT:-$BUILD/results}"

JOBS="$(nproc 2>/dev/null || echo 2)"
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DQSTORE_BUILD_BENCH=ON
fi
make -C "$BUILD" -j"$JOBS" qstore_compare qstore_micro_bench qstore_gen_synthetic qstore_schemes qstore_load_ratio \
  qstore_cli >/dev/null
COMPARE="$BUILD/bench/qstore_compare"
MICROBIN="$BUILD/bench/qstore_micro_bench"

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d)"  # the .qs files of step 5 and the synthetic model
trap 'rm -rf "$WORK"' EXIT

shopt -s nullglob
MODEL_FILES=("$MODELS"/*.safetensors)
shopt -u nullglob
if [[ ${#MODEL_FILES[@]} -eq 0 ]]; then
  echo "run_benchmarks.sh: no .safetensors files in $MODELS (use --models DIR)" >&2
  exit 1
fi

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
  # Vendors' model names are often hidden in VMs; family/model and the vector extensions
  # tell which kernels ran (qstore's AVX2 set needs AVX2 + F16C; AVX-512 adds F, BW, VL,
  # DQ and VBMI).
  echo "cpu family/model: $(lscpu 2>/dev/null | sed -n 's/^CPU family:[[:space:]]*//p' | head -1)/$(lscpu 2>/dev/null | sed -n 's/^Model:[[:space:]]*//p' | head -1)"
  echo "vector extensions: $(grep -m1 -o -w -E 'avx2|f16c|avx512f|avx512bw|avx512vl|avx512dq|avx512vbmi' /proc/cpuinfo 2>/dev/null | sort -u | tr '\n' ' ' | sed 's/ $//')"
  # Decides the rANS decoders' default table lookup (base/cpu.hpp, table_lookup_detected).
  echo "gather data sampling (GDS): $(cat /sys/devices/system/cpu/vulnerabilities/gather_data_sampling 2>/dev/null || echo 'not reported')"
  echo "cpus: $(nproc)  (cores per socket: $(lscpu 2>/dev/null | sed -n 's/^Core(s) per socket:[[:space:]]*//p' | head -1), threads per core: $(lscpu 2>/dev/null | sed -n 's/^Thread(s) per core:[[:space:]]*//p' | head -1))"
  echo "memory: $(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GiB"}')"
  echo "kernel: $(uname -sr)"
  cxx="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")"
  echo "compiler: $("${cxx:-c++}" --version 2>/dev/null | head -1)"
  echo "build type: $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt")"
  echo "git commit: $(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)"
  dirty="$(git -C "$REPO" status --short -- src capi include cli CMakeLists.txt bench 2>/dev/null || true)"
  if [[ -n "$dirty" ]]; then
    echo "git working tree: UNCOMMITTED changes in measured sources:"
    echo "$dirty" | sed 's/^/  /'
  else
    echo "git working tree: clean (measured sources)"
  fi
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "models: ${MODEL_FILES[*]}"
} > "$OUT/machine.txt"
cat "$OUT/machine.txt"

echo "== qstore_compare on ${#MODEL_FILES[@]} models (runs: $RUNS)"
"$COMPARE" "${MODEL_FILES[@]}" --runs "$RUNS" --json "$OUT/compare-models.json" --md "$OUT/compare-models.md" \
  2> "$OUT/compare-models.log" >/dev/null
cat "$OUT/compare-models.md"

if [[ -n "$SYNTHETIC" ]]; then
  echo "== qstore_compare on a SYNTHETIC $SYNTHETIC-parameter model"
  "$COMPARE" --synthetic "$SYNTHETIC" --synthetic-out "$WORK/synthetic-$SYNTHETIC.safetensors" --runs "$(( RUNS < 3 ? RUNS : 3 ))" --pack-runs "$(( RUNS < 3 ? RUNS : 3 ))" \
    --json "$OUT/compare-synthetic-$SYNTHETIC.json" --md "$OUT/compare-synthetic-$SYNTHETIC.md" \
    2> "$OUT/compare-synthetic-$SYNTHETIC.log" >/dev/null
  cat "$OUT/compare-synthetic-$SYNTHETIC.md"
fi

echo "== qstore_schemes on ${#MODEL_FILES[@]} models"
"$BUILD/bench/qstore_schemes" --runs "$(( RUNS < 3 ? RUNS : 3 ))" "${MODEL_FILES[@]}" > "$OUT/schemes.md"
cat "$OUT/schemes.md"

echo "== qstore_load_ratio (one thread, CPU time)"
RATIO_MODELS=("${MODEL_FILES[@]}")
[[ -n "$SYNTHETIC" ]] && RATIO_MODELS+=("$WORK/synthetic-$SYNTHETIC.safetensors")
for model in "${RATIO_MODELS[@]}"; do
  qs="$WORK/$(basename "$model" .safetensors).qs"
  "$BUILD/cli/qstore" pack "$model" -o "$qs" >/dev/null
  taskset -c 0 "$BUILD/bench/qstore_load_ratio" "$qs" "$(( RUNS < 11 ? 11 : RUNS ))"
  rm -f "$qs"
done > "$OUT/load-ratio.txt"
cat "$OUT/load-ratio.txt"

if [[ "$MICRO" == 1 ]]; then
  echo "== micro-benchmarks"
  "$MICROBIN" --benchmark_min_time=0.2 --benchmark_out="$OUT/micro.json" --benchmark_out_format=json \
    > "$OUT/micro.txt" 2>&1
  cat "$OUT/micro.txt"
fi

{
  echo "# qstore benchmark results"
  echo
  echo '```'
  cat "$OUT/machine.txt"
  echo '```'
  echo
  echo "## Real models"
  echo
  cat "$OUT/compare-models.md"
  if [[ -n "$SYNTHETIC" ]]; then
    echo
    echo "## SYNTHETIC model ($SYNTHETIC parameters, generated weights: not a real-model result)"
    echo
    cat "$OUT/compare-synthetic-$SYNTHETIC.md"
  fi
  echo
  echo "## Every low-precision scheme"
  echo
  cat "$OUT/schemes.md"
  echo
  echo "## One-thread loads against zstd -d (qstore_load_ratio, CPU time)"
  echo
  echo '```'
  cat "$OUT/load-ratio.txt"
  echo '```'
  if [[ "$MICRO" == 1 ]]; then
    echo
    echo "## Micro-benchmarks (one 2^18-element block of synthetic weights)"
    echo
    echo '```'
    cat "$OUT/micro.txt"
    echo '```'
  fi
} > "$OUT/summary.md"
echo "== results in $OUT (summary.md, *.json)"
