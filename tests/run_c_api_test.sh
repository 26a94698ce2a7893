#!/bin/sh
# Runs a C test of the 1.4 API on files packed from a generated model.
#   run_c_api_test.sh QSTORE_CLI MAKE_FIXTURE WORK_DIR TEST_BINARY
# Writes WORK_DIR/model.qs (coded), model-raw.qs (--low-raw) and chain.qs
# (--low int8-row --low int8-tensor), container.safetensors (--container safetensors), large.qs (a model with a 1024 x 1024 tensor), then runs TEST_BINARY WORK_DIR WORK_DIR/model.qs.
set -eu
cli=$1 gen=$2 work=$3 test=$4
rm -rf "$work"
mkdir -p "$work"
"$gen" "$work/model.safetensors" 1
"$cli" pack "$work/model.safetensors" -o "$work/model.qs" >/dev/null
"$cli" pack "$work/model.safetensors" -o "$work/model-raw.qs" --low-raw >/dev/null
"$cli" pack "$work/model.safetensors" -o "$work/chain.qs" --low int8-row --low int8-tensor >/dev/null
"$cli" pack "$work/model.safetensors" -o "$work/container.safetensors" --container safetensors >/dev/null
"$gen" "$work/large.safetensors" 2 1
"$cli" pack "$work/large.safetensors" -o "$work/large.qs" >/dev/null
"$test" "$work" "$work/model.qs"
