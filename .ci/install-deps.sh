#!/usr/bin/env bash
# Installs the Debian 12 packages qstore needs to build, test and benchmark, if any
# is missing. Used by .ci/run, examples/demo.sh and tests/run.sh.
#   .ci/install-deps.sh       the packages to build and test (nginx: the HTTP tests' server)
#   .ci/install-deps.sh ci    also what CI's extra jobs need: clang-14 + libFuzzer
#                             runtime (tests/fuzz/run.sh), abigail-tools (tests/abi/check.sh);
#                             the sanitizer runtimes of gcc come with build-essential
set -euo pipefail
packages=(build-essential cmake pkg-config libzstd-dev liblz4-dev libxxhash-dev nlohmann-json3-dev
          libcli11-dev libcurl4-openssl-dev catch2 libbenchmark-dev python3 binutils nginx)
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
