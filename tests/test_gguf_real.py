#!/usr/bin/env python3
"""The real GGUF model of ../shared/models/gguf (stories260K, made by llama.cpp's tools)
through the qstore CLI, and through llama.cpp itself.

--mode files:
  1. the f32, f16 and bf16 files: `qstore pack FILE.gguf` (int8-row, and q8_0 / q4_0
     for f32, and the chain q8_0 > q4_0), `qstore verify --against FILE.gguf`, `qstore unpack --precision high -o X.gguf`: X has the
     sha256 of the input (and of SHA256SUMS);
  2. `unpack --precision low -o X.gguf` of the f32 file packed with q8_0 / q4_0,
     compared with llama-quantize's -q8_0 / -q4_0 files by an independent GGUF parser:
     the same key/values (typed), the same tensor names, dimensions and order of
     infos; every tensor of the same type holds the same bytes; the tensors that
     differ are exactly the documented ones (ffn_down: F32 here, F16 there; with q4_0
     output.weight: Q4_0 here, Q8_0 there); with `--llama-mix` (q8_0, and the chain
     `--low q8_0 --low q4_0` for Q4_0) every tensor holds llama-quantize's bytes.
  3. the GGUF containers (`pack --low q8_0|q4_0 [--llama-mix] --container gguf` of the
     f32, f16 and bf16 files): the qstore.offset (u64) and qstore.low_scheme keys; the
     file up to qstore.offset, with those two pairs left out of its header, is byte for
     byte the GGUF `unpack --precision low` writes of it; a qstore header at
     qstore.offset; `unpack --precision high` gives the input's sha256; from f32, every
     tensor holds llama-quantize's bytes except the documented ones (ffn_down F32 here,
     F16 there; without --llama-mix, output.weight Q4_0 here, Q8_0 there).
--mode runtime: llama.cpp (node-llama-cpp 3.21.1's prebuilt CPU binaries in
  tests/runtime/node_modules, installed by .ci/install-deps.sh) generates 100 greedy
  tokens from each file: the shared f32/f16/bf16 files give the text of the shared
  llama-cli runs (greedy/*.llama-cli.txt); every GGUF qstore writes back at high
  precision gives the tokens of its original; qstore's q8_0 GGUF, with and without
  --llama-mix, gives the tokens of llama-quantize's q8_0 file, and its --llama-mix Q4_0
  GGUF those of llama-quantize's q4_0 file; its plain q4_0 GGUF loads and generates 100
  tokens. The GGUF containers (`pack --container gguf`): q8_0 ones give the tokens of
  llama-quantize's q8_0 file, and every container those of its `unpack --precision low`;
  the f32 q4_0 --llama-mix container unpacked with --llama-mix gives those of
  llama-quantize's q4_0 file. A missing runtime is a failure, not a skip.
Exit status: 0 ok, 1 failure, 77 skipped (no shared GGUF folder; CI makes that a failure).
"""
import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys

