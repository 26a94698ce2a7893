#!/usr/bin/env python3
"""Sizes of containers (`qstore pack --container`) against native .qs files and the two
separate files, on the shared models: bench/container_sizes.py --cli build/cli/qstore
[--models ../shared/models] [--work DIR]. Prints a Markdown table (docs/BENCHMARKS.md).

For each model and scheme: the native .qs (coded low codes), the native .qs with
--low-raw, the container, and the two separate files (the input model + the low model
`unpack --precision low` writes in the container's format).
"""
import argparse
import os
import subprocess
import tempfile

CASES = [  # (model file, scheme, container)
    ("tinystories-656k.bf16.safetensors", "int8-row", "safetensors"),
    ("tinystories-656k.bf16.safetensors", "fp8-e4m3-row", "safetensors"),
    ("tinystories-656k.bf16.safetensors", "int4-asym-group:128", "safetensors"),
    ("maxim-deblurring.bf16.safetensors", "int8-row", "safetensors"),
    ("esrgan-x4.f32.safetensors", "int8-row", "safetensors"),
    ("esrgan-x4.f32.safetensors", "uint8-asym-tensor", "safetensors"),
    ("blazepose-heavy.f16.safetensors", "int8-row", "safetensors"),
    ("blazepose-heavy.f16.safetensors", "fp8-e4m3-tensor", "safetensors"),
    ("gguf/stories260K-f32.gguf", "q8_0", "gguf"),
    ("gguf/stories260K-f32.gguf", "q4_0", "gguf"),
    ("gguf/stories260K-f16.gguf", "q8_0", "gguf"),
    ("gguf/stories260K-f16.gguf", "q4_0", "gguf"),
]


def run(*cmd):
    subprocess.run(list(cmd), check=True, capture_output=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cli", required=True)
    p.add_argument("--models", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "models"))
    p.add_argument("--work", default=None)
    args = p.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="qs-container-sizes-")
    print("| model | scheme | .qs | .qs --low-raw | container | container / .qs --low-raw | "
          "separate: high + low | container / separate |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, scheme, kind in CASES:
        model = os.path.join(args.models, name)
        if not os.path.isfile(model):
            continue
        ext = "gguf" if kind == "gguf" else "safetensors"
        qs, raw, box, low = (os.path.join(work, f) for f in ("a.qs", "b.qs", f"c.{ext}", f"low.{ext}"))
        run(args.cli, "pack", model, "--low", scheme, "-o", qs)
        run(args.cli, "pack", model, "--low", scheme, "--low-raw", "-o", raw)
        run(args.cli, "pack", model, "--low", scheme, "--container", kind, "-o", box)
        run(args.cli, "unpack", box, "--precision", "low", "-o", low)
        size = {k: os.path.getsize(v) for k, v in (("qs", qs), ("raw", raw), ("box", box), ("low", low))}
        separate = os.path.getsize(model) + size["low"]
        print(f"| {os.path.basename(name)} | {scheme} → {kind} | {size['qs']:,} | {size['raw']:,} | {size['box']:,} | "
              f"{size['box'] / size['raw']:.4f} | {os.path.getsize(model):,} + {size['low']:,} = {separate:,} | "
              f"{100 * size['box'] / separate:.1f}% |")


if __name__ == "__main__":
    main()
