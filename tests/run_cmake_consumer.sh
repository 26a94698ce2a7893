#!/bin/sh
# find_package(qstore) consumer of the installed tree.
#   run_cmake_consumer.sh CMAKE PREFIX CONSUMER_SRC_DIR c_api_smoke.c QSTORE_CLI MAKE_FIXTURE WORKDIR
set -eu
cmake=$1 prefix=$2 consumer=$3 src=$4 cli=$5 gen=$6 work=$7
rm -rf "$work"
mkdir -p "$work"
"$cmake" -S "$consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" -DSMOKE_SOURCE="$src" \
  -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
"$cmake" --build "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$gen" "$work/model.safetensors" 3
"$cli" pack "$work/model.safetensors" -o "$work/model.qs" >/dev/null
# No LD_LIBRARY_PATH: the imported target must carry what is needed to run from the build tree.
"$work/build/c_api_smoke" "$work/model.qs" "$work/model.safetensors"
# The static build links no libqstore.so at all.
if ldd "$work/build/c_api_smoke_static" | grep -q libqstore; then
  echo "c_api_smoke_static is linked against libqstore.so"; exit 1
fi
"$work/build/c_api_smoke_static" "$work/model.qs" "$work/model.safetensors"
