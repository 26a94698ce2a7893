#!/usr/bin/env bash
# Bounded fuzzing (CI): builds every libFuzzer target (build.sh), makes the seeds, runs
# the committed reproducers as regression inputs, then fuzzes each target for SECONDS.
# Fails on any crash, sanitizer report (ASan, UBSan, LeakSanitizer), timeout (10 s for
# one input) or OOM (RSS 2 GB, one allocation 256 MB), keeping the input that did it
# in $FUZZ_DIR/artifacts/ (and printing it in base64 when small).
#   tests/fuzz/run.sh [SECONDS] [TARGET...]    SECONDS per target, default 90
# Environment: FUZZ_DIR (default build-fuzz in the source tree: objects, corpora,
# artifacts, logs), FUZZ_PARALLEL (targets fuzzed at a time, default 2), QSTORE_CLI (the
# qstore binary for the seeds; default build/cli/qstore, else built in $FUZZ_DIR/cli).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-90}
shift || true
targets=${*:-fuzz_reader fuzz_safetensors fuzz_index fuzz_gguf fuzz_low}
dir=${FUZZ_DIR:-$root/build-fuzz}
par=${FUZZ_PARALLEL:-2}
mkdir -p "$dir"
t0=$(date +%s)
sh "$here/build.sh" "$dir" $targets > "$dir/build.log" 2>&1 || { tail -50 "$dir/build.log"; echo "fuzz: build failed"; exit 1; }
t1=$(date +%s)
echo "fuzz: built $targets in $((t1 - t0)) s"

cli=${QSTORE_CLI:-$root/build/cli/qstore}
if [ ! -x "$cli" ]; then
  cmake -S "$root" -B "$dir/cli" -DCMAKE_BUILD_TYPE=Release -DQSTORE_BUILD_TESTS=OFF -DQSTORE_BUILD_BENCH=OFF >/dev/null
  cmake --build "$dir/cli" -j 2 --target qstore_cli >/dev/null
  cli=$dir/cli/cli/qstore
fi
rm -rf "$dir/seeds" "$dir/corpus"
python3 "$here/make_file_seeds.py" "$cli" "$dir/fuzz_low" "$dir/seeds" || { echo "fuzz: seeds failed"; exit 1; }
mkdir -p "$dir/seeds/reader" "$dir/artifacts" "$dir/logs"
cp "$here"/corpus/* "$dir/seeds/reader/"

seeds_of() {
  case "$1" in
    fuzz_reader) echo "$dir/seeds/reader" ;;
    *) echo "$dir/seeds/${1#fuzz_}" ;;
  esac
}
# Reproducers kept in crashes/ (fuzz_reader: the files at the top; other targets:
# crashes/TARGET/): each must now run clean.
repro_of() {
  if [ "$1" = fuzz_reader ]; then find "$here/crashes" -maxdepth 1 -type f ! -name '*.qs'
  elif [ -d "$here/crashes/$1" ]; then find "$here/crashes/$1" -type f; fi
}

# The readers must refuse inputs with qstore::Error only (fuzz_common.hpp).
export QS_FUZZ_STRICT=1

fuzz_one() {
  local t=$1 log=$dir/logs/$1.log
  local -a opts=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 -max_len=16384 -print_final_stats=1
                 "-artifact_prefix=$dir/artifacts/$t-")
  mapfile -t repro < <(repro_of "$t")
  if [ ${#repro[@]} -gt 0 ]; then
    if ! timeout 300 "$dir/$t" "${opts[@]}" "${repro[@]}" > "$dir/logs/$t.repro.log" 2>&1; then
      tail -40 "$dir/logs/$t.repro.log"
      echo "fuzz: $t: FAILED on a committed reproducer (crashes/)"
      return 1
    fi
  fi
  mkdir -p "$dir/corpus/$t"
  # libFuzzer stops at the first finding (no -fork); the outer timeout is a backstop.
  timeout $((secs + 300)) "$dir/$t" "${opts[@]}" -max_total_time="$secs" "$dir/corpus/$t" "$(seeds_of "$t")" > "$log" 2>&1
  local rc=$?
  local stats
  stats=$(grep -E '^stat::(number_of_executed_units|peak_rss_mb)|cov: ' "$log" | tail -3 | tr '\n' ' ' | tr -s ' ')
  if [ $rc -ne 0 ]; then
    tail -60 "$log"
    for a in "$dir/artifacts/$t"-*; do
      [ -f "$a" ] || continue
      echo "fuzz: $t: input kept: $a ($(stat -c %s "$a") bytes)"
      [ "$(stat -c %s "$a")" -le 65536 ] && { echo "base64:"; base64 -w 100 "$a"; }
    done
    echo "fuzz: $t: FAILED (exit $rc) after $secs s at most; $stats"
    return 1
  fi
  echo "fuzz: $t: clean, $secs s; $stats"
}

fail=0
pids=()
names=()
for t in $targets; do
  fuzz_one "$t" > "$dir/logs/$t.summary" 2>&1 &
  pids+=($!)
  names+=("$t")
  # At most $par at a time: wait for the oldest.
  if [ ${#pids[@]} -ge "$par" ]; then
    wait "${pids[0]}" || fail=1
    cat "$dir/logs/${names[0]}.summary"
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || fail=1
  cat "$dir/logs/${names[$i]}.summary"
done
echo "fuzz: $(( $(date +%s) - t1 )) s fuzzing (${secs} s per target, $par at a time); logs in $dir/logs"
[ $fail -eq 0 ] || { echo "fuzz: FAILED (reproducers in $dir/artifacts; copy them to tests/fuzz/crashes/TARGET/)"; exit 1; }
echo "fuzz: clean"
