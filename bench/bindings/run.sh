#!/usr/bin/env bash
# Times each binding's whole-model load against the C API's, in the same run:
#   bench/bindings/run.sh [--model FILE.safetensors] [--rounds N] [--passes P] [--out DIR]
#                         [--prefix DIR] [--modes "new reuse many batch"]
# Packs the model (default: maxim-deblurring, the largest BF16 model of ../shared/models)
# with the CLI, builds load_all.c (C API), rust/ (the Rust binding, --release) and go/
# (the Go binding) against the installed library (this tree built and installed under
# OUT, or the install given by --prefix), then runs them and python/load_all.py (the
# Python binding, /usr/bin/python3 with numpy) in turn: N rounds, in each round every
# mode, in each mode the four programs one after the other, P timed passes each (one
# pass = every tensor loaded, high precision, then low). Modes (bench/bindings/README.md):
# `new` (every tensor into a new buffer), `reuse` (into the same caller buffers) and
# `many` (every tensor into a new buffer, all in one batched call), `batch` (every tensor
# into arenas made once, in one batched call; the C API and Go only). --passes 0: one
# fresh process per load, its open timed too. Prints the median wall and process CPU
# time of each and the median of its per-pass ratio to the C pass of the same round,
# and writes them to OUT/bindings-load.md (default OUT: build-bench/bindings).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
model="$repo/../shared/models/maxim-deblurring.bf16.safetensors"
rounds=15 passes=1 out="$repo/build-bench/bindings" prefix="" modes="new reuse many batch"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --passes) passes=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --prefix) prefix=$(cd "$2" && pwd); shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -f "$model" ] || { echo "model $model not found" >&2; exit 1; }
for tool in cargo go cc pkg-config /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "$tool not found (.ci/install-deps.sh installs it)" >&2; exit 1; }
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ -z "$prefix" ]; then
  build="$out/build" prefix="$out/prefix"
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DQSTORE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j "$(nproc)" >/dev/null
  rm -rf "$prefix"
  cmake --install "$build" --prefix "$prefix" >/dev/null
fi
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
LD_LIBRARY_PATH="$(pkg-config --variable=libdir qstore)"
export LD_LIBRARY_PATH QSTORE_LIBRARY="$LD_LIBRARY_PATH/libqstore.so.1"
qs="$out/$(basename "$model" .safetensors).qs"
"$prefix/bin/qstore" pack "$model" -o "$qs" >/dev/null

# shellcheck disable=SC2046
cc -O2 -std=c99 -o "$out/load_all_c" "$repo/bench/bindings/load_all.c" $(pkg-config --cflags --libs qstore)
CARGO_TARGET_DIR="$out/cargo" cargo build --offline --release --quiet \
  --manifest-path "$repo/bench/bindings/rust/Cargo.toml"
(cd "$repo/bench/bindings/go" && go build -o "$out/load_all_go" .)
# The programs of a mode: batch has no Rust or Python counterpart.
bindings_of() { if [ "$1" = batch ]; then echo c go; else echo c rust go python; fi; }
declare -A prog=([c]="$out/load_all_c" [rust]="$out/cargo/release/qstore-load-all" [go]="$out/load_all_go"
                 [python]="$repo/bench/bindings/python/load_all.py")

for mode in $modes; do
  rm -f "$out"/times-*-"$mode".txt
  for b in $(bindings_of "$mode"); do : > "$out/times-$b-$mode.txt"; done
done
for ((r = 1; r <= rounds; r++)); do
  for mode in $modes; do
    for b in $(bindings_of "$mode"); do
      "${prog[$b]}" "$qs" "$passes" "$mode" >> "$out/times-$b-$mode.txt"
    done
  done
done

/usr/bin/python3 - "$out" "$model" "$rounds" "$passes" "$modes" <<'PY'
import statistics, sys, os
out, model, rounds, passes, modes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split()
names = (("c", "C API"), ("rust", "Rust"), ("go", "Go"), ("python", "Python"))
cold = passes == "0"
keys = ("open", "high", "low", "total") if cold else ("high", "low")
what = ("one fresh process per load: open, then every tensor's high precision, then low; total: "
        "the three" if cold else f"{passes} timed passes per process after an untimed one")
lines = [f"Whole-model load of {os.path.basename(model)}, {rounds} rounds ({what}); in each round and "
         "mode the programs in turn. Times are medians; ratios are medians of each run's time "
         "over the C run's of the same round and pass. Wall: elapsed time; CPU: the process's CPU "
         "time, all threads."]
for column, clock in ((1, "wall"), (2, "CPU")):
    lines += ["", "| buffers | binding | " + " | ".join(f"{k} {clock} (ms) | / C" for k in keys) + " |",
              "|---|---|" + "---|---|" * len(keys)]
    for mode in modes:
        times = {}
        present = [(b, name) for b, name in names if os.path.exists(os.path.join(out, f"times-{b}-{mode}.txt"))]
        for b, _ in present:
            t = {k: [] for k in keys}
            for line in open(os.path.join(out, f"times-{b}-{mode}.txt")):
                fields = line.split()
                t[fields[0]].append(float(fields[column]))
            if cold:
                t["total"] = [sum(x) for x in zip(t["open"], t["high"], t["low"])]
            times[b] = t
        for b, name in present:
            row = [mode, name]
            for k in keys:
                ratios = [x / c for x, c in zip(times[b][k], times["c"][k])]
                row += [f"{statistics.median(times[b][k]) * 1e3:.1f}", f"{statistics.median(ratios):.3f}"]
            lines.append("| " + " | ".join(row) + " |")
text = "\n".join(lines) + "\n"
open(os.path.join(out, "bindings-load.md"), "w").write(text)
print(text, end="")
PY
