#!/usr/bin/env python3
"""Generates the seed corpora of the file-reader fuzz targets at run time (nothing
binary committed). Usage: make_file_seeds.py QSTORE_CLI FUZZ_LOW OUT_DIR

Writes OUT_DIR/safetensors, OUT_DIR/index, OUT_DIR/gguf, OUT_DIR/reader and OUT_DIR/low:
  safetensors  hand-written files (every dtype, scalar / empty / 3-D shapes, metadata,
               padded header) and the CLI's unpack outputs (high and every low layout)
  index        model.safetensors.index.json + shards s1/s2.safetensors, joined by
               "\\n#SHARD#\\n" (fuzz_index.cpp)
  gguf         a hand-written GGUF v3 with every key/value type, arrays, a type qstore
               does not read, and the CLI's GGUF unpack outputs (F32/F16/BF16, Q8_0, Q4_0)
  reader       fuzz_reader inputs (mode byte + .qs) packed from the hand-written GGUF, and
               GGUF / safetensors containers (pack --container)
  low          scheme byte + the low file the CLI unpacks for each scheme from the
               high model of fuzz_low (QS_FUZZ_WRITE_HIGH), as safetensors and, for
               q8_0 / q4_0, as GGUF (fuzz_low.cpp)
"""
import json, os, struct, subprocess, sys, tempfile

cli, fuzz_low, out = sys.argv[1], sys.argv[2], sys.argv[3]
dirs = {k: os.path.join(out, k) for k in ("safetensors", "index", "gguf", "low", "reader")}
for d in dirs.values():
    os.makedirs(d, exist_ok=True)
SEP = b"\n#SHARD#\n"
# The order of kSchemes in fuzz_low.cpp (the scheme byte indexes it).
SCHEMES = ["int8-row", "int8-tensor", "fp8-e4m3-row", "fp8-e4m3-tensor", "fp8-e5m2-tensor", "int8-group:16",
           "q8_0", "q4_0", "fp8-e4m3-block128", "int4-asym-group:16", "uint8-asym-tensor"]


def put(kind, name, data):
    with open(os.path.join(dirs[kind], name), "wb") as f:
        f.write(data)


def vals(n, k=1.0):
    return [((i * 37) % 23 - 11) * 0.173 * k for i in range(n)]


def st_bytes(tensors, metadata=None, pad=8):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % pad)
    return struct.pack("<Q", len(h)) + h + data


f32 = lambda v: b"".join(struct.pack("<f", x) for x in v)
f16 = lambda v: b"".join(struct.pack("<e", x) for x in v)
bf16 = lambda v: b"".join(struct.pack("<f", x)[2:] for x in v)

# ---- safetensors, by hand ----
every = {
    "a.f32": ("F32", [2, 3], f32(vals(6))), "a.f16": ("F16", [3], f16(vals(3))), "a.bf16": ("BF16", [1, 2], bf16(vals(2))),
    "a.f64": ("F64", [2], struct.pack("<2d", 1.5, -2.0)), "a.i8": ("I8", [4], bytes([1, 255, 3, 128])),
    "a.u8": ("U8", [2, 2], bytes([0, 1, 2, 3])), "a.i16": ("I16", [2], struct.pack("<2h", -1, 7)),
    "a.u16": ("U16", [1], struct.pack("<H", 9)), "a.i32": ("I32", [2], struct.pack("<2i", -5, 5)),
    "a.u32": ("U32", [1], struct.pack("<I", 3)), "a.i64": ("I64", [1], struct.pack("<q", -1)),
    "a.u64": ("U64", [1], struct.pack("<Q", 2)), "a.bool": ("BOOL", [3], bytes([0, 1, 1])),
    "a.e4m3": ("F8_E4M3", [2], bytes([0x38, 0xb8])), "a.e5m2": ("F8_E5M2", [2], bytes([0x3c, 0xbc])),
}
put("safetensors", "every-dtype", st_bytes(every, {"format": "pt", "note": "seed"}))
put("safetensors", "shapes", st_bytes({"scalar": ("F32", [], f32([2.5])), "empty": ("F16", [0, 4], b""),
                                       "cube": ("BF16", [2, 2, 2], bf16(vals(8))),
                                       "w.weight": ("F32", [4, 32], f32(vals(128)))}, {"format": "pt"}))
