#!/bin/sh
# The Go bindings (bindings/go, cgo with `#cgo pkg-config: qstore`) against an installed
# libqstore: `go test` (every tensor of a generated and a real model in both precisions,
# errors, the 16-goroutine error test, the writer). Arguments: see common.sh.
set -eu
binding=go
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
command -v go >/dev/null 2>&1 || missing "go not found (Debian: apt-get install golang-go)"
go version
serve_test_dir
[ -n "${HOME:-}" ] || { HOME="$work"; export HOME; }
cd "$root/bindings/go"
go vet ./...
# Complete cgo pointer checking (also every pointer write, for Go pointers stored in C
# memory), proving the cgo rules hold for the batched loads: GODEBUG=cgocheck=2 up to
# Go 1.20, the build experiment cgocheck2 since Go 1.21 (which refuses the GODEBUG form).
case "$(go env GOVERSION)" in
  go1.19*|go1.20*) GODEBUG=cgocheck=2 go test -count=1 ./... ;;
  *) GOEXPERIMENT=cgocheck2 go test -count=1 ./... ;;
esac
