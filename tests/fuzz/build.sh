#!/bin/sh
# Builds the libFuzzer targets of tests/fuzz into the directory given as argument:
# fuzz_reader (.qs through the C API), fuzz_safetensors, fuzz_index, fuzz_gguf, fuzz_low
# (see README.md). Optional further arguments: only these targets.
# Needs clang (default clang++-14) with its runtime (libclang-rt-14-dev), libzstd,
# libxxhash, nlohmann-json3-dev.
set -eu
out=${1:?usage: tests/fuzz/build.sh BUILD_DIR [TARGET...]}
shift
targets=${*:-fuzz_reader fuzz_safetensors fuzz_index fuzz_gguf fuzz_low}
here=$(cd "$(dirname "$0")" && pwd)
# QSTORE_SRC: the source tree to fuzz (default: this checkout). To fuzz a committed
# state while the working tree is being edited: git archive HEAD | tar -x -C /tmp/qs-head
# and QSTORE_SRC=/tmp/qs-head tests/fuzz/build.sh BUILD_DIR.
root=${QSTORE_SRC:-$(cd "$here/../.." && pwd)}
CXX=${CXX:-clang++-14}
mkdir -p "$out"
# QSTORE_CORE_SOURCES and QSTORE_CAPI_SOURCES (the C API) from the top-level CMakeLists.txt.
srcs=$(sed -n -e '/^set(QSTORE_CORE_SOURCES/,/)/p' -e '/^set(QSTORE_CAPI_SOURCES/,/)/p' "$root/CMakeLists.txt" |
  tr ' ()' '\n\n\n' | grep '\.cpp$')
flags="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1 -ffp-contract=off -fno-fast-math -std=c++17 -DQSTORE_BUILDING -I$root/include -I$root/src"
objs=""
for s in $srcs; do
  o="$out/$(echo "$s" | tr '/' '_').o"
  objs="$objs $o"
  # Always rebuilt: headers are shared, and mixed objects give false reports.
  echo "CXX $s"
  echo "$s $o" >> "$out/todo.txt"
done
# fuzzer-no-link: instrument the library for coverage without pulling in a main(). 2 jobs.
libflags=$(echo "$flags" | sed 's/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,/')
if [ -f "$out/todo.txt" ]; then
  xargs -P 2 -L 1 sh -c "$CXX $libflags -c \"$root/\$0\" -o \"\$1\"" < "$out/todo.txt"
fi
rm -f "$out/todo.txt"
# The targets, 2 at a time.
for t in $targets; do echo "$t"; done | xargs -P 2 -I{} sh -c \
  "echo 'CXX tests/fuzz/{}.cpp' && $CXX $flags \"$here/{}.cpp\" $objs -o \"$out/{}\" -lzstd -lxxhash -lpthread"
for t in $targets; do echo "built $out/$t"; done
