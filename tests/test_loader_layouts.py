#!/usr/bin/env python3
"""Layouts that loaders accept as they are, through the qstore CLI:

  gptq-int4:G   every byte of qweight, qzeros, scales and g_idx that `unpack --precision
                low` writes equals tests/gptq_reference.py (AutoGPTQ's find_params and
                pack() rewritten from its source) with qstore's two documented clamps;
                without them it equals AutoGPTQ's own bytes except in the words the
                reference reports as spilled; on generated F16/BF16/F32 fixtures
                (all-zero groups, all-positive groups, a partial last group) and on
                every tensor of a shared model the scheme takes. `pack --low CKPT` of a
                checkpoint written by the reference packer stores it as it is (unpack
                gives its bytes back); a permuted g_idx is refused. The high precision
                comes back byte for byte (special values included).
  int8-row-ct   compressed-tensors' scale max(absmax / 127.5, FLT_EPSILON) and codes
                clip(rint(x / scale), -128, 127), weight_scale [rows, 1].
  tiny scales   int8-row rows whose absmax is subnormal get the nearest codes
                (format 1.5); a chain file written by qstore 1.4 (tests/data) still
                decodes to its original and to its old codes.
Exit status 0 ok, 1 failure, 77 skipped (no numpy, or no shared model folder: CI makes
that a failure).
"""
import argparse
import json
import os
import struct
import subprocess
import sys

try:
    import numpy as np
except ImportError:
    print("SKIPPED: numpy is not installed (Debian: python3-numpy)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gptq_reference as ref  # noqa: E402

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I8": np.int8, "I32": np.int32, "U8": np.uint8}
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def write_safetensors(path, tensors):
    """tensors: name -> (dtype name, numpy array of that dtype's storage)."""
    header, offset, blobs = {}, 0, []
    for name, (dt, a) in tensors.items():
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[8 + n + a:8 + n + b], dtype=DTYPES[info["dtype"]])
        out[name] = (info["dtype"], arr.reshape(info["shape"]))
    return out


def to_f32(dt, a):
    if dt == "BF16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


def from_f32(dt, x):
    if dt == "BF16":  # round to nearest even
        b = x.astype(np.float32).view(np.uint32)
        return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)
    return x.astype(DTYPES[dt])