HIGH = ("f32", "f16", "bf16")
# ggml type: (elements per block, bytes per block), for the types of these files.
BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 30: (1, 2)}
SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class Gguf:
    """An independent GGUF reader: typed key/values, tensor infos, tensor bytes."""

    def __init__(self, path):
        self.raw = open(path, "rb").read()
        self.pos = 0
        check(self.take(4) == b"GGUF", f"{path}: no GGUF magic")
        self.version, n_tensors, n_kv = struct.unpack("<IQQ", self.take(20))
        self.kvs = []
        self.kv_bytes = []  # each pair's bytes, as in the file
        for _ in range(n_kv):
            start = self.pos
            key = self.string()
            (vtype,) = struct.unpack("<I", self.take(4))
            self.kvs.append((key, vtype, self.value(vtype)))
            self.kv_bytes.append(self.raw[start:self.pos])
        self.infos_begin = self.pos
        self.infos = []
        for _ in range(n_tensors):
            name = self.string()
            (n_dims,) = struct.unpack("<I", self.take(4))
            ne = struct.unpack(f"<{n_dims}Q", self.take(8 * n_dims))
            ttype, offset = struct.unpack("<IQ", self.take(12))
            self.infos.append((name, ne, ttype, offset))
        self.infos_end = self.pos
        self.alignment = dict((k, v) for k, _, v in self.kvs).get("general.alignment", 32)
        self.data = (self.pos + self.alignment - 1) // self.alignment * self.alignment

    def take(self, n):
        check(self.pos + n <= len(self.raw), "GGUF file ends early")
        b = self.raw[self.pos:self.pos + n]
        self.pos += n
        return b

    def string(self):
        (n,) = struct.unpack("<Q", self.take(8))
        return self.take(n).decode("utf-8")

    def value(self, vtype):
        if vtype in SCALAR:
            fmt = SCALAR[vtype]
            return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
        if vtype == 8:
            return self.string()
        check(vtype == 9, f"unknown GGUF value type {vtype}")
        etype, count = struct.unpack("<IQ", self.take(12))
        return (etype, [self.value(etype) for _ in range(count)])

    def tensor(self, name):
        for n, ne, ttype, offset in self.infos:
            if n == name:
                elements = 1
                for d in ne:
                    elements *= d
                per_block, block_bytes = BLOCKS[ttype]
                start = self.data + offset
                return ttype, self.raw[start:start + elements // per_block * block_bytes]
        raise Failure(f"no tensor {name}")


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def run(args, *cmd):
    r = subprocess.run(list(cmd), capture_output=True, text=True)
    check(r.returncode == 0, f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def model(args, precision):
    return os.path.join(args.models, f"stories260K-{precision}.gguf")


def packed(args, precision, *schemes):
    qs = os.path.join(args.work, f"{precision}-{'-'.join(schemes)}.qs")
    lows = [a for s in schemes for a in ("--low", s)]
    run(args, args.cli, "pack", model(args, precision), *lows, "-o", qs)
    run(args, args.cli, "verify", qs, "--against", model(args, precision))
    return qs


def unpacked(args, qs, level, *options):
    out = qs[:-3] + f"-{level}{''.join(options)}.gguf"
    run(args, args.cli, "unpack", qs, "--precision", level, *options, "-o", out)
    return out


def mixed(args, scheme):
    """llama-quantize's type mix for `scheme` (q8_0, or q4_0 through the chain)."""
    qs = packed(args, "f32", "q8_0") if scheme == "q8_0" else packed(args, "f32", "q8_0", "q4_0")
    return unpacked(args, qs, "low", "--llama-mix")


def check_high_round_trips(args):
    sums = {}
    for line in open(os.path.join(args.models, "SHA256SUMS")):
        digest, name = line.split()
        sums[name.lstrip("*")] = digest
    for precision in HIGH:
        extra = (("q8_0",), ("q4_0",), ("q8_0", "q4_0")) if precision == "f32" else ()
        for schemes in (("int8-row",),) + extra:
            scheme = " > ".join(schemes)
            out = unpacked(args, packed(args, precision, *schemes), "high")
            name = os.path.basename(model(args, precision))
            check(sha256(out) == sha256(model(args, precision)) == sums[name],
                  f"{out}: sha256 differs from {name}")
            print(f"ok: {name} packed with {scheme}, unpacked high: same sha256")


def expected_differences(scheme, name):
    """The tensors documented to differ from llama-quantize's file, and their types."""
    if name.endswith("ffn_down.weight"):
        return (0, 1)  # 172 columns: no Q8_0/Q4_0 block fits; F32 here, F16 in llama-quantize's
    if scheme == "q4_0" and name == "output.weight":
        return (2, 8)  # llama-quantize's mix: Q8_0 (its Q6_K fallback); one scheme here
    return None


def check_low_against_llama_quantize(args):
    for scheme in ("q8_0", "q4_0"):
        ours = Gguf(unpacked(args, packed(args, "f32", scheme), "low"))
        theirs = Gguf(model(args, scheme))
        check(ours.kvs == theirs.kvs, f"{scheme}: key/values differ from llama-quantize's")
        check(sorted(i[:2] for i in ours.infos) == sorted(i[:2] for i in theirs.infos),
              f"{scheme}: tensor names or dimensions differ")
        original = [i[0] for i in Gguf(model(args, "f32")).infos]
        check([i[0] for i in ours.infos] == original, f"{scheme}: tensor order is not the original's")
        same = 0
        for name, _, _, _ in ours.infos:
            (ta, a), (tb, b) = ours.tensor(name), theirs.tensor(name)
            if ta == tb:
                check(a == b, f"{scheme}: tensor {name} ({ta}) differs from llama-quantize's")
                same += 1
            else:
                check(expected_differences(scheme, name) == (ta, tb),
                      f"{scheme}: tensor {name} is type {ta}, llama-quantize's {tb}")
        print(f"ok: {scheme}: {same} of {len(ours.infos)} tensors byte-identical to llama-quantize's, "
              f"the others as documented")
        mix = Gguf(mixed(args, scheme))
        check(mix.kvs == theirs.kvs, f"{scheme} --llama-mix: key/values differ from llama-quantize's")
        check([i[:2] for i in mix.infos] == [i[:2] for i in ours.infos], f"{scheme} --llama-mix: other tensors")
        for name, _, _, _ in mix.infos:
            check(mix.tensor(name) == theirs.tensor(name), f"{scheme} --llama-mix: tensor {name} differs")
        print(f"ok: {scheme} --llama-mix: all {len(mix.infos)} tensors byte-identical to llama-quantize's")


QS_MAGIC = b"\x89QSTORE\n"
# (scheme, pack options) of the GGUF containers made from each high file.
CONTAINERS = (("q8_0", ()), ("q4_0", ()), ("q4_0", ("--llama-mix",)))


def container(args, precision, scheme, *options):
    """`qstore pack FILE.gguf --low SCHEME --container gguf`, verified against FILE."""
    out = os.path.join(args.work, f"{precision}-{scheme}{''.join(options)}.container.gguf")
    run(args, args.cli, "pack", model(args, precision), "--low", scheme, *options, "--container", "gguf", "-o", out)
    run(args, args.cli, "verify", out, "--against", model(args, precision))
    return out


def unpacked_container(args, path, level, *options):
    out = path[:-len(".gguf")] + f"-{level}{''.join(options)}.gguf"
    run(args, args.cli, "unpack", path, "--precision", level, *options, "-o", out)
    return out


def without_qstore_keys(g, end):
    """The container's bytes up to `end` (its qstore.offset) with the qstore.* pairs left
    out of the header: the GGUF header rebuilt from the kept pairs' own bytes and the
    tensor infos', padded to the alignment, then the data section as it is."""
    kept = [b for (k, _, _), b in zip(g.kvs, g.kv_bytes) if not k.startswith("qstore.")]
    head = b"GGUF" + struct.pack("<IQQ", g.version, len(g.infos), len(kept)) + b"".join(kept)
    head += g.raw[g.infos_begin:g.infos_end]
    head += bytes(-len(head) % g.alignment)
    return head + g.raw[g.data:end]


def check_gguf_containers(args):
    for precision in HIGH:
        for scheme, options in CONTAINERS:
            what = f"{precision} --low {scheme} {' '.join(options)} --container gguf"
            path = container(args, precision, scheme, *options)
            g = Gguf(path)
            kv = dict((k, (t, v)) for k, t, v in g.kvs)
            check(kv.get("qstore.low_scheme") == (8, scheme), f"{what}: qstore.low_scheme is {kv.get('qstore.low_scheme')}")
            check(kv.get("qstore.offset", (None,))[0] == 10, f"{what}: no u64 qstore.offset")
            offset = kv["qstore.offset"][1]
            check(g.raw[offset:offset + 8] == QS_MAGIC, f"{what}: qstore.offset {offset} is not a qstore header")
            low = open(unpacked_container(args, path, "low"), "rb").read()
            check(without_qstore_keys(g, offset) == low,
                  f"{what}: the container up to qstore.offset, without its qstore.* keys, is not unpack's low GGUF")
            high = unpacked_container(args, path, "high")
            check(sha256(high) == sha256(model(args, precision)), f"{what}: unpack --precision high: other sha256")
            if precision == "f32":
                theirs = Gguf(model(args, scheme))
                for name, _, _, _ in theirs.infos:
                    (ta, a), (tb, b) = g.tensor(name), theirs.tensor(name)
                    mix_differs = scheme == "q4_0" and not options and name == "output.weight"
                    expected = (ta, tb) == (0, 1) and name.endswith("ffn_down.weight") or mix_differs
                    check((ta, a) == (tb, b) or expected, f"{what}: tensor {name} differs from llama-quantize's")
            print(f"ok: {what}: a GGUF of the low model (unpack's low GGUF + 2 qstore.* keys) followed by the "
                  f"qstore part at {offset}; unpack high gives the input's sha256")


def greedy(args, path):
    script = os.path.join(args.runtime, "greedy.mjs")
    r = subprocess.run(["node", script, path], capture_output=True, text=True, cwd=args.runtime)
    check(r.returncode == 0, f"llama.cpp could not run {path}: {r.stderr.strip()[-2000:]}")
    result = json.loads(r.stdout.strip().splitlines()[-1])
    check(len(result["tokens"]) == 100, f"{path}: {len(result['tokens'])} tokens generated")
    return result


def check_runtime(args):
    check(os.path.isdir(os.path.join(args.runtime, "node_modules", "node-llama-cpp")),
          f"llama.cpp runtime missing: {args.runtime}/node_modules (run .ci/install-deps.sh)")
    for precision in HIGH:
        original = greedy(args, model(args, precision))
        text = open(os.path.join(args.models, "greedy", f"{precision}.llama-cli.txt")).read()
        check((" Once upon a time" + original["text"]).strip() == text.strip(),
              f"{precision}: llama.cpp's text differs from the shared llama-cli output")
        back = greedy(args, unpacked(args, packed(args, precision, "int8-row"), "high"))
        check(back["tokens"] == original["tokens"], f"{precision}: qstore's high GGUF gives other tokens")
        print(f"ok: {precision}: the original and qstore's high GGUF give llama-cli's greedy text")
    q8 = greedy(args, model(args, "q8_0"))["tokens"]
    check(greedy(args, unpacked(args, packed(args, "f32", "q8_0"), "low"))["tokens"] == q8,
          "q8_0: qstore's low GGUF gives other tokens than llama-quantize's file")
    check(greedy(args, mixed(args, "q8_0"))["tokens"] == q8,
          "q8_0 --llama-mix: qstore's low GGUF gives other tokens than llama-quantize's file")
    print("ok: q8_0: qstore's low GGUFs give the tokens of llama-quantize's q8_0 file")
    check(greedy(args, mixed(args, "q4_0"))["tokens"] == greedy(args, model(args, "q4_0"))["tokens"],
          "q4_0 --llama-mix: qstore's low GGUF gives other tokens than llama-quantize's file")
    print("ok: q4_0 --llama-mix: qstore's low GGUF gives the tokens of llama-quantize's q4_0 file")
    greedy(args, unpacked(args, packed(args, "f32", "q4_0"), "low"))
    print("ok: q4_0: qstore's low GGUF loads and generates 100 tokens")
    check_container_runtime(args, q8)


def check_container_runtime(args, q8):
    """llama.cpp runs the GGUF containers as they are."""
    for precision in HIGH:
        path = container(args, precision, "q8_0")
        tokens = greedy(args, path)["tokens"]
        check(tokens == q8, f"{precision} q8_0 container: other tokens than llama-quantize's q8_0 file")
        check(greedy(args, unpacked_container(args, path, "low"))["tokens"] == tokens,
              f"{precision} q8_0 container: other tokens than its unpack --precision low")
        print(f"ok: {precision}: llama.cpp runs the q8_0 GGUF container: the tokens of llama-quantize's q8_0 file")
    q4 = greedy(args, model(args, "q4_0"))["tokens"]
    for precision in HIGH:
        path = container(args, precision, "q4_0", "--llama-mix")
        tokens = greedy(args, path)["tokens"]
        check(greedy(args, unpacked_container(args, path, "low"))["tokens"] == tokens,
              f"{precision} q4_0 --llama-mix container: other tokens than its unpack --precision low")
        if precision == "f32":  # unpack's --llama-mix adds the one difference left: ffn_down in F16
            check(greedy(args, unpacked_container(args, path, "low", "--llama-mix"))["tokens"] == q4,
                  "f32 q4_0 --llama-mix container, unpacked low --llama-mix: other tokens than llama-quantize's")
        print(f"ok: {precision}: llama.cpp runs the q4_0 --llama-mix GGUF container (tokens of its low unpack)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cli", required=True)
    p.add_argument("--models", required=True, help="the shared models/gguf folder")
    p.add_argument("--runtime", required=True, help="tests/runtime (greedy.mjs, node_modules)")
    p.add_argument("--work", required=True)
    p.add_argument("--mode", choices=("files", "runtime"), required=True)
    args = p.parse_args()
    for name in ("cli", "models", "runtime", "work"):  # node runs in args.runtime
        setattr(args, name, os.path.abspath(getattr(args, name)))
    if not os.path.isfile(model(args, "f32")):
        print(f"SKIPPED: no {model(args, 'f32')}")
        return 77
    os.makedirs(args.work, exist_ok=True)
    try:
        if args.mode == "files":
            check_high_round_trips(args)
            check_low_against_llama_quantize(args)
            check_gguf_containers(args)
        else:
            check_runtime(args)
    except Failure as e:
        print(f"FAILED: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
