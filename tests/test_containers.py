#!/usr/bin/env python3
"""Containers (`qstore pack --container safetensors|gguf`, docs/FORMAT.md §11) through the CLI,
checked with readers written here from the safetensors and GGUF specifications (json +
struct only).

1. A generated fixture (F32/BF16/F16 matrices, a 4-D tensor, passthrough tensors) and the
   shared tinystories-656k model, packed with every scheme (and a chain) into a
   safetensors container: the file obeys the safetensors rules (8-byte header length,
   JSON header padded with spaces, known dtypes, sizes that match the shapes, tensors
   contiguous from the start of the data section, the last one ending at the end of the
   file); the low tensors are exactly those of `unpack --precision low` (names, dtypes,
   shapes, bytes); the trailing U8 tensor `__qstore__` starts at `qstore.offset` with a
   qstore header; `qstore verify --against` the input and an unpack of the high
   precision compared tensor for tensor with the input; the file cut at low_prefix_end
   still unpacks to the same low model.
2. A generated GGUF model packed into a GGUF container: `qstore.offset` (u64) points at a
   qstore header after the tensor data; unpack high gives the input byte for byte; the
   low prefix property. The same model in a safetensors container gives it back too.
3. Refusals: a GGUF container of a safetensors model or of a scheme GGUF cannot hold.
4. Damaged containers: plain safetensors/GGUF files (not a qstore container), bad
   `qstore.offset` values, the trailing tensor not at the offset, truncations, flipped
   bytes: `qstore info` / `verify` fail with a message naming the file, never a crash.
Exit status: 0 ok, 1 failure.
"""
import argparse
import json
import os
import random
import struct
import subprocess
import sys

QS_MAGIC = b"\x89QSTORE\n"
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
SCHEMES = ("int8-row", "int8-tensor", "int8-group:64", "fp8-e4m3-row", "fp8-e4m3-tensor", "fp8-e5m2-tensor",
           "fp8-e4m3-block128", "q8_0", "q4_0", "int4-asym-group:64", "uint8-asym-tensor", "gptq-int4:128",
           "int8-row-ct")


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def run(*cmd, ok=True):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if ok:
        check(r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}): {r.stderr.strip()}")
    return r


# ---- safetensors, from its specification ----

def read_safetensors(path):
    """name -> (dtype, shape, bytes), in data order, and the metadata; checks every rule
    safetensors readers apply."""
    raw = open(path, "rb").read()
    check(len(raw) >= 8, f"{path}: shorter than 8 bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    check(8 + n <= len(raw), f"{path}: header length beyond the file")
    text = raw[8:8 + n].decode("utf-8")
    check(text.startswith("{"), f"{path}: header does not start with '{{'")
    check(text.rstrip(" ").endswith("}"), f"{path}: header padded with something else than spaces")
    header = json.loads(text)
    metadata = header.pop("__metadata__", {})
    check(all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()),
          f"{path}: __metadata__ holds a value that is not a string")
    entries = []
    for name, e in header.items():
        check(set(e) == {"dtype", "shape", "data_offsets"}, f"{path}: {name}: fields {sorted(e)}")
        check(e["dtype"] in DTYPE_BYTES, f"{path}: {name}: dtype {e['dtype']}")
        begin, end = e["data_offsets"]
        count = 1
        for d in e["shape"]:
            check(isinstance(d, int) and d >= 0, f"{path}: {name}: shape {e['shape']}")
            count *= d
        check(end - begin == count * DTYPE_BYTES[e["dtype"]], f"{path}: {name}: size does not match its shape")
        entries.append((begin, end, name, e))
    entries.sort()
    pos = 0
    for begin, end, name, _ in entries:
        check(begin == pos, f"{path}: {name} starts at {begin}, the previous tensor ends at {pos} (gap or overlap)")
        pos = end
    check(8 + n + pos == len(raw), f"{path}: the last tensor ends at {8 + n + pos}, the file at {len(raw)}")
    data = 8 + n
    tensors = {name: (e["dtype"], e["shape"], raw[data + b:data + end]) for b, end, name, e in entries}
    order = [name for _, _, name, _ in entries]
    return tensors, metadata, order, data


