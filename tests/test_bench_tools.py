#!/usr/bin/env python3
"""The benchmark programs still run and report what docs/BENCHMARKS.md quotes.

On a real model (tinystories, from ../shared/models): `qstore_load_ratio` prints its two
paired ratios and the time per weight of every tensor size, and fails on a damaged file; `qstore_compare` writes the paired load
ratios and the in-bin residual floor into its JSON, and that floor lies between the
order-0 floor of row-adaptive models and the file qstore actually wrote. No timing is
asserted: the ratios only have to be positive numbers.

Exit 77 (a skip outside CI) when the model is missing.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys

MODEL = "tinystories-656k.bf16.safetensors"


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)


def check_load_ratio(cli, load_ratio, model, work):
    qs = os.path.join(work, "model.qs")
    r = run([cli, "pack", model, "-o", qs])
    assert r.returncode == 0, r.stderr
    r = run([load_ratio, qs, "3"])
    assert r.returncode == 0, r.stderr
    ratios = dict(re.findall(r"^\s+(high|low):.*paired ratio ([0-9.]+)$", r.stdout, re.M))
    assert set(ratios) == {"high", "low"}, r.stdout
    assert all(float(v) > 0 for v in ratios.values()), r.stdout
    sizes = re.findall(r"^\s+(<|>=) \S+\s+(\d+) tensors, .* ([0-9.]+) ns per weight$", r.stdout, re.M)
    assert sum(int(n) for _, n, _ in sizes) == 15, r.stdout  # tinystories: 15 tensors with a residual
    assert all(float(ns) > 0 for _, _, ns in sizes), r.stdout
    # A file cut inside its residual opens (the low prefix is whole) but cannot load
    # the high precision: the tool must report that, not time it.
    cut = os.path.join(work, "cut.qs")
    with open(qs, "rb") as f:
        data = f.read()
    with open(cut, "wb") as f:
        f.write(data[: len(data) - 4096])
    r = run([load_ratio, cut, "1"])
    assert r.returncode != 0, "a truncated file was timed: " + r.stdout
    assert "qstore_load_ratio" in r.stderr, r.stderr


def check_compare(compare, model, work):
    out = os.path.join(work, "compare.json")
    r = run([compare, "--runs", "2", "--pack-runs", "1", "--no-memory", "--work-dir", work, "--json", out, model])
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        m = json.load(f)["models"][0]
    keys = {"load_high_kept_open_over_zstd3", "load_high_over_zstd3", "load_low_over_zstd3",
            "load_high_kept_open_threads", "zstd3_high_threads"}
    assert keys <= set(m["paired_ratios"]), m["paired_ratios"]
    assert all(m["paired_ratios"][k] > 0 for k in keys), m["paired_ratios"]
    size = m["size"]
    floor = size["low_prefix_plus_flat_bin_over_h0_high"]
    assert floor is not None and math.isfinite(floor), size
    assert size["h_row_class_over_h0_high"] < floor < size["qstore_over_h0_high"], size


def main():
    p = argparse.ArgumentParser()
    for a in ("--cli", "--compare", "--load-ratio", "--models", "--work"):
        p.add_argument(a, required=True)
    a = p.parse_args()
    model = os.path.join(a.models, MODEL)
    if not os.path.exists(model):
        print(f"SKIPPED: {model} not found")
        return 77
    os.makedirs(a.work, exist_ok=True)
    check_load_ratio(a.cli, a.load_ratio, model, a.work)
    check_compare(a.compare, model, a.work)
    print("bench tools: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
