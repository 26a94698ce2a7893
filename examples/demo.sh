#!/usr/bin/env bash
# The main job on the bundled example: build qstore, pack a model (the real models in
# ../shared/models if present, otherwise a small generated SYNTHETIC model), load both
# precisions through the C API, verify bit-exactness against the original, and print
# the sizes against the separate high + INT8 files; then a chain of three precisions
# (high > INT8 > Q4_0) with its lowest level exported as GGUF.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/.ci/install-deps.sh"
build="$root/build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DQSTORE_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target qstore_cli qstore_load_both qstore_gen_synthetic >/dev/null
qstore="$build/cli/qstore"
work="$build/demo"
mkdir -p "$work"

models=()
if compgen -G "$root/../shared/models/*.safetensors" >/dev/null; then
  models=("$root"/../shared/models/*.safetensors)
else
  echo "no ../shared/models: generating a small synthetic model (its ratios are not those of a trained model)"
  "$build/bench/qstore_gen_synthetic" --params 5M -o "$work/synthetic-5m.bf16.safetensors" >/dev/null
  models=("$work/synthetic-5m.bf16.safetensors")
fi

for model in "${models[@]}"; do
  name=$(basename "$model" .safetensors)
  echo "== $name"
  "$qstore" pack "$model" -o "$work/$name.qs"
  "$build/examples/qstore_load_both" "$work/$name.qs" | sed 's/^/   /'
  "$qstore" verify "$work/$name.qs" --against "$model" | sed 's/^/   /'
  "$qstore" unpack "$work/$name.qs" --precision low -o "$work/$name.int8.safetensors"
  "$qstore" info "$work/$name.qs" | tail -n 3 | sed 's/^/   /'
done

# A chain of three precisions (high > INT8 > Q4_0) of the first model, and the GGUF
# Q4_0 file a llama.cpp-style runtime reads, cut from the front of the chain.
model=${models[0]}
name=$(basename "$model" .safetensors)
echo "== chain: $name as high > int8-row > q4_0"
"$qstore" pack "$model" --low int8-row --low q4_0 -o "$work/$name.chain.qs"
"$qstore" verify "$work/$name.chain.qs" --against "$model" | sed 's/^/   /'
"$qstore" unpack "$work/$name.chain.qs" --precision low -o "$work/$name.q4_0.gguf"
echo "   level 0 (Q4_0) written as GGUF: $work/$name.q4_0.gguf ($(stat -c %s "$work/$name.q4_0.gguf") bytes)"
"$qstore" info "$work/$name.chain.qs" | tail -n 3 | sed 's/^/   /'