def write_safetensors(path, tensors, metadata):
    header, blob = {"__metadata__": metadata}, b""
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blob)


def values(rng, n, scale):
    return [rng.gauss(0.0, scale) for _ in range(n)]


def f32(v):
    return struct.pack(f"<{len(v)}f", *v)


def bf16(v):
    return b"".join(struct.pack("<f", x)[2:] for x in v)  # truncated: any bits are a valid input


def f16(v):
    return struct.pack(f"<{len(v)}e", *v)


def fixture(path):
    rng = random.Random(21)
    specials = [0.0, -0.0, 1e-42, -3.5e-40, 65504.0, float("inf"), float("nan")]
    mlp = values(rng, 64 * 256, 0.02)
    mlp[:len(specials)] = specials
    tensors = {
        "model.layers.0.mlp.weight": ("F32", [64, 256], f32(mlp)),
        "model.layers.0.attn.weight": ("BF16", [130, 256], bf16(values(rng, 130 * 256, 0.05))),
        "embedding": ("F16", [48, 128], f16(values(rng, 48 * 128, 1.0))),
        "conv.weight": ("F32", [8, 4, 3, 32], f32(values(rng, 8 * 4 * 3 * 32, 0.1))),
        "model.norm.weight": ("F32", [64], f32(values(rng, 64, 1.0))),
        "positions": ("I32", [5], struct.pack("<5i", 0, 1, 2, 3, -4)),
    }
    write_safetensors(path, tensors, {"format": "pt", "note": "generated by tests/test_containers.py"})


# ---- GGUF, from its specification (only what the fixture needs) ----

def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_model(path):
    """A GGUF v3 file: two key/values, an F32 matrix, an F16 matrix, an F32 vector."""
    rng = random.Random(7)
    tensors = [("output.weight", 0, [64, 8], f32(values(rng, 512, 0.1))),
               ("blk.0.v.weight", 1, [32, 4], f16(values(rng, 128, 0.1))),
               ("norm.weight", 0, [8], f32(values(rng, 8, 1.0)))]
    kv = gguf_string("general.architecture") + struct.pack("<I", 8) + gguf_string("llama")
    kv += gguf_string("general.name") + struct.pack("<I", 8) + gguf_string("fixture")
    infos, data = b"", b""
    for name, ttype, ne, blob in tensors:
        data += bytes(-len(data) % 32)
        infos += gguf_string(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        infos += struct.pack("<IQ", ttype, len(data))
        data += blob
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 2) + kv + infos
    head += bytes(-len(head) % 32)
    with open(path, "wb") as f:
        f.write(head + data + bytes(-len(data) % 32))


def gguf_u64_value(raw, key):
    """Offset of the value of u64 key `key` in a GGUF file's bytes."""
    k = gguf_string(key) + struct.pack("<I", 10)
    i = raw.find(k)
    check(i > 0, f"no u64 key {key}")
    return i + len(k)


# ---- the checks ----

