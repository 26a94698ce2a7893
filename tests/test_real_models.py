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
     the first low file) and high again (must equal the original);
  5. every other scheme (int8-group, q8_0, q4_0, fp8-e4m3-block128, int4-asym-group,
     uint8-asym-tensor) and the chain `--low int8-row --low q4_0`: pack, `verify --against`
     the original, `unpack --precision low` (native layout names/dtypes/shapes of
     schemes/layout.hpp; GGUF blocks of sampled rows equal an independent reference), re-pack
     with `--low FILE --low-scheme S`, unpack low again: same bytes. Chain: level 0
     equals the q4_0 file's low, level 1 the int8-row file's low (for the tensors the
     chain quantizes; the others are stored as they are); a file
     cut at level_prefix_end[0] still unpacks level 0.
  6. GGUF (models up to GGUF_CHECK_MAX_BYTES): q8_0 and q4_0 low precisions unpacked
     with --format gguf are read by an independent GGUF parser (header, alignment,
     tensor types and dimensions, data = the safetensors low bytes), and re-packing
     with `--low FILE.gguf --low-scheme S` gives the same low precision.
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
    summary["schemes"] = check_new_schemes(cli, path, work, log, orig, low)
    return summary


# ---- schemes 6..11 and a chain ----

NEW_SCHEMES = ["int8-group", "q8_0", "q4_0", "fp8-e4m3-block128", "int4-asym-group", "uint8-asym-tensor"]
GGUF_SAMPLED_ROWS = 2  # rows per tensor checked against the Q8_0/Q4_0 reference
GGUF_CHECK_MAX_BYTES = 8_000_000  # GGUF in/out is checked on models up to this size
GGML_TYPES = {"F32": 0, "F16": 1, "BF16": 30, "F64": 28, "I8": 24, "I16": 25, "I32": 26, "I64": 27}


