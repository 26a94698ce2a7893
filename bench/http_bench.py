#!/usr/bin/env python3
"""Reading .qs files over HTTP: bytes transferred and requests per operation, against
the file's section sizes, and the speed of a high-precision unpack over HTTP against
the same unpack of the local file. nginx (Debian) serves the files on localhost
(tests/http/servers.py); bytes and requests are counted in its access log.

    bench/http_bench.py --cli build/cli/qstore [--models ../shared/models] [--runs 3]

Prints a markdown table (docs/BENCHMARKS.md, "Over HTTP").
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "http"))
import servers  # noqa: E402


def run(args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def timed(args, runs):
    best = None
    for _ in range(runs):
        t = time.perf_counter()
        run(args)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best


def requests_of(nginx, args):
    """(requests, bytes) of opening (the first 2 requests) and of what follows."""
    start = len(nginx.access_lines())
    run(args)
    lines = nginx.access_lines()[start:]
    opening, rest = lines[:2], lines[2:]
    return (len(opening), sum(r["bytes"] for r in opening)), (len(rest), sum(r["bytes"] for r in rest))


def measure(cli, model, work, nginx, runs):
    name = os.path.basename(model).split(".")[0]
    qs = os.path.join(nginx.root, name + ".qs")
    run([cli, "pack", model, "-o", qs])
    info = json.loads(subprocess.run([cli, "info", qs, "--json"], check=True, capture_output=True).stdout)
    url = nginx.url + name + ".qs"
    out = os.path.join(work, "out.safetensors")
    sec = {(s["kind"], s["level"]): s for s in info["sections"]}
    index_bytes = 64 + sec[("tensor_index", 0)]["length"] + sec.get(("metadata", 0), {"length": 0})["length"]
    big = max(info["tensors"], key=lambda t: t["stored_low_bytes"] + t["stored_residual_bytes"])
    rows = [
        ("open (info)", [cli, "info", url], f"header + metadata + index {index_bytes:,}"),
        ("low model", [cli, "unpack", url, "--precision", "low", "-o", out], f"low prefix {info['low_prefix_end']:,}"),
        ("high model", [cli, "unpack", url, "--precision", "high", "-o", out], f"file {info['file_size']:,}"),
        ("one tensor, high", [cli, "unpack", url, "--precision", "high", "--tensors", big["name"], "-o", out],
         f"its parts {big['stored_low_bytes'] + big['stored_residual_bytes']:,}"),
    ]
    table = []
    for op, args, size in rows:
        (n_open, b_open), (n, b) = requests_of(nginx, args)
        if op.startswith("open"):
            n, b = n_open, b_open
        table.append(f"| {name} | {op} | {n} | {b:,} | {size} |")
    high_bytes = sum(t["high_bytes"] for t in info["tensors"])
    t_http = timed([cli, "unpack", url, "--precision", "high", "-o", out], runs)
    t_local = timed([cli, "unpack", qs, "--precision", "high", "-o", out], runs)
    speed = (f"| {name} | {high_bytes / t_http / 1e6:.0f} MB/s ({t_http * 1e3:.0f} ms) | "
             f"{high_bytes / t_local / 1e6:.0f} MB/s ({t_local * 1e3:.0f} ms) |")
    return table, speed


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--models", default=os.path.join(here, "..", "..", "shared", "models"))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    models = sorted(glob.glob(os.path.join(args.models, "*.safetensors")))
    if not models:
        sys.exit(f"no .safetensors model in {args.models}")
    work = tempfile.mkdtemp(prefix="qstore-http-bench-")
    root = os.path.join(work, "root")
    os.makedirs(root)
    nginx = servers.Nginx(root, os.path.join(work, "nginx"))
    nginx.root = root
    tables, speeds = [], []
    try:
        for m in models:
            t, s = measure(os.path.abspath(args.cli), m, work, nginx, args.runs)
            tables += t
            speeds.append(s)
    finally:
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("| model | operation (after opening) | requests | bytes transferred | the file's bytes it needs |")
    print("|---|---|---:|---:|---|")
    print("\n".join(tables))
    print()
    print("| model | unpack --precision high over HTTP (nginx, localhost) | the same, local file |")
    print("|---|---:|---:|")
    print("\n".join(speeds))


if __name__ == "__main__":
    main()