def check_safetensors_container(args, model, scheme_args, tag):
    out = os.path.join(args.work, f"{tag}.container.safetensors")
    run(args.cli, "pack", model, *scheme_args, "--container", "safetensors", "-o", out, "-j", "1")
    tensors, metadata, order, data = read_safetensors(out)
    raw = open(out, "rb").read()
    offset = int(metadata["qstore.offset"])
    check(metadata["qstore.low_scheme"] == scheme_args[-1], f"{tag}: qstore.low_scheme {metadata['qstore.low_scheme']}")
    check(order[-1] == "__qstore__", f"{tag}: the last tensor is {order[-1]}, not __qstore__")
    dtype, shape, blob = tensors.pop("__qstore__")
    check(dtype == "U8" and shape == [len(raw) - offset] and raw[offset:offset + 8] == QS_MAGIC,
          f"{tag}: __qstore__ ({dtype} {shape}) does not span the qstore part from qstore.offset {offset}")
    check(data + sum(len(t[2]) for t in tensors.values()) == offset, f"{tag}: the low tensors do not end at qstore.offset")
    if scheme_args[-1].startswith("gptq-int4:"):
        check_group_index(tensors, int(scheme_args[-1].split(":")[1]), tag)
    low = os.path.join(args.work, f"{tag}.low.safetensors")
    run(args.cli, "unpack", out, "--precision", "low", "-o", low)
    expected, expected_meta, _, _ = read_safetensors(low)
    check(sorted(tensors) == sorted(expected), f"{tag}: low tensors {sorted(tensors)} != unpack's {sorted(expected)}")
    for name, t in expected.items():
        check(tensors[name] == t, f"{tag}: tensor {name} differs from unpack --precision low's")
    for k, v in expected_meta.items():
        check(metadata.get(k) == v, f"{tag}: __metadata__ {k} differs from the model's")
    run(args.cli, "verify", out, "--against", model)
    high = os.path.join(args.work, f"{tag}.high.safetensors")
    run(args.cli, "unpack", out, "--precision", "high", "-o", high)
    original, _, _, _ = read_safetensors(model)
    check(read_safetensors(high)[0] == original, f"{tag}: unpack --precision high differs from the model")
    info = json.loads(run(args.cli, "info", out, "--json").stdout)
    check(info["container"] == "safetensors" and info["header_offset"] == offset, f"{tag}: info says {info['container']}")
    check_low_prefix(args, out, info["low_prefix_end"], low, tag)
    print(f"ok: {tag}: {len(tensors)} low tensors as unpack writes them, __qstore__ from {offset} to "
          f"{len(raw)}; high tensor for tensor")
    return out


