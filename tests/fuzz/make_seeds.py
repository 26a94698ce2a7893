#!/usr/bin/env python3
"""Generates the seed corpus of tests/fuzz: tiny safetensors models packed with every
scheme, with and without --low-raw. Usage: make_seeds.py QSTORE_CLI OUT_DIR

Each seed is one mode byte (see fuzz_reader.cpp) followed by a .qs file. For every
packed file we write:
  <name>.on   mode 0x01: checksums verified, file as packed
  <name>.off  mode 0x00: checksums not verified
  <name>.raw  mode 0x06: the zstd-compressed sections (metadata, tensor index) are
              replaced by their decompressed bytes (appended at the end of the file),
              so that mutations hit the index itself; checksums are fixed up by the
              target (mode bit 1) and part checksums are not verified (bit 0 = 0).
"""
import json, os, random, struct, subprocess, sys, tempfile

cli, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)

def f32(vals): return b"".join(struct.pack("<f", v) for v in vals)
def f16(vals): return b"".join(struct.pack("<e", v) for v in vals)
def bf16(vals): return b"".join(struct.pack("<f", v)[2:] for v in vals)

def safetensors(path, tensors):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)

def vals(n, k=1.0): return [((i * 37) % 23 - 11) * 0.173 * k for i in range(n)]

models = {
    "mix": {
        "w": ("F32", [4, 6], f32(vals(24))),
        "h": ("F16", [3, 5], f16(vals(15, 0.5))),
        "b": ("BF16", [2, 2, 3], bf16(vals(12, 2.0))),
        "bias": ("F32", [5], f32(vals(5))),          # 1-D: passthrough
        "ids": ("I32", [2, 3], struct.pack("<6i", 1, -2, 3, 4, 5, -6)),  # integer: passthrough
    },
    "one": {"x": ("F32", [2, 3], f32([0.0, -0.0, 1e-40, float("inf"), float("nan"), 3.5]))},
    "rows": {"r": ("BF16", [17, 3], bf16(vals(51)))},
    # Streams of >= 4096 bytes, so that the codes may be zstd-coded (kMinZstdInput);
    # low-entropy values keep the file small.
    "big": {"z": ("F16", [64, 80], f16([((i * 7) % 5 - 2) * 0.25 for i in range(64 * 80)]))},
    # 4096 skewed, non-repeating codes: the word-rANS stream codec (format 1.2) beats zstd.
    "skew": {"s": ("F16", [32, 128], f16(random.Random(7).choices([0.0, 0.25, -0.25, 0.5, -1.0, 2.0],
                                                                   weights=[70, 10, 8, 6, 4, 2], k=32 * 128)))},
    # Rows a multiple of 32 long: quantized by q8_0 / q4_0 / int4 too.
    "wide": {"q": ("BF16", [3, 64], bf16(vals(192))), "p": ("F32", [2, 32], f32(vals(64, 0.3)))},
}

def unzstd_sections(qs):
    """Replace ZSTD sections by their raw bytes appended at the end; checksums left stale."""
    f = bytearray(qs)
    dir_off, dir_count = struct.unpack_from("<QI", f, 24)
    for i in range(dir_count):
        e = dir_off + 48 * i
        kind, flags, level, _, off, stored, raw, _ck = struct.unpack_from("<IIIIQQQQ", f, e)
        if flags & 2:
            frame = bytes(f[off:off + stored])
            dec = subprocess.run(["zstd", "-d", "-c"], input=frame, capture_output=True, check=True).stdout
            assert len(dec) == raw
            new_off = len(f)
            f += dec
            struct.pack_into("<IIIIQQQQ", f, e, kind, flags & ~2, level, 0, new_off, raw, raw, 0)
    struct.pack_into("<Q", f, 16, len(f))
    return bytes(f)

schemes = [["int8-row"], ["int8-tensor"], ["fp8-e4m3-row"], ["fp8-e4m3-tensor"], ["fp8-e5m2-tensor"],
           ["int8-group:16"], ["q8_0"], ["q4_0"], ["fp8-e4m3-block128"], ["int4-asym-group:16"],
           ["uint8-asym-tensor"],
           ["int8-row", "q4_0"], ["fp8-e4m3-row", "int8-group:16", "int4-asym-group:32"]]  # chains, highest first
with tempfile.TemporaryDirectory() as tmp:
    for mname, tensors in models.items():
        st = os.path.join(tmp, mname + ".safetensors")
        safetensors(st, tensors)
        for scheme in schemes:
            for raw in (False, True):
                name = f"{mname}-{'+'.join(scheme).replace(':', '')}{'-raw' if raw else ''}"
                qs = os.path.join(tmp, name + ".qs")
                lows = [a for s in scheme for a in ("--low", s)]
                cmd = [cli, "pack", st, "-o", qs, "-j", "1"] + lows + (["--low-raw"] if raw else [])
                subprocess.run(cmd, check=True, capture_output=True)
                data = open(qs, "rb").read()
                if len(data) >= 4096:
                    continue  # raw codes of "big", or "big" kept passthrough (80 % 32 != 0): over the 4 KB seed budget
                for suffix, mode, body in ((".on", 1, data), (".off", 0, data), (".raw", 6, unzstd_sections(data))):
                    with open(os.path.join(out, name + suffix), "wb") as g:
                        g.write(bytes([mode]) + body)
print("seeds in", out)