put("safetensors", "no-metadata", st_bytes({"x": ("F32", [1], f32([1.0]))}))
put("safetensors", "empty-header", struct.pack("<Q", 2) + b"{}")
put("safetensors", "unpadded", st_bytes({"y": ("I8", [3], bytes([1, 2, 3]))}, {"k": "v"}, pad=1))

# ---- index: two shards ----
s1 = st_bytes({"l0.weight": ("F32", [2, 4], f32(vals(8))), "l0.bias": ("F32", [2], f32([0.5, -0.5]))}, {"format": "pt"})
s2 = st_bytes({"l1.weight": ("BF16", [3, 2], bf16(vals(6)))}, {"format": "pt"})
index = {"metadata": {"total_size": 48}, "weight_map": {"l0.weight": "s1.safetensors", "l0.bias": "s1.safetensors",
                                                        "l1.weight": "s2.safetensors"}}
put("index", "two-shards", json.dumps(index, indent=2).encode() + SEP + s1 + SEP + s2)
put("index", "one-shard", json.dumps({"weight_map": {"l1.weight": "s1.safetensors"}}).encode() + SEP + s2)
put("index", "shared-names", json.dumps({"metadata": {"format": "pt", "n": 3}, "weight_map": {
    "l0.weight": "s1.safetensors", "l1.weight": "s2.safetensors"}}).encode() + SEP + s1 + SEP + s1)

# ---- GGUF, by hand ----
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_bytes(kvs, tensors, alignment=32):
    """kvs: (key, type, value bytes); tensors: (name, ne, ggml type, data)."""
    h = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        h += gstr(k) + struct.pack("<I", t) + v
    off, data = 0, b""
    for name, ne, t, raw in tensors:
        h += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        h += struct.pack("<IQ", t, len(data))
        data += raw + b"\0" * (-len(raw) % alignment)
    h += b"\0" * (-len(h) % alignment)
    return h + data


kvs = [("general.alignment", 4, struct.pack("<I", 32)), ("general.architecture", 8, gstr("llama")),
       ("k.u8", 0, b"\x07"), ("k.i8", 1, b"\xf9"), ("k.u16", 2, struct.pack("<H", 9)), ("k.i16", 3, struct.pack("<h", -9)),
       ("k.i32", 5, struct.pack("<i", -3)), ("k.f32", 6, struct.pack("<f", 0.5)), ("k.bool", 7, b"\x01"),
       ("k.u64", 10, struct.pack("<Q", 1 << 40)), ("k.i64", 11, struct.pack("<q", -2)), ("k.f64", 12, struct.pack("<d", 0.25)),
       ("k.arr.u32", 9, struct.pack("<IQ", 4, 3) + struct.pack("<3I", 1, 2, 3)),
       ("k.arr.str", 9, struct.pack("<IQ", 8, 2) + gstr("a") + gstr("bc")),
       ("k.arr.arr", 9, struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 0, 2) + b"\x01\x02")]
q8 = (struct.pack("<e", 0.1) + bytes(range(32))) * 2  # Q8_0: 2 blocks of 34 bytes
q4 = (struct.pack("<e", 0.2) + bytes(range(16))) * 2  # Q4_0: 2 blocks of 18 bytes
tensors = [("t.f32", [3, 2], 0, f32(vals(6))), ("t.f16", [4], 1, f16(vals(4))), ("t.q8", [32, 2], 8, q8),
           ("t.q4", [64], 2, q4), ("t.bf16", [2], 30, bf16([1.0, -1.0])), ("t.i32", [2], 26, struct.pack("<2i", 1, -1)),
           ("t.q4k", [256], 12, bytes(144))]  # Q4_K: listed, not read by qstore
put("gguf", "every-kv-type", gguf_bytes(kvs, tensors))
put("gguf", "no-alignment-kv", gguf_bytes(kvs[1:3], tensors[:2]))
put("gguf", "align-64", gguf_bytes([("general.alignment", 4, struct.pack("<I", 64))], tensors[:3], alignment=64))

# ---- from the CLI: packs of a small model, unpacked to every layout ----
def run(*args):
    subprocess.run([cli] + list(args), check=True, capture_output=True)