def check_group_index(tensors, group, tag):
    """A GPTQ checkpoint: each P.qweight I32 [cols/8, rows] comes with P.qzeros I32
    [groups, rows/8] and P.g_idx I32 [cols] holding c // group (AutoGPTQ, format v1)."""
    quantized = [n[:-len(".qweight")] for n in tensors if n.endswith(".qweight")]
    check(quantized, f"{tag}: no GPTQ tensor")
    for p in quantized:
        words, rows = tensors[p + ".qweight"][1]
        cols, groups = 8 * words, -(-8 * words // group)
        check(tensors[p + ".qweight"][0] == "I32", f"{tag}: {p}.qweight is {tensors[p + '.qweight'][0]}")
        check(tensors[p + ".qzeros"][:2] == ("I32", [groups, -(-rows // 8)]),
              f"{tag}: {p}.qzeros {tensors[p + '.qzeros'][:2]}")
        check(tensors[p + ".scales"][:2] == ("F16", [groups, rows]), f"{tag}: {p}.scales {tensors[p + '.scales'][:2]}")
        want = struct.pack(f"<{cols}i", *(c // group for c in range(cols)))
        check(p + ".g_idx" in tensors and tensors[p + ".g_idx"] == ("I32", [cols], want), f"{tag}: {p}.g_idx")


def check_low_prefix(args, path, end, low, tag):
    """The container cut at low_prefix_end still gives the low model (and not the high)."""
    cut = os.path.join(args.work, f"{tag}.prefix" + os.path.splitext(path)[1])
    with open(cut, "wb") as f:
        f.write(open(path, "rb").read()[:end])
    again = os.path.join(args.work, f"{tag}.prefix-low" + os.path.splitext(path)[1])
    run(args.cli, "unpack", cut, "--precision", "low", "-o", again)
    check(open(again, "rb").read() == open(low, "rb").read(), f"{tag}: the low prefix gives another low model")
    r = run(args.cli, "unpack", cut, "--precision", "high", "-o", again + ".high", ok=False)
    check(r.returncode == 1 and "truncated" in r.stderr, f"{tag}: the low prefix: high unpack {r.stderr.strip()}")


def check_gguf_container(args):
    model = os.path.join(args.work, "fixture.gguf")
    gguf_model(model)
    out = os.path.join(args.work, "fixture.container.gguf")
    run(args.cli, "pack", model, "--low", "q8_0", "--container", "gguf", "-o", out, "-j", "1")
    raw = open(out, "rb").read()
    (offset,) = struct.unpack("<Q", raw[gguf_u64_value(raw, "qstore.offset"):][:8])
    check(raw[offset:offset + 8] == QS_MAGIC, f"GGUF container: qstore.offset {offset} is not a qstore header")
    high = os.path.join(args.work, "fixture.high.gguf")
    run(args.cli, "unpack", out, "--precision", "high", "-o", high)
    check(open(high, "rb").read() == open(model, "rb").read(), "GGUF container: unpack high is not the input")
    low = os.path.join(args.work, "fixture.low.gguf")
    run(args.cli, "unpack", out, "--precision", "low", "-o", low)
    info = json.loads(run(args.cli, "info", out, "--json").stdout)
    check(info["container"] == "gguf" and info["header_offset"] == offset, f"GGUF container: info {info['container']}")
    check_low_prefix(args, out, info["low_prefix_end"], low, "fixture-gguf")
    # The same GGUF model in a safetensors container (its low model in safetensors layouts).
    st = os.path.join(args.work, "fixture-gguf.container.safetensors")
    run(args.cli, "pack", model, "--low", "int8-row", "--container", "safetensors", "-o", st, "-j", "1")
    tensors, _, order, _ = read_safetensors(st)
    check(order[-1] == "__qstore__" and "output.SCB" in tensors, f"{st}: tensors {order}")
    run(args.cli, "verify", st, "--against", model)
    run(args.cli, "unpack", st, "--precision", "high", "-o", high)
    check(open(high, "rb").read() == open(model, "rb").read(), "GGUF model in a safetensors container: high differs")
    print(f"ok: GGUF container of a generated GGUF: qstore header at {offset}, high byte for byte")
    return model, out


def check_refusals(args, st_model, gguf_model_path):
    cases = [
        ((st_model, "--low", "q8_0", "--container", "gguf"), "GGUF container holds a model packed from a GGUF file"),
        ((gguf_model_path, "--low", "fp8-e4m3-row", "--container", "gguf"), "holds q8_0 or q4_0"),
        ((gguf_model_path, "--low", "q8_0", "--low", "q4_0", "--llama-mix"), "--low q4_0 alone"),
    ]
    for cmd, message in cases:
        out = os.path.join(args.work, "refused.out")
        r = run(args.cli, "pack", *cmd, "-o", out, ok=False)
        check(r.returncode == 1 and message in r.stderr and not os.path.exists(out),
              f"pack {' '.join(cmd)}: {r.returncode} {r.stderr.strip()}")
    print(f"ok: {len(cases)} impossible containers refused with a clear error, no output")


def expect_error(args, path, command, words, what):
    r = run(args.cli, command, path, ok=False)
    check(r.returncode == 1, f"{what}: qstore {command} exited {r.returncode} (crash?): {r.stderr.strip()}")
    check(path in r.stderr and all(w in r.stderr for w in words), f"{what}: message {r.stderr.strip()!r}")


def edited_header(raw, edit):
    """The safetensors file with its JSON header edited, in the same room (spaces pad it)."""
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    edit(header)
    text = json.dumps(header, separators=(",", ":")).encode()
    check(len(text) <= n, "edited header longer than the original")
    return raw[:8] + text + b" " * (n - len(text)) + raw[8 + n:]


def damaged(args, raw, name):
    path = os.path.join(args.work, name)
    with open(path, "wb") as f:
        f.write(raw)
    return path


def check_damage(args, st_model, st_container, gptq_container, gguf_model_path, gguf_container):
    expect_error(args, st_model, "info", ["not a qstore container"], "plain safetensors")
    expect_error(args, gguf_model_path, "info", ["not a qstore container"], "plain GGUF")
    raw = open(st_container, "rb").read()
    _, metadata, _, data = read_safetensors(st_container)
    offset = int(metadata["qstore.offset"])
    cases = [
        (edited_header(raw, lambda h: h["__metadata__"].update({"qstore.offset": str(10 ** 12)})), "info",
         ["qstore.offset", "truncated"]),
        (edited_header(raw, lambda h: (h["__metadata__"].update({"qstore.offset": str(data + 64)}),
                                       h["__qstore__"]["data_offsets"].__setitem__(0, 64))), "info",
         ["does not point at a qstore header"]),
        (edited_header(raw, lambda h: h["__metadata__"].update({"qstore.offset": str(data + 64)})), "info",
         ["__qstore__ does not start at qstore.offset"]),
        (edited_header(raw, lambda h: h["__metadata__"].update({"qstore.offset": "12ab"})), "info",
         ["not a decimal number"]),
        (edited_header(raw, lambda h: h["__metadata__"].update({"qstore.offset": 5})), "info", ["not a string"]),
        (edited_header(raw, lambda h: h["__qstore__"]["data_offsets"].__setitem__(0, offset - data - 1)), "info",
         ["__qstore__ does not start at qstore.offset"]),
        (raw[:offset + 20], "info", ["truncated"]),
        (raw[:offset - 5], "info", ["truncated"]),
        (raw[:-100], "verify", []),
        (raw[:data + 3] + bytes([raw[data + 3] ^ 1]) + raw[data + 4:], "verify", ["checksum"]),
        (raw[:-40] + bytes([raw[-40] ^ 1]) + raw[-39:], "verify", []),
    ]
    # A GPTQ container's g_idx, which no index record references, is in the level-0
    # section's checksum.
    qraw = open(gptq_container, "rb").read()
    in_g_idx = int(read_safetensors(gptq_container)[1]["qstore.offset"]) - 10
    cases.append((qraw[:in_g_idx] + bytes([qraw[in_g_idx] ^ 1]) + qraw[in_g_idx + 1:], "verify", ["checksum"]))
    graw = open(gguf_container, "rb").read()
    at = gguf_u64_value(graw, "qstore.offset")
    for value, words in ((len(graw) + 4096, ["qstore.offset"]), (0, ["qstore.offset"]), (8, ["qstore.offset"]),
                         (len(graw) - 10, ["truncated"])):
        cases.append((graw[:at] + struct.pack("<Q", value) + graw[at + 8:], "info", words))
    cases.append((graw[:at - 20] + bytes([graw[at - 20] ^ 0x40]) + graw[at - 19:], "info", []))  # in the key name
    for i, (blob, command, words) in enumerate(cases):
        expect_error(args, damaged(args, blob, f"damaged-{i}.bin"), command, words, f"damage case {i}")
    print(f"ok: {len(cases) + 2} damaged or plain files: a clear error naming the file, no crash")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cli", required=True)
    p.add_argument("--models", help="the shared models folder (tinystories-656k.bf16.safetensors)")
    p.add_argument("--work", required=True)
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    try:
        model = os.path.join(args.work, "fixture.safetensors")
        fixture(model)
        containers = {}
        for scheme in SCHEMES:
            tag = "fixture-" + scheme.replace(":", "")
            containers[scheme] = check_safetensors_container(args, model, ("--low", scheme), tag)
        check_safetensors_container(args, model, ("--low", "int8-row", "--low", "q4_0"), "fixture-chain")
        shared = os.path.join(args.models or "", "tinystories-656k.bf16.safetensors")
        if args.models and os.path.isfile(shared):
            for scheme in SCHEMES:
                check_safetensors_container(args, shared, ("--low", scheme), "tinystories-" + scheme.replace(":", ""))
        else:
            print(f"note: no {shared}: the shared model's containers were not checked")
        gguf_model_path, gguf_container = check_gguf_container(args)
        check_refusals(args, model, gguf_model_path)
        check_damage(args, model, containers["int8-row"], containers["gptq-int4:128"], gguf_model_path, gguf_container)
    except Failure as e:
        print(f"FAILED: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
