#!/usr/bin/env bash
# ABI check of libqstore.so.1 against the committed baseline tests/abi/libqstore.so.1.abi
# (libabigail: abidw / abidiff, Debian package abigail-tools).
#   tests/abi/check.sh            build libqstore.so.1 with -g (RelWithDebInfo) and compare
#   tests/abi/check.sh --update   rewrite the baseline from the current library
# Only the types of the public header (include/qstore) count. Exit status: 0 when the
# library's ABI equals the baseline or only adds functions/variables; 1 otherwise (a
# removed or changed function, a changed public type such as a struct's size or
# layout, or an abidiff error), with abidiff's report.
# Environment: BUILD_DIR (default build-abi in the source tree), JOBS (default nproc).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
baseline=$root/tests/abi/libqstore.so.1.abi
build=${BUILD_DIR:-$root/build-abi}
for tool in abidw abidiff; do
  command -v $tool >/dev/null || { echo "abi: $tool not found (apt-get install abigail-tools)" >&2; exit 1; }
done
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQSTORE_BUILD_TESTS=OFF \
  -DQSTORE_BUILD_BENCH=OFF -DQSTORE_BUILD_CLI=OFF >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target qstore
lib=$(readlink -f "$build/libqstore.so.1")
if [ "${1:-}" = "--update" ]; then
  # Only the exported functions and the types of include/qstore; no path of this machine.
  abidw --headers-dir "$root/include/qstore" --drop-private-types --exported-interfaces-only --no-corpus-path --no-comp-dir-path --short-locs --out-file "$baseline" "$lib"
  echo "abi: baseline written: $baseline"
  exit 0
fi
# --no-added-syms: new functions and variables are compatible and not reported; every
# other difference is. abidiff's exit status is a bit field: 1 error, 2 usage error,
# 4 ABI change, 8 incompatible ABI change. A changed public struct sets only bit 4
# (abidiff cannot tell a compatible layout change), so any bit fails.
set +e
abidiff --no-added-syms --drop-private-types --exported-interfaces-only --headers-dir2 "$root/include/qstore" "$baseline" "$lib"
rc=$?
set -e
if [ $rc -eq 0 ]; then
  echo "abi: libqstore.so.1 matches the baseline (additions allowed)"
  exit 0
fi
what=""
[ $((rc & 1)) -ne 0 ] && what="$what error"
[ $((rc & 2)) -ne 0 ] && what="$what usage-error"
[ $((rc & 4)) -ne 0 ] && what="$what abi-change"
[ $((rc & 8)) -ne 0 ] && what="$what INCOMPATIBLE"
echo "abi: abidiff exit $rc ($what ) against $baseline" >&2
echo "abi: if the change is intended and compatible (e.g. a field appended to a struct_size-versioned struct)," >&2
echo "abi: regenerate the baseline with tests/abi/check.sh --update and commit it with the change" >&2
exit 1