with tempfile.TemporaryDirectory() as tmp:
    model = os.path.join(tmp, "m.safetensors")
    with open(model, "wb") as f:
        f.write(st_bytes({"blk.0.weight": ("F32", [4, 64], f32(vals(256))), "blk.1.weight": ("BF16", [2, 32], bf16(vals(64))),
                          "blk.2.weight": ("F16", [2, 32], f16(vals(64, 0.5))), "norm": ("F32", [4], f32(vals(4)))},
                         {"format": "pt"}))
    for scheme in SCHEMES:
        qs = os.path.join(tmp, "m.qs")
        run("pack", model, "-o", qs, "-j", "1", "--low", scheme)
        tag = scheme.replace(":", "")
        for prec, suffix in (("low", ".safetensors"), ("high", ".safetensors")):
            if prec == "high" and scheme != "int8-row":
                continue
            o = os.path.join(tmp, "u" + suffix)
            run("unpack", qs, "--precision", prec, "-o", o, "-j", "1")
            put("safetensors", f"unpack-{prec}-{tag}", open(o, "rb").read())
        for prec in (["low"] if scheme in ("q8_0", "q4_0") else []) + (["high"] if scheme == "int8-row" else []):
            o = os.path.join(tmp, "u.gguf")
            run("unpack", qs, "--precision", prec, "-o", o, "-j", "1")
            put("gguf", f"unpack-{prec}-{tag}", open(o, "rb").read())

    # ---- reader: .qs files packed from the hand-written GGUF (a gguf_layout section),
    # as fuzz_reader takes them: mode byte 1 (checksums verified) or 0, then the file ----
    g = os.path.join(tmp, "every.gguf")
    with open(g, "wb") as f:
        f.write(gguf_bytes(kvs, tensors))
    for scheme in ("int8-row", "q8_0"):
        qs = os.path.join(tmp, "g.qs")
        run("pack", g, "-o", qs, "-j", "1", "--low", scheme)
        for mode in (0, 1):
            put("reader", f"gguf-{scheme}.{mode}", bytes([mode]) + open(qs, "rb").read())
    # containers (FORMAT.md §11): a GGUF container of the hand-written GGUF, safetensors
    # containers of the small model
    c = os.path.join(tmp, "c.gguf")
    run("pack", g, "-o", c, "-j", "1", "--low", "q8_0", "--container", "gguf")
    for mode in (0, 1):
        put("reader", f"container-gguf-q8_0.{mode}", bytes([mode]) + open(c, "rb").read())
    for scheme in ("int8-row", "q4_0", "int4-asym-group:16"):
        c = os.path.join(tmp, "c.safetensors")
        run("pack", model, "-o", c, "-j", "1", "--low", scheme, "--container", "safetensors")
        for mode in (0, 1):
            put("reader", f"container-st-{scheme.replace(':', '')}.{mode}", bytes([mode]) + open(c, "rb").read())

    # ---- low: the high model of fuzz_low, packed and unpacked with each scheme ----
    # (skipped when fuzz_low was not built: run.sh with other targets only)
    high = os.path.join(tmp, "high.safetensors")
    if os.path.exists(fuzz_low):
        subprocess.run([fuzz_low, "-runs=0"], env=dict(os.environ, QS_FUZZ_WRITE_HIGH=high), check=True,
                       capture_output=True)
    for i, scheme in enumerate(SCHEMES if os.path.exists(fuzz_low) else []):
        qs = os.path.join(tmp, "h.qs")
        run("pack", high, "-o", qs, "-j", "1", "--low", scheme)
        tag = scheme.replace(":", "")
        o = os.path.join(tmp, "l.safetensors")
        run("unpack", qs, "--precision", "low", "-o", o, "-j", "1")
        low = open(o, "rb").read()
        put("low", f"{tag}", bytes([i]) + low)
        put("low", f"{tag}-raw", bytes([i | 16]) + low)
        if scheme in ("q8_0", "q4_0"):
            o = os.path.join(tmp, "l.gguf")
            run("unpack", qs, "--precision", "low", "-o", o, "-j", "1")
            put("low", f"{tag}-gguf", bytes([i]) + open(o, "rb").read())
print("seeds in", out, {k: len(os.listdir(d)) for k, d in dirs.items()})
