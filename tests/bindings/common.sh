# Sourced by run_rust.sh and run_go.sh: the library to test against and the test files.
#   run_X.sh                                  builds build/ (Release), installs it to
#                                             build/tests/bindings-prefix, works in build/tests/bindings-X
#   run_X.sh PREFIX QSTORE_CLI MAKE_FIXTURE WORKDIR   (ctest: PREFIX from the install_tree fixture)
# Sets prefix, cli, gen, work; exports PKG_CONFIG_PATH, LD_LIBRARY_PATH and QSTORE_TEST_DIR.
# A missing toolchain or real model skips (exit 77) locally and fails in CI (CI set).
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

in_ci() {
  case "${CI:-}" in ""|0|[Ff][Aa][Ll][Ss][Ee]|[Nn][Oo]) return 1 ;; *) return 0 ;; esac
}

missing() {  # missing WHAT: skip locally, fail in CI
  if in_ci; then echo "FAILED: $1 (CI requires the binding tests)"; exit 1; fi
  echo "SKIPPED: $1"; exit 77
}

if [ $# -ge 4 ]; then
  prefix=$(cd "$1" && pwd) cli=$2 gen=$3 work=$4
  mkdir -p "$work"
  work=$(cd "$work" && pwd)
else
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build" -j "$(nproc)" --target qstore qstore_static qstore_cli qstore_make_fixture
  prefix="$root/build/tests/bindings-prefix"
  rm -rf "$prefix"
  cmake --install "$root/build" --prefix "$prefix" >/dev/null
  cli="$root/build/cli/qstore" gen="$root/build/tests/qstore_make_fixture"
  work="$root/build/tests/bindings-$binding"
fi
pc=$(find "$prefix" -name qstore.pc | head -n 1)
[ -n "$pc" ] || { echo "FAILED: no qstore.pc under $prefix"; exit 1; }
PKG_CONFIG_PATH=$(dirname "$pc")
LD_LIBRARY_PATH=$(PKG_CONFIG_PATH=$PKG_CONFIG_PATH pkg-config --variable=libdir qstore)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PKG_CONFIG_PATH LD_LIBRARY_PATH

models=${QSTORE_MODELS_DIR:-$root/../shared/models}
real="$models/tinystories-656k.bf16.safetensors"
[ -f "$real" ] || real=$(ls "$models"/*.safetensors 2>/dev/null | head -n 1 || true)
[ -n "$real" ] && [ -f "$real" ] || missing "no real model in $models (QSTORE_MODELS_DIR)"
sh "$here/prepare.sh" "$cli" "$gen" "$work/files" "$real"
QSTORE_TEST_DIR="$work/files"
QSTORE_TEST_REQUIRE=1
export QSTORE_TEST_DIR QSTORE_TEST_REQUIRE
echo "library: $(pkg-config --variable=libdir qstore); real model: $real"

# nginx on localhost serving QSTORE_TEST_DIR (exported as QSTORE_TEST_URL, ending in
# "/"), stopped when the script exits. Without nginx or python3: skip locally, fail in CI.
serve_test_dir() {
  command -v python3 >/dev/null 2>&1 || missing "python3 not found (it starts nginx)"
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing "nginx not found (Debian: apt-get install nginx)"
  rm -f "$work/url"
  python3 "$here/serve_http.py" "$QSTORE_TEST_DIR" "$work/nginx" "$work/url" &
  server_pid=$!
  trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true' EXIT
  tries=0
  while [ ! -f "$work/url" ]; do
    kill -0 "$server_pid" 2>/dev/null || { echo "FAILED: nginx did not start"; exit 1; }
    tries=$((tries + 1))
    [ "$tries" -le 200 ] || { echo "FAILED: nginx did not start in time"; exit 1; }
    sleep 0.05
  done
  QSTORE_TEST_URL=$(cat "$work/url")
  export QSTORE_TEST_URL
  echo "serving $QSTORE_TEST_DIR at $QSTORE_TEST_URL"
}
