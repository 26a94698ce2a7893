#!/bin/sh
# The files the binding tests read (QSTORE_TEST_DIR), made with the CLI:
#   prepare.sh QSTORE_CLI MAKE_FIXTURE WORKDIR REAL_MODEL.safetensors
# For each case NAME (model: the generated fixture, real: a real shared model):
# NAME.safetensors, NAME.qs (int8-row, coded), NAME-raw.qs (--low-raw) and
# NAME-low.safetensors (`unpack --precision low`: the bitsandbytes layout); and
# other.safetensors, the generated model with other values under the same names (the
# negative control: the tests must tell it apart from model.qs).
set -eu
cli=$1 gen=$2 work=$3 real=$4
[ -f "$real" ] || { echo "FAIL: real model $real not found (set QSTORE_MODELS_DIR)"; exit 1; }
rm -rf "$work"
mkdir -p "$work"
"$gen" "$work/model.safetensors" 7
"$gen" "$work/other.safetensors" 8
ln -s "$(cd "$(dirname "$real")" && pwd)/$(basename "$real")" "$work/real.safetensors"
for case in model real; do
  "$cli" pack "$work/$case.safetensors" -o "$work/$case.qs" >/dev/null
  "$cli" pack "$work/$case.safetensors" -o "$work/$case-raw.qs" --low-raw >/dev/null
  "$cli" unpack "$work/$case.qs" --precision low -o "$work/$case-low.safetensors" >/dev/null
done
