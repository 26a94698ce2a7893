#!/usr/bin/env bash
# Installs the Debian 12 packages qstore needs to build, test and benchmark, if any
# is missing (python3-numpy: the Python package's tests; nginx: the HTTP tests' server).
# Used by .ci/run, examples/demo.sh and tests/run.sh.
#   .ci/install-deps.sh       the packages to build and test
#   .ci/install-deps.sh ci    also what CI's extra jobs need: clang-14 + libFuzzer
#                             runtime (tests/fuzz/run.sh), abigail-tools (tests/abi/check.sh);
#                             the sanitizer runtimes of gcc come with build-essential
# Both also install llama.cpp for the GGUF runtime test from npm into tests/runtime
# (node-llama-cpp with its prebuilt linux-x64 CPU binaries, versions pinned by
# tests/runtime/package-lock.json, install scripts disabled: nothing is built or
# downloaded besides the packages). It needs the machine's Node.js >= 20 and npm.
set -euo pipefail
runtime_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/runtime"
install_runtime() {
  if [ -f "$runtime_dir/node_modules/.package-lock.json" ] &&
     [ "$runtime_dir/node_modules/.package-lock.json" -nt "$runtime_dir/package-lock.json" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null; then
    echo "install-deps: npm not found: the GGUF runtime test (tests/test_gguf_real.py) will fail" >&2
    return 0
  fi
  echo "installing: node-llama-cpp (npm, tests/runtime)"
  (cd "$runtime_dir" && npm ci --ignore-scripts --omit=optional --no-audit --no-fund --loglevel=error >/dev/null)
}
install_runtime
packages=(build-essential cmake pkg-config libzstd-dev liblz4-dev libxxhash-dev nlohmann-json3-dev
          libcli11-dev libcurl4-openssl-dev catch2 libbenchmark-dev python3 python3-numpy binutils nginx
          cargo rustc golang-go)  # the Rust and Go bindings' tests (tests/bindings)
if [ "${1:-}" = ci ]; then
  packages+=(clang-14 libclang-rt-14-dev abigail-tools)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