def run(args, ok=True):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if ok and p.returncode != 0:
        raise Failure("%s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr.strip()))
    return p


class Cli:
    def __init__(self, path, work):
        self.path, self.work = path, work

    def file(self, name):
        return os.path.join(self.work, name)

    def pack(self, src, out, *opts, ok=True):
        return run([self.path, "pack", src, "-o", out, "-j", "2"] + list(opts), ok)

    def unpack(self, qs, out, precision):
        run([self.path, "unpack", qs, "-o", out, "--precision", precision])
        return read_safetensors(out)

    def round_trip_high(self, src, qs, what):
        high = self.unpack(qs, self.file("high.safetensors"), "high")
        orig = read_safetensors(src)
        for name, (dt, a) in orig.items():
            check(high[name][0] == dt and high[name][1].tobytes() == a.tobytes(), "%s: %s high differs" % (what, name))


# ---------------------------------------------------------------- GPTQ

def gptq_fixtures(rng):
    """name -> (dtype, values [out, in] float32, group size)."""
    out = {}
    w = (rng.standard_normal((64, 256)) * 0.05).astype(np.float32)
    w[3, 0:128] = 0                                    # an all-zero group
    w[5, 128:256] = np.abs(w[5, 128:256]) + 0.01       # all positive: AutoGPTQ's zero point 0
    w[6, 0:128] = -np.abs(w[6, 0:128])                 # all negative: zero point 15
    out["a.weight"] = ("F16", w, 128)
    w = (rng.standard_normal((32, 200)) * 3).astype(np.float32)  # partial last group (200 = 3 * 64 + 8)
    out["b.weight"] = ("BF16", w, 64)
    w = (rng.standard_normal((16, 96)) * np.exp(rng.uniform(-30, 30, (16, 1)))).astype(np.float32)
    w[2] = 0
    w[4, :] = np.float32(1e-40) * np.arange(96, dtype=np.float32)  # subnormal values
    out["c.weight"] = ("F32", w, 32)
    return out


def stored_values(dt, w):
    """The fixture's values as the high dtype holds them, and the stored array."""
    a = from_f32(dt, w)
    return to_f32(dt, a), a


def check_gptq_tensor(name, vals, low, group, what):
    prefix = name[:-len(".weight")] if name.endswith(".weight") else name
    mine = {k: low[prefix + "." + k] for k in ("qweight", "qzeros", "scales", "g_idx")}
    rows, cols = vals.shape
    groups = (cols + group - 1) // group
    shapes = {"qweight": ("I32", (cols // 8, rows)), "qzeros": ("I32", (groups, rows // 8)),
              "scales": ("F16", (groups, rows)), "g_idx": ("I32", (cols,))}
    for k, (dt, shape) in shapes.items():
        check(mine[k][0] == dt and tuple(mine[k][1].shape) == shape,
              "%s: %s.%s is %s %s, want %s %s" % (what, prefix, k, mine[k][0], mine[k][1].shape, dt, shape))
    want = ref.pack_clamped(vals, group)
    for k in shapes:
        same = mine[k][1].tobytes() == want[k].tobytes()
        if not same:
            diff = np.flatnonzero(mine[k][1].reshape(-1).view(np.uint8) != want[k].reshape(-1).view(np.uint8))
            raise Failure("%s: %s.%s differs from the reference at %d bytes (first %d)" %
                          (what, prefix, k, len(diff), diff[0]))
    # Against AutoGPTQ's unclamped bytes: equal wherever its packer does not spill.
    raw = ref.pack(vals, group)
    bad_w, bad_z = ref.spills(raw)
    check(np.array_equal(mine["qweight"][1][~bad_w], raw["qweight"][~bad_w]), "%s: qweight vs AutoGPTQ" % what)
    check(np.array_equal(mine["qzeros"][1][~bad_z], raw["qzeros"][~bad_z]), "%s: qzeros vs AutoGPTQ" % what)
    check(mine["scales"][1].tobytes() == raw["scales"].tobytes(), "%s: scales vs AutoGPTQ" % what)
    # AutoGPTQ's dequantization of qstore's words stays within half a step of the values.
    _, _, deq = ref.unpack(mine["qweight"][1], mine["qzeros"][1], mine["scales"][1], mine["g_idx"][1])
    return int(bad_w.sum()), int(bad_z.sum()), int(bad_w.size), deq


def test_gptq_fixtures(cli, rng, log):
    fixtures = gptq_fixtures(rng)
    for name, (dt, w, group) in fixtures.items():
        vals, stored = stored_values(dt, w)
        src = cli.file("gptq_%s.safetensors" % dt)
        write_safetensors(src, {name: (dt, stored)})
        qs = cli.file("gptq_%s.qs" % dt)
        cli.pack(src, qs, "--low", "gptq-int4:%d" % group)
        low = cli.unpack(qs, cli.file("gptq_low.safetensors"), "low")
        spilled_w, spilled_z, words, deq = check_gptq_tensor(name, vals, low, group, "fixture " + dt)
        log("gptq-int4:%d %s %s: bytes equal the reference; qstore's clamps change %d of %d qweight words "
            "and %d qzeros words of AutoGPTQ's packer" % (group, dt, w.shape, spilled_w, words, spilled_z))
        if name == "a.weight":
            check(spilled_z > 0, "the all-positive group must exercise the zero point 0 case")
            check(np.all(deq[3, 0:128] == 0), "an all-zero group must dequantize to 0")
        cli.round_trip_high(src, qs, "fixture " + dt)
        test_given_checkpoint(cli, src, name, dt, vals, group)


def test_given_checkpoint(cli, src, name, dt, vals, group):
    """`pack --low CKPT` with a checkpoint the reference packer wrote (AutoGPTQ's own
    bytes, spills included): stored as it is."""
    prefix = name[:-len(".weight")]
    raw = ref.pack(vals, group)
    ckpt = cli.file("ckpt.safetensors")
    write_safetensors(ckpt, {prefix + ".qweight": ("I32", raw["qweight"]), prefix + ".qzeros": ("I32", raw["qzeros"]),
                             prefix + ".scales": ("F16", raw["scales"]), prefix + ".g_idx": ("I32", raw["g_idx"])})
    qs = cli.file("given.qs")
    cli.pack(src, qs, "--low", ckpt, "--low-scheme", "gptq-int4:%d" % group, "--strict")
    low = cli.unpack(qs, cli.file("given_low.safetensors"), "low")
    for k in ("qweight", "qzeros", "scales", "g_idx"):
        check(low[prefix + "." + k][1].tobytes() == raw[k].tobytes(), "given %s: %s changed" % (dt, k))
    cli.round_trip_high(src, qs, "given checkpoint " + dt)
    # An act-order g_idx (not column / G) is refused.
    bad = raw["g_idx"][::-1].copy()
    write_safetensors(ckpt, {prefix + ".qweight": ("I32", raw["qweight"]), prefix + ".qzeros": ("I32", raw["qzeros"]),
                             prefix + ".scales": ("F16", raw["scales"]), prefix + ".g_idx": ("I32", bad)})
    p = cli.pack(src, cli.file("bad.qs"), "--low", ckpt, "--low-scheme", "gptq-int4:%d" % group, ok=False)
    check(p.returncode != 0 and "g_idx" in p.stderr, "a permuted g_idx must be refused: %s" % p.stderr)


def test_gptq_special_values(cli, rng):
    w = rng.standard_normal((8, 64)).astype(np.float32)
    bits = w.view(np.uint32)
    bits[0, :4] = [0x7FC00001, 0xFFA00000, 0x7F800000, 0xFF800000]  # NaN payloads, +-Inf
    bits[1, :3] = [0x80000000, 0x00000001, 0x807FFFFF]              # -0, subnormals
    bits[2, :] = 0x80000000                                          # a row of -0
    src = cli.file("special.safetensors")
    write_safetensors(src, {"s.weight": ("F32", w)})
    qs = cli.file("special.qs")
    cli.pack(src, qs, "--low", "gptq-int4:16")
    cli.round_trip_high(src, qs, "special values")


def test_gptq_shared_model(cli, models, log):
    """False if the shared model is missing."""
    path = os.path.join(models, "maxim-deblurring.bf16.safetensors")
    if not os.path.exists(path):
        log("SKIPPED: shared model %s is missing" % path)
        return False
    qs = cli.file("maxim.qs")
    cli.pack(path, qs, "--low", "gptq-int4:128")
    low = cli.unpack(qs, cli.file("maxim_low.safetensors"), "low")
    high = read_safetensors(path)
    tensors = spilled = words = 0
    for name, (dt, a) in high.items():
        prefix = name[:-len(".weight")] if name.endswith(".weight") else name
        if prefix + ".qweight" not in low:
            continue
        vals = to_f32(dt, a).reshape(a.shape[0], -1)
        sw, _, nw, _ = check_gptq_tensor(name, vals, low, 128, "maxim " + name)
        tensors, spilled, words = tensors + 1, spilled + sw, words + nw
    check(tensors > 100, "the shared model should have many GPTQ tensors, got %d" % tensors)
    log("gptq-int4:128 on maxim-deblurring: %d tensors byte-identical to the reference; qstore's clamps "
        "change %d of %d qweight words of AutoGPTQ's packer" % (tensors, spilled, words))
    return True


# ---------------------------------------------------------------- INT8

def test_int8_row_ct(cli, rng):
    w = (rng.standard_normal((16, 64)) * 0.1).astype(np.float32)
    w[1] = 0
    w[2] = np.float32(3.67e-40) * np.linspace(-1, 1, 64, dtype=np.float32)
    w[3, 7] = -np.abs(w[3]).max() * 2  # -absmax: code -128
    src = cli.file("ct.safetensors")
    write_safetensors(src, {"m.weight": ("F32", w)})
    qs = cli.file("ct.qs")
    cli.pack(src, qs, "--low", "int8-row-ct")
    low = cli.unpack(qs, cli.file("ct_low.safetensors"), "low")
    dt, codes = low["m.weight"]
    sdt, scale = low["m.weight_scale"]
    check(dt == "I8" and sdt == "F32" and scale.shape == (16, 1), "int8-row-ct layout: %s %s %s" % (dt, sdt, scale.shape))
    absmax = np.abs(w).max(axis=1).astype(np.float32)
    want_scale = np.maximum((absmax / np.float32(127.5)).astype(np.float32), np.finfo(np.float32).eps)
    check(np.array_equal(scale[:, 0], want_scale), "int8-row-ct scales")
    want = np.clip(np.rint(w / want_scale[:, None]), -128, 127).astype(np.int8)
    check(np.array_equal(codes, want), "int8-row-ct codes")
    check(codes[3, 7] == -128 and codes.max() == 127, "int8-row-ct code range -128..127")
    cli.round_trip_high(src, qs, "int8-row-ct")


def tiny_rows():
    w = np.zeros((4, 16), dtype=np.float32)
    w[0] = np.float32(3.67e-40) * np.array([1, -0.25, -0.5, 0.75, 0.1, 0, -1, 0.3] * 2, dtype=np.float32)
    w[1] = np.float32(2e-37) * np.linspace(-1, 1, 16, dtype=np.float32)  # normal, 127 / absmax overflows
    w[2] = np.float32(1e-45) * np.arange(16, dtype=np.float32)           # a few smallest subnormals
    w[3] = np.linspace(-1, 1, 16, dtype=np.float32)
    return w


def nearest_int8(w, scale):
    """§7.2.1 with format 1.5: (x * 2^64) * (127 / (s * 2^64)) when 127 / s overflows."""
    out = np.zeros(w.shape, dtype=np.int8)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        for r in range(w.shape[0]):
            s = np.float32(scale[r])
            if s == 0:
                continue
            inv = np.float32(127) / s
            if np.isinf(inv):
                v = (w[r] * np.float32(2 ** 64)).astype(np.float32) * (np.float32(127) / (s * np.float32(2 ** 64)))
            else:
                v = w[r] * inv
            out[r] = np.clip(np.rint(v.astype(np.float32)), -127, 127)
    return out


def test_int8_tiny_scales(cli):
    w = tiny_rows()
    src = cli.file("tiny.safetensors")
    write_safetensors(src, {"t.weight": ("F32", w)})
    qs = cli.file("tiny.qs")
    cli.pack(src, qs, "--low", "int8-row")
    low = cli.unpack(qs, cli.file("tiny_low.safetensors"), "low")
    codes, scb = low["t.weight"][1], low["t.SCB"][1]
    check(np.array_equal(codes, nearest_int8(w, scb)), "int8-row tiny-scale codes: %s" % codes[:3])
    exact = np.clip(np.rint(w.astype(np.float64) * 127 / scb[:, None].astype(np.float64)), -127, 127)
    check(np.abs(codes - exact).max() <= 1 and np.array_equal(codes[0], exact[0]), "int8-row codes are not nearest")
    check(list(codes[0, :3]) == [127, -32, -64], "row 0 codes: %s" % codes[0, :3])
    cli.round_trip_high(src, qs, "int8-row tiny scales")
    # int8-group divides by its scale: already the nearest integers of x / scale.
    cli.pack(src, qs, "--low", "int8-group:16")
    low = cli.unpack(qs, cli.file("tiny_low.safetensors"), "low")
    codes, s = low["t.weight"][1], low["t.weight_scale"][1][:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.where(s[:, None] > 0, np.clip(np.rint(w / s[:, None]), -127, 127), 0).astype(np.int8)
    check(np.array_equal(codes, want), "int8-group tiny-scale codes")


def header_minor(path):
    with open(path, "rb") as f:
        return struct.unpack("<H", f.read(12)[10:12])[0]


def test_old_chain_file(cli):
    """tests/data/tiny_chain_1.4.qs: `qstore pack tiny_chain.safetensors --low int8-row
    --low int8-group:8` by qstore 1.4 (bbde845): its int8-row level (level 1, coded on
    the non-zero predictions of int8-group:8) has tiny-scale rows coded with the rule
    before 1.5 (codes +-127). A reader applying the 1.5 rule to it decodes wrong codes
    and fails on the residual."""
    old = os.path.join(DATA, "tiny_chain_1.4.qs")
    src = os.path.join(DATA, "tiny_chain.safetensors")
    check(header_minor(old) < 5, "the old chain file must be a format 1.4 file")
    cli.round_trip_high(src, old, "old chain file")
    run([cli.path, "verify", old])
    w = to_f32(*read_safetensors(src)["t.weight"])
    level1 = cli.unpack(old, cli.file("old_level1.safetensors"), "1")["t.weight"][1]
    tiny = np.abs(w).max(axis=1) < 3e-37
    check(tiny.any() and np.all(np.abs(level1[tiny][w[tiny] != 0]) == 127), "old file: level 1 must keep +-127 codes")
    # The same chain packed now: format 1.5, nearest codes, decodes to the original.
    new = cli.file("new_chain.qs")
    cli.pack(src, new, "--low", "int8-row", "--low", "int8-group:8")
    check(header_minor(new) == 5, "a chain with tiny int8 scales must be format 1.5")
    level1 = cli.unpack(new, cli.file("new_level1.safetensors"), "1")
    check(np.array_equal(level1["t.weight"][1], nearest_int8(w, level1["t.SCB"][1])), "new chain: nearest codes")
    cli.round_trip_high(src, new, "new chain file")
    run([cli.path, "verify", new])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    cli = Cli(a.cli, a.work)
    rng = np.random.default_rng(21)
    try:
        test_gptq_fixtures(cli, rng, print)
        test_gptq_special_values(cli, rng)
        test_int8_row_ct(cli, rng)
        test_int8_tiny_scales(cli)
        test_old_chain_file(cli)
        shared = test_gptq_shared_model(cli, a.models, print)
    except Failure as e:
        print("FAILED:", e)
        return 1
    print("ok" if shared else "ok without the shared model")
    return 0 if shared else 77


if __name__ == "__main__":
    sys.exit(main())
