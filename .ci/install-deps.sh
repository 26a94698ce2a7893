#!/usr/bin/env bash
# Installs the Debian 12 packages qstore needs to build, test and benchmark, if any
# is missing. Used by .ci/run, examples/demo.sh and tests/run.sh.
set -euo pipefail
packages=(build-essential cmake pkg-config libzstd-dev liblz4-dev libxxhash-dev nlohmann-json3-dev
          libcli11-dev catch2 libbenchmark-dev python3 binutils)
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
