#!/bin/sh
# Pure C consumer of the installed library.
#   run_c_api_smoke.sh PREFIX c_api_smoke.c QSTORE_CLI MAKE_FIXTURE WORKDIR
# PREFIX holds a tree installed by `cmake --install` (ctest fixture install_tree).
# Compiles c_api_smoke.c with gcc -std=c99 -pedantic -Wall -Wextra -Werror against the
# installed header, linked via `pkg-config --cflags --libs qstore` with a run path, and
# statically via `pkg-config --static`, then runs both on
# .qs files packed by the CLI from a generated model (coded and --low-raw), and checks
# that it does fail when the reference does not match.
set -eu
prefix=$1 src=$2 cli=$3 gen=$4 work=$5

command -v pkg-config >/dev/null 2>&1 || { echo "SKIPPED: pkg-config not found"; exit 77; }
CC=${CC:-gcc}
command -v "$CC" >/dev/null 2>&1 || { echo "SKIPPED: $CC not found"; exit 77; }

rm -rf "$work"
mkdir -p "$work"
pc=$(find "$prefix" -name qstore.pc | head -n 1)
[ -n "$pc" ] || { echo "FAIL: no qstore.pc under $prefix"; exit 1; }
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
echo "pkg-config file: $pc"

PC="pkg-config"
cflags=$($PC --cflags qstore)
libs=$($PC --libs qstore)
libdir=$($PC --variable=libdir qstore)
echo "cflags: $cflags"
echo "libs:   $libs"
case "$cflags" in *"$prefix"*) ;; *) echo "FAIL: cflags do not point into $prefix"; exit 1 ;; esac
[ -f "$libdir/libqstore.so.1" ] || { echo "FAIL: $libdir/libqstore.so.1 missing"; exit 1; }

# Linked as the README says: the run path names the installed lib folder, so the
# program starts without LD_LIBRARY_PATH.
# shellcheck disable=SC2086
"$CC" -std=c99 -pedantic -Wall -Wextra -Werror -o "$work/c_api_smoke" "$src" $cflags $libs \
  -Wl,-rpath,"$libdir" -lm
ldd "$work/c_api_smoke" | grep "libqstore.so.1 => $libdir/" \
  || { echo "FAIL: c_api_smoke does not find $libdir/libqstore.so.1 by its run path"; exit 1; }

# A static program: `pkg-config --static` lists what libqstore.a needs, and -static
# makes the linker take the archives.
static_libs=$($PC --static --libs qstore)
echo "static: $static_libs"
# shellcheck disable=SC2086
"$CC" -static -std=c99 -pedantic -Wall -Wextra -Werror -o "$work/c_api_smoke_static" "$src" $cflags $static_libs
if ldd "$work/c_api_smoke_static" >/dev/null 2>&1; then
  echo "FAIL: c_api_smoke_static is a dynamic executable"; exit 1
fi

"$gen" "$work/model.safetensors" 1
"$gen" "$work/other.safetensors" 2
"$cli" pack "$work/model.safetensors" -o "$work/model.qs" >/dev/null
"$cli" pack "$work/model.safetensors" -o "$work/model-raw.qs" --low-raw >/dev/null

for qs in "$work/model.qs" "$work/model-raw.qs"; do
  "$work/c_api_smoke" "$qs" "$work/model.safetensors"
  "$work/c_api_smoke_static" "$qs" "$work/model.safetensors"
done

# It must be able to fail: same tensor names, different bytes.
if "$work/c_api_smoke" "$work/model.qs" "$work/other.safetensors" >"$work/neg.log" 2>&1; then
  echo "FAIL: c_api_smoke accepted a model that differs from the .qs file"
  exit 1
fi
grep -q "high bytes differ" "$work/neg.log" || { cat "$work/neg.log"; echo "FAIL: unexpected negative-run output"; exit 1; }
echo "c_api_smoke: negative control failed as it should"
