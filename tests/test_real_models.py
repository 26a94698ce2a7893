#!/usr/bin/env python3
"""Real models through the qstore CLI, byte for byte.

For every *.safetensors in --models (or only --only NAME):
  1. `qstore pack` (coded) and `qstore pack --low-raw`; `qstore verify` both;
     `qstore info --json` is consistent with the original;
  2. `qstore unpack --precision high`: every tensor's dtype, shape and bytes and the
     __metadata__ equal the original's;
  3. `qstore unpack --precision low`: bitsandbytes layout (X.weight int8 + X.SCB f32)
     for quantized tensors, original bytes for the others; identical for coded and raw
     files; the codes and scales of sampled rows (all rows of small models) equal an
     independent reference quantizer;
  4. re-pack with `--low <unpacked low file>`, verify, then unpack low again (must equal
     the first low file) and high again (must equal the original).
Exit status: 0 ok, 1 failure, 77 skipped (no models).
"""
import argparse
import array
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import time

FULL_CHECK_ELEMENTS = 2_000_000  # models up to this many quantized elements: check every row
SAMPLED_ROWS = 6                 # otherwise: this many rows at the start, middle and end of each tensor

DTYPE_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
              "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class SafeTensors:
    """A safetensors file: header dict, metadata, and tensor bytes by name."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.raw = f.read()
        check(len(self.raw) >= 8, f"{path}: too small")
        (n,) = struct.unpack_from("<Q", self.raw, 0)
        self.header = json.loads(self.raw[8:8 + n].decode("utf-8"))
        self.metadata = self.header.pop("__metadata__", {}) or {}
        self.base = 8 + n
        self.path = path

    def names(self):
        return set(self.header)

    def info(self, name):
        e = self.header[name]
        return e["dtype"], list(e["shape"])

    def data(self, name):
        b, e = self.header[name]["data_offsets"]
        return memoryview(self.raw)[self.base + b:self.base + e]


def run(cmd, log):
    t = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log.append(f"$ {' '.join(cmd)}  ({time.time() - t:.2f} s)")
    if p.returncode != 0:
        raise Failure(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}")
    return p.stdout


def scale_name(name):
    return name[:-len(".weight")] + ".SCB" if name.endswith(".weight") and len(name) > 7 else name + ".SCB"


# ---- independent reference quantizer (float32 arithmetic emulated exactly) ----

def to_f32(x):
    return array.array("f", [x])[0]  # C cast: round to nearest even, overflow -> inf


def row_values(st, name, dtype, row, cols):
    mv = st.data(name)
    size = DTYPE_SIZE[dtype]
    chunk = mv[row * cols * size:(row + 1) * cols * size]
    if dtype == "F32":
        return array.array("f", chunk.tobytes()).tolist()
    if dtype == "F16":
        return list(struct.unpack(f"<{cols}e", chunk))
    if dtype == "BF16":
        halves = array.array("H", chunk.tobytes())
        return array.array("f", array.array("I", (h << 16 for h in halves)).tobytes()).tolist()
    raise Failure(f"not a float dtype: {dtype}")


def reference_row(values):
    scale = 0.0
    for v in values:
        a = abs(v)
        if a > scale and math.isfinite(a):
            scale = a
    codes = []
    if scale == 0.0:
        return [0] * len(values), scale
    inv = to_f32(127.0 / scale)
    # w * inv is exact in double (24 x 24 bits); one rounding to float32, like the C++ code.
    prods = array.array("f", [w * inv for w in values]) if math.isfinite(inv) else None
    for k, w in enumerate(values):
        v = prods[k] if prods is not None else w * inv
        if math.isnan(v):
            codes.append(0)
        elif v >= 127.0:
            codes.append(127)
        elif v <= -127.0:
            codes.append(-127)
        else:
            codes.append(round(v))  # Python rounds half to even
    return codes, scale


def check_low_against_reference(orig, low, name, full):
    dtype, shape = orig.info(name)
    rows = shape[0]
    cols = 1
    for d in shape[1:]:
        cols *= d
    codes = low.data(name)
    scales = array.array("f", low.data(scale_name(name)).tobytes())
    if full:
        check_rows = range(rows)
    else:
        picks = set(range(min(rows, SAMPLED_ROWS // 2)))
        picks.update(range(max(0, rows - SAMPLED_ROWS // 2), rows))
        picks.add(rows // 2)
        check_rows = sorted(picks)
    for r in check_rows:
        values = row_values(orig, name, dtype, r, cols)
        want_codes, want_scale = reference_row(values)
        got_scale = scales[r]
        check(struct.pack("<f", got_scale) == struct.pack("<f", want_scale),
              f"{name}: row {r}: scale {got_scale!r}, reference {want_scale!r}")
        got = array.array("b", codes[r * cols:(r + 1) * cols].tobytes()).tolist()
        if got != want_codes:
            k = next(i for i in range(cols) if got[i] != want_codes[i])
            raise Failure(f"{name}: row {r} element {k}: code {got[k]}, reference {want_codes[k]} "
                          f"(value {values[k]!r}, scale {want_scale!r})")
    return len(check_rows)


# ---- comparisons ----

def compare_high(orig, unpacked, what):
    check(unpacked.names() == orig.names(),
          f"{what}: tensor names differ: missing {sorted(orig.names() - unpacked.names())[:5]}, "
          f"extra {sorted(unpacked.names() - orig.names())[:5]}")
    check(unpacked.metadata == orig.metadata, f"{what}: __metadata__ {unpacked.metadata} != {orig.metadata}")
    for name in orig.names():
        check(unpacked.info(name) == orig.info(name), f"{what}: {name}: {unpacked.info(name)} != {orig.info(name)}")
        check(unpacked.data(name) == orig.data(name), f"{what}: {name}: bytes differ")


def compare_same(a, b, what):
    check(a.names() == b.names(), f"{what}: tensor names differ")
    check(a.metadata == b.metadata, f"{what}: metadata differs")
    for name in a.names():
        check(a.info(name) == b.info(name), f"{what}: {name}: dtype/shape differ")
        check(a.data(name) == b.data(name), f"{what}: {name}: bytes differ")


def check_model(cli, path, work, log):
    base = os.path.basename(path)
    stem = base[:-len(".safetensors")]
    orig = SafeTensors(path)
    summary = {}

    files = {}
    for mode, extra in (("coded", []), ("raw", ["--low-raw"])):
        qs = os.path.join(work, f"{stem}.{mode}.qs")
        run([cli, "pack", path, "-o", qs, "-j", "2"] + extra, log)
        run([cli, "verify", qs, "-j", "2"], log)
        info = json.loads(run([cli, "info", qs, "--json"], log))
        check(info["file_size"] == os.path.getsize(qs), f"{qs}: info file_size")
        check(0 < info["low_prefix_end"] <= info["file_size"], f"{qs}: low_prefix_end")
        check(len(info["tensors"]) == len(orig.names()), f"{qs}: tensor count")
        check(info["metadata"].get("safetensors_metadata", {}) == orig.metadata, f"{qs}: metadata section")
        sections = sorted((s["offset"], s["offset"] + s["length"]) for s in info["sections"])
        for (b0, e0), (b1, _) in zip(sections, sections[1:]):
            check(e0 <= b1, f"{qs}: sections overlap")
        check(sections[-1][1] <= info["file_size"], f"{qs}: section beyond end of file")
        quantized = {t["name"] for t in info["tensors"] if t["scheme"] != "passthrough"}
        for t in info["tensors"]:
            dtype, shape = orig.info(t["name"])
            check(t["dtype"] == dtype and t["shape"] == shape, f"{qs}: {t['name']}: info differs from the original")
            check(t["low_codes_raw"] == (mode == "raw" or t["scheme"] == "passthrough"),
                  f"{qs}: {t['name']}: low_codes_raw")
            if t["scheme"] != "passthrough":
                check(dtype in ("F32", "F16", "BF16") and len(shape) >= 2, f"{qs}: {t['name']}: quantized {dtype} {shape}")
        files[mode] = (qs, info, quantized)
        summary[f"{mode}_size"] = info["file_size"]

        high = os.path.join(work, f"{stem}.{mode}.high.safetensors")
        run([cli, "unpack", qs, "--precision", "high", "-o", high, "-j", "2"], log)
        compare_high(orig, SafeTensors(high), f"{base}: unpack --precision high of the {mode} file")
        os.remove(high)

        low = os.path.join(work, f"{stem}.{mode}.low.safetensors")
        run([cli, "unpack", qs, "--precision", "low", "-o", low, "-j", "2"], log)

    quantized = files["coded"][2]
    check(files["raw"][2] == quantized, f"{base}: coded and raw files quantize different tensors")
    check(len(quantized) > 0, f"{base}: nothing was quantized")
    low = SafeTensors(os.path.join(work, f"{stem}.coded.low.safetensors"))
    low_raw = SafeTensors(os.path.join(work, f"{stem}.raw.low.safetensors"))
    compare_same(low, low_raw, f"{base}: low precision of the coded and raw files")
    check(low.metadata == orig.metadata, f"{base}: low file metadata")
    expected_names = set()
    quantized_elements = 0
    for name in orig.names():
        dtype, shape = orig.info(name)
        if name in quantized:
            expected_names.update({name, scale_name(name)})
            check(low.info(name) == ("I8", shape), f"{base}: low {name}: {low.info(name)}")
            check(low.info(scale_name(name)) == ("F32", [shape[0]]), f"{base}: low {scale_name(name)}")
            n = 1
            for d in shape:
                n *= d
            quantized_elements += n
        else:
            expected_names.add(name)
            check(low.info(name) == (dtype, shape), f"{base}: low {name}: {low.info(name)}")
            check(low.data(name) == orig.data(name), f"{base}: low {name}: passthrough bytes differ")
    check(low.names() == expected_names, f"{base}: low file tensor names")
    full = quantized_elements <= FULL_CHECK_ELEMENTS
    rows_checked = 0
    for name in sorted(quantized):
        rows_checked += check_low_against_reference(orig, low, name, full)
    summary["reference_rows"] = rows_checked
    summary["reference"] = "every row" if full else "sampled rows"

    # Re-pack with the unpacked low file as the given low precision.
    re_qs = os.path.join(work, f"{stem}.repacked.qs")
    run([cli, "pack", path, "--low", low.path, "-o", re_qs, "-j", "2"], log)
    run([cli, "verify", re_qs, "-j", "2"], log)
    re_info = json.loads(run([cli, "info", re_qs, "--json"], log))
    check(re_info["metadata"].get("low_source") == "given", f"{re_qs}: low_source")
    check({t["name"] for t in re_info["tensors"] if t["scheme"] != "passthrough"} == quantized,
          f"{re_qs}: quantized tensors differ")
    re_low = os.path.join(work, f"{stem}.repacked.low.safetensors")
    run([cli, "unpack", re_qs, "--precision", "low", "-o", re_low, "-j", "2"], log)
    compare_same(SafeTensors(re_low), low, f"{base}: low precision after re-packing with --low")
    re_high = os.path.join(work, f"{stem}.repacked.high.safetensors")
    run([cli, "unpack", re_qs, "--precision", "high", "-o", re_high, "-j", "2"], log)
    compare_high(orig, SafeTensors(re_high), f"{base}: high precision after re-packing with --low")
    summary["tensors"] = len(orig.names())
    summary["quantized"] = len(quantized)
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True, help="the qstore binary")
    ap.add_argument("--models", required=True, help="folder of .safetensors models")
    ap.add_argument("--only", help="only this file name")
    ap.add_argument("--work", required=True, help="scratch folder (emptied)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch files")
    args = ap.parse_args()

    if not os.path.isdir(args.models):
        print(f"SKIPPED: real-model folder {args.models} not found")
        return 77
    models = sorted(f for f in os.listdir(args.models) if f.endswith(".safetensors"))
    if args.only:
        models = [m for m in models if m == args.only]
    if not models:
        print(f"SKIPPED: no .safetensors models in {args.models}" + (f" named {args.only}" if args.only else ""))
        return 77
    work = os.path.join(args.work, args.only or "all")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    failed = 0
    for m in models:
        log = []
        t = time.time()
        try:
            s = check_model(args.cli, os.path.join(args.models, m), work, log)
            print(f"ok: {m}: {s['tensors']} tensors ({s['quantized']} quantized); coded {s['coded_size']} bytes, "
                  f"raw {s['raw_size']} bytes; reference quantizer on {s['reference']} ({s['reference_rows']}); "
                  f"{time.time() - t:.1f} s")
        except Failure as e:
            failed += 1
            print("\n".join(log))
            print(f"FAIL: {m}: {e}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