def read_gguf(path):
    """An independent minimal GGUF v3 parser (ggml docs/gguf.md): (kv, [(name, ne, type, offset)], data bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, raw, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = raw[pos:pos + n].decode("utf-8")
        pos += n
        return s

    scalars = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t in scalars:
            return take(scalars[t])
        if t == 8:
            return string()
        check(t == 9, f"{path}: unknown GGUF value type {t}")
        et, n = take("I"), take("Q")
        return [value(et) for _ in range(n)]

    check(raw[:4] == b"GGUF", f"{path}: no GGUF magic")
    pos = 4
    check(take("I") == 3, f"{path}: not GGUF version 3")
    n_tensors, n_kv = take("Q"), take("Q")
    kv = {}
    for _ in range(n_kv):
        key = string()
        t = take("I")
        kv[key] = (t, value(t))
    infos = []
    for _ in range(n_tensors):
        name = string()
        ne = [take("Q") for _ in range(take("I"))]
        infos.append((name, ne, take("I"), take("Q")))
    align = kv.get("general.alignment", (4, 32))[1]
    start = (pos + align - 1) // align * align
    check(all(b == 0 for b in raw[pos:start]), f"{path}: GGUF padding is not zero")
    return kv, infos, memoryview(raw)[start:]


def check_gguf_low(gguf_path, low, scheme, quantized, what):
    """The GGUF file holds exactly the tensors of the safetensors low file `low`, same bytes."""
    kv, infos, data = read_gguf(gguf_path)
    check(kv.get("general.alignment") == (4, 32), f"{what}: general.alignment {kv.get('general.alignment')}")
    check({i[0] for i in infos} == low.names(), f"{what}: GGUF tensor names differ from the safetensors low file")
    offset = 0
    for name, ne, gtype, off in infos:
        dtype, shape = low.info(name)
        check(off == offset, f"{what}: {name}: offset {off}, expected {offset} (contiguous, 32-byte padded)")
        if name in quantized:
            check(gtype == (8 if scheme == "q8_0" else 2), f"{what}: {name}: ggml type {gtype}")
            cols = shape[1] // (34 if scheme == "q8_0" else 18) * 32
            check(ne == [cols, shape[0]], f"{what}: {name}: ne {ne}, expected {[cols, shape[0]]}")
        else:
            check(gtype == GGML_TYPES[dtype], f"{what}: {name}: ggml type {gtype} for {dtype}")
            check(ne == (shape[::-1] or [1]), f"{what}: {name}: ne {ne} for shape {shape}")
        n = len(low.data(name))
        check(data[off:off + n] == low.data(name), f"{what}: {name}: GGUF data differ from the safetensors low bytes")
        offset += (n + 31) // 32 * 32
    check(len(data) == offset, f"{what}: GGUF data section is {len(data)} bytes, expected {offset}")


def ceil_div(a, b):
    return (a + b - 1) // b


def expected_low_tensors(scheme, name, shape):
    """{name: (dtype, shape)} of one quantized tensor in the scheme's native layout (schemes/layout.hpp)."""
    rows = shape[0]
    cols = 1
    for d in shape[1:]:
        cols *= d
    prefix = name[:-len(".weight")] if name.endswith(".weight") and len(name) > 7 else name
    g = 128  # default group size
    if scheme == "int8-row":
        return {name: ("I8", shape), scale_name(name): ("F32", [rows])}
    if scheme == "int8-group":
        return {name: ("I8", shape), prefix + ".weight_scale": ("F32", [rows, ceil_div(cols, g)])}
    if scheme == "q8_0":
        return {name: ("U8", [rows, cols // 32 * 34])}
    if scheme == "q4_0":
        return {name: ("U8", [rows, cols // 32 * 18])}
    if scheme == "fp8-e4m3-block128":
        return {name: ("F8_E4M3", shape), prefix + ".weight_scale_inv": ("F32", [ceil_div(rows, 128), ceil_div(cols, 128)])}
    if scheme == "int4-asym-group":
        return {prefix + ".qweight": ("I32", [rows, cols // 8]), prefix + ".scales": ("F16", [rows, ceil_div(cols, g)]),
                prefix + ".qzeros": ("U8", [rows, ceil_div(cols, g)])}
    if scheme == "uint8-asym-tensor":
        return {name + "_quantized": ("U8", shape), name + "_scale": ("F32", []), name + "_zero_point": ("U8", [])}
    raise Failure(f"unknown scheme {scheme}")


def f16_bytes(x):
    return struct.pack("<e", x)  # round to nearest even (x is a float32 value)


def ggml_reference_row(values, q4):
    """ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref of one row (float32 emulated)."""
    out = bytearray()
    for b in range(0, len(values), 32):
        x = values[b:b + 32]
        if q4:
            amax, m = 0.0, 0.0
            for v in x:
                if abs(v) > amax:
                    amax, m = abs(v), v
            d = to_f32(m / -8.0)
        else:
            d = to_f32(max(abs(v) for v in x) / 127.0)
        idd = to_f32(1.0 / d) if d != 0.0 else 0.0
        out += f16_bytes(d)
        if q4:
            q = [min(15, int(to_f32(to_f32(v * idd) + 8.5))) for v in x]
            out += bytes(q[j] | (q[j + 16] << 4) for j in range(16))
        else:
            for v in x:
                p = to_f32(v * idd)
                r = math.floor(abs(p) + 0.5)  # roundf: half away from zero
                out += struct.pack("<b", int(-r if p < 0 else r))
    return bytes(out)


def check_gguf_reference(orig, low, name, q4):
    dtype, shape = orig.info(name)
    rows = shape[0]
    cols = 1
    for d in shape[1:]:
        cols *= d
    row_bytes = cols // 32 * (18 if q4 else 34)
    codes = low.data(name)
    for r in sorted({0, rows - 1}):
        values = row_values(orig, name, dtype, r, cols)
        if not all(math.isfinite(v) for v in values):
            continue  # ggml's reference is defined for finite rows
        want = ggml_reference_row(values, q4)
        got = codes[r * row_bytes:(r + 1) * row_bytes].tobytes()
        if got != want:
            k = next(i for i in range(len(want)) if got[i] != want[i])
            raise Failure(f"{name}: {'q4_0' if q4 else 'q8_0'} row {r}: block byte {k} is {got[k]}, reference {want[k]}")
    return len({0, rows - 1})


def check_low_layout(orig, low, scheme, quantized, what):
    expected = {}
    for name in orig.names():
        dtype, shape = orig.info(name)
        if name in quantized:
            expected.update(expected_low_tensors(scheme, name, shape))
        else:
            expected[name] = (dtype, shape)
            check(low.data(name) == orig.data(name), f"{what}: passthrough {name}: bytes differ")
    check(low.names() == set(expected),
          f"{what}: low tensor names: missing {sorted(set(expected) - low.names())[:5]}, "
          f"extra {sorted(low.names() - set(expected))[:5]}")
    for n, (dtype, shape) in expected.items():
        check(low.info(n) == (dtype, shape), f"{what}: {n}: {low.info(n)}, expected {(dtype, shape)}")


def check_new_schemes(cli, path, work, log, orig, int8_low):
    base = os.path.basename(path)
    stem = base[:-len(".safetensors")]
    results = []
    lows = {}
    for scheme in NEW_SCHEMES:
        qs = os.path.join(work, f"{stem}.{scheme}.qs")
        run([cli, "pack", path, "--low", scheme, "-o", qs, "-j", "2"], log)
        run([cli, "verify", qs, "--against", path, "-j", "2"], log)
        info = json.loads(run([cli, "info", qs, "--json"], log))
        quantized = {t["name"] for t in info["tensors"] if t["scheme"] != "passthrough"}
        check(all(t["scheme"] in ("passthrough", scheme) or t["scheme"].startswith(scheme + ":")
                  for t in info["tensors"]), f"{qs}: schemes {sorted({t['scheme'] for t in info['tensors']})}")
        low_path = os.path.join(work, f"{stem}.{scheme}.low.safetensors")
        run([cli, "unpack", qs, "--precision", "low", "-o", low_path, "-j", "2"], log)
        os.remove(qs)
        low = SafeTensors(low_path)
        check_low_layout(orig, low, scheme, quantized, f"{base}: {scheme} low")
        ref_rows = 0
        if scheme in ("q8_0", "q4_0"):
            for name in sorted(quantized):
                ref_rows += check_gguf_reference(orig, low, name, scheme == "q4_0")
        # Re-pack with the unpacked low file as the given low precision.
        re_qs = os.path.join(work, f"{stem}.{scheme}.repacked.qs")
        run([cli, "pack", path, "--low", low_path, "--low-scheme", scheme, "-o", re_qs, "-j", "2"], log)
        re_low = os.path.join(work, f"{stem}.{scheme}.repacked.low.safetensors")
        run([cli, "unpack", re_qs, "--precision", "low", "-o", re_low, "-j", "2"], log)
        compare_same(SafeTensors(re_low), low, f"{base}: {scheme} low after re-packing with --low --low-scheme")
        os.remove(re_low)
        if scheme in ("q8_0", "q4_0") and os.path.getsize(path) <= GGUF_CHECK_MAX_BYTES:
            gguf = os.path.join(work, f"{stem}.{scheme}.low.gguf")
            run([cli, "unpack", re_qs, "--precision", "low", "--format", "gguf", "-o", gguf, "-j", "2"], log)
            check_gguf_low(gguf, low, scheme, quantized, f"{base}: {scheme} low as GGUF")
            run([cli, "pack", path, "--low", gguf, "--low-scheme", scheme, "-o", re_qs, "-j", "2"], log)
            run([cli, "unpack", re_qs, "--precision", "low", "-o", re_low, "-j", "2"], log)
            compare_same(SafeTensors(re_low), low, f"{base}: {scheme} low after re-packing with --low FILE.gguf")
            os.remove(gguf)
            os.remove(re_low)
            results.append(f"{scheme} GGUF in/out ok")
        os.remove(re_qs)
        results.append(f"{scheme} {info['file_size']}" + (f" (ref rows {ref_rows})" if ref_rows else ""))
        if scheme == "q4_0":
            lows[scheme] = low
            lows["q4_0.quantized"] = quantized
        else:
            os.remove(low_path)

    # A 3-level chain: high > int8-row > q4_0.
    qs = os.path.join(work, f"{stem}.chain.qs")
    run([cli, "pack", path, "--low", "int8-row", "--low", "q4_0", "-o", qs, "-j", "2"], log)
    run([cli, "verify", qs, "--against", path, "-j", "2"], log)
    info = json.loads(run([cli, "info", qs, "--json"], log))
    ends = info["level_prefix_end"]
    check(len(ends) == 3 and ends[0] <= ends[1] <= ends[2] <= info["file_size"], f"{qs}: level_prefix_end {ends}")
    levels = {}
    for lv in ("0", "1"):
        p = os.path.join(work, f"{stem}.chain.level{lv}.safetensors")
        run([cli, "unpack", qs, "--precision", lv, "-o", p, "-j", "2"], log)
        levels[lv] = SafeTensors(p)
    low0 = os.path.join(work, f"{stem}.chain.low.safetensors")
    run([cli, "unpack", qs, "--precision", "low", "-o", low0, "-j", "2"], log)
    compare_same(SafeTensors(low0), levels["0"], f"{base}: chain: --precision low vs 0")
    compare_same(levels["0"], lows["q4_0"], f"{base}: chain level 0 vs the q4_0 file's low")
    # Level 1: int8-row for the tensors the chain quantizes (those q4_0 accepts too), the
    # original bytes for the others.
    chain_quantized = {t["name"] for t in info["tensors"] if t["scheme"] != "passthrough"}
    check(chain_quantized <= lows["q4_0.quantized"], f"{base}: chain quantizes tensors q4_0 alone does not")
    check(chain_quantized == lows["q4_0.quantized"], f"{base}: chain and q4_0 alone quantize different tensors")
    check_low_layout(orig, levels["1"], "int8-row", chain_quantized, f"{base}: chain level 1")
    for name in chain_quantized:
        for n in (name, scale_name(name)):
            check(levels["1"].data(n) == int8_low.data(n), f"{base}: chain level 1: {n} differs from the int8-row file's")
    # Re-pack with the chain's level 0 as a given q4_0 low precision.
    re_qs = os.path.join(work, f"{stem}.chain.repacked.qs")
    run([cli, "pack", path, "--low", low0, "--low-scheme", "q4_0", "-o", re_qs, "-j", "2"], log)
    re_low = os.path.join(work, f"{stem}.chain.repacked.low.safetensors")
    run([cli, "unpack", re_qs, "--precision", "low", "-o", re_low, "-j", "2"], log)
    compare_same(SafeTensors(re_low), levels["0"], f"{base}: chain level 0 after re-packing with --low-scheme q4_0")
    # The prefix up to level_prefix_end[0] serves level 0 alone.
    cut = os.path.join(work, f"{stem}.chain.cut0.qs")
    with open(qs, "rb") as f:
        head = f.read(ends[0])
    with open(cut, "wb") as f:
        f.write(head)
    cut_low = os.path.join(work, f"{stem}.chain.cut0.low.safetensors")
    run([cli, "unpack", cut, "--precision", "0", "-o", cut_low, "-j", "2"], log)
    compare_same(SafeTensors(cut_low), levels["0"], f"{base}: level 0 from a file cut at level_prefix_end[0]")
    p = subprocess.run([cli, "unpack", cut, "--precision", "1", "-o", os.path.join(work, "never.safetensors")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    check(p.returncode != 0, f"{base}: unpack of level 1 from a file cut at level_prefix_end[0] succeeded")
    for f in (qs, re_qs, re_low, cut, cut_low, low0) + tuple(os.path.join(work, f"{stem}.chain.level{lv}.safetensors")
                                                             for lv in ("0", "1")):
        os.remove(f)
    os.remove(lows["q4_0"].path)
    results.append(f"chain int8-row>q4_0 {info['file_size']}")
    return "; ".join(results)


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
                  f"{s['schemes']}; {time.time() - t:.1f} s")
        except Failure as e:
            failed += 1
            print("\n".join(log))
            print(f"FAIL: {m}: {e}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
