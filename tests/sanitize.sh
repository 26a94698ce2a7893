#!/usr/bin/env bash
# Builds qstore with a sanitizer in its own folder and runs tests under it; fails on
# any sanitizer report (every report aborts the test process, so ctest fails).
#   tests/sanitize.sh asan   ASan + UBSan (-fno-sanitize-recover=undefined), Debug -O1:
#                            every label except install and bindings (consumers built
#                            without ASan, python3 among them, cannot load an ASan
#                            libqstore.so) and real_models (the
#                            Release suite runs those), and without the two exhaustive
#                            checks of the hardware F16 rounding kernels over every
#                            float ("on every prediction value": pure SIMD arithmetic,
#                            > 120 s each under ASan, ~16 s in Release here), and
#                            without the CLI tests under the LD_PRELOAD fault shim
#                            ("atomic_writes: ..."): ASan's runtime must be the first
#                            library loaded, so the shim cannot interpose ahead of it
#   tests/sanitize.sh tsan   TSan, Debug -O1: label threads, i.e. test_threads, run as
#                            one process (not per test case through ctest: under TSan
#                            its cases take ~100 s each here, near ctest's 120 s limit),
#                            and test_writer (the writer's queue and threads)
# Environment: BUILD_DIR (default build-asan / build-tsan in the source tree),
# JOBS (default nproc), CTEST_ARGS (asan: extra ctest arguments, e.g. "-L unit"),
# CATCH_ARGS (tsan: test_threads arguments, e.g. a test name).
set -euo pipefail
kind=${1:?usage: tests/sanitize.sh asan|tsan}
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-$(nproc)}
case "$kind" in
  asan)
    flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
    select=(-LE '^(install|bindings|real_models)$' -E 'equals f16_from_f32 on every prediction value|^atomic_writes: ')
    targets=()  # everything but the benchmarks
    # detect_leaks: LeakSanitizer runs at exit of every test process.
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
    ;;
  tsan)
    flags="-fsanitize=thread -fno-omit-frame-pointer"
    targets=(--target test_threads --target test_writer)
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
    ;;
  *) echo "usage: tests/sanitize.sh asan|tsan" >&2; exit 2 ;;
esac
build=${BUILD_DIR:-$root/build-$kind}
bash "$root/.ci/install-deps.sh"
start=$(date +%s)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DQSTORE_BUILD_BENCH=OFF \
  "-DCMAKE_C_FLAGS=$flags" "-DCMAKE_CXX_FLAGS=$flags" \
  "-DCMAKE_C_FLAGS_DEBUG=-O1 -g" "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" \
  "-DCMAKE_EXE_LINKER_FLAGS=$flags" "-DCMAKE_SHARED_LINKER_FLAGS=$flags" >/dev/null
cmake --build "$build" -j "$jobs" "${targets[@]}"
built=$(date +%s)
# A test that reports aborts (exit code != 0). ASan: ctest's timeout (120 s per test
# case, tests/CMakeLists.txt) bounds a hang; TSan: timeout below (and CI's own).
if [ "$kind" = tsan ]; then
  timeout "${TSAN_TIMEOUT:-900}" "$build/tests/test_threads" --warn NoTests ${CATCH_ARGS:-}
  timeout "${TSAN_TIMEOUT:-900}" "$build/tests/test_writer" --warn NoTests
else
  ctest --test-dir "$build" --output-on-failure -j "$jobs" "${select[@]}" ${CTEST_ARGS:-}
fi
echo "sanitize $kind: build $((built - start)) s, tests $(( $(date +%s) - built )) s"
