#!/bin/sh
# The Rust bindings (bindings/rust) against an installed libqstore found by pkg-config:
# `cargo test --offline` (the layout test, every tensor of a generated and a real model
# in both precisions, errors, the writer). Arguments: see common.sh.
set -eu
binding=rust
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
command -v cargo >/dev/null 2>&1 || missing "cargo not found (Debian: apt-get install cargo rustc)"
cargo --version
serve_test_dir
CARGO_TARGET_DIR="$work/target"
export CARGO_TARGET_DIR
cargo test --offline --manifest-path "$root/bindings/rust/Cargo.toml"
