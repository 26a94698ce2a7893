#!/usr/bin/python3
"""Whole-model load from Python (bindings/python) against the same loads from C, in one run.

    /usr/bin/python3 bench/python_load.py [--model M.safetensors | --qs M.qs] [--rounds N] [--threads T]
                                          [--build DIR]

Packs the model with the CLI (default: maxim, the largest BF16 model of ../shared/models),
compiles bench/load_loop.c against the build tree, then alternates rounds: the C loop
(one process per round, timing itself) and the Python loop, each round = open, load
every tensor, close. Two workloads:
  high  every tensor's high precision into buffers allocated once (C: malloc'ed;
        Python: get_tensor(name, out=array)); also Python allocating its arrays;
  low   every tensor's level 0 into arrays allocated per tensor (Python: get_tensor(name, "low")).
And batched: every tensor into arrays allocated per tensor in one call (C: qs_load_high_many_e /
qs_load_low_many_e; Python: File.get_tensors(precision="high" / "low")).
Prints the median of each, wall-clock and process CPU time (all threads; the steadier
measure on a busy machine), and the ratio Python / C (the goal: within 5%)."""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.path.join(ROOT, "..", "shared", "models", "maxim-deblurring.bf16.safetensors"))
    p.add_argument("--qs", help="an existing .qs file instead of packing --model")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--threads", type=int, default=0, help="decoding threads of each open file (0: one per CPU)")
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    return p.parse_args()


def prepare(args, work):
    library = os.path.join(args.build, "libqstore.so.1")
    os.environ["QSTORE_LIBRARY"] = library
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
    qs = args.qs
    if not qs:
        qs = os.path.join(work, "model.qs")
        subprocess.run([os.path.join(args.build, "cli", "qstore"), "pack", args.model, "-o", qs], check=True,
                       stdout=subprocess.DEVNULL)
    exe = os.path.join(work, "load_loop")
    subprocess.run(["cc", "-std=c99", "-O2", "-I", os.path.join(ROOT, "include"), os.path.join(ROOT, "bench", "load_loop.c"),
                    "-o", exe, "-L", args.build, "-l:libqstore.so.1", "-Wl,-rpath," + args.build], check=True)
    return qs, exe


def c_round(exe, qs, precision, threads):
    """(wall ms, CPU ms) of one round of the C loop, after one untimed round in the same
    process (as the Python rounds run in a process that has loaded before)."""
    out = subprocess.run([exe, qs, precision, "2", str(threads)], check=True, capture_output=True,
                         text=True).stdout
    wall, cpu = out.splitlines()[1].split()
    return float(wall), float(cpu)


def timed(body):
    """(wall ms, CPU ms) of body()."""
    wall, cpu = time.perf_counter(), time.process_time()
    body()
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def python_rounds(qstore, np, qs, threads):
    """The Python loops, each returning (wall ms, CPU ms)."""
    with qstore.open(qs) as f:
        outs = {name: np.zeros(f.info(name).high_bytes, dtype=np.uint8) for name in f.keys()}
        outs = {name: out + 0 for name, out in outs.items()}  # touched, as C's memset buffers

    def high_into():
        with qstore.open(qs, num_threads=threads) as f:
            for name in f.keys():
                f.get_tensor(name, out=outs[name])

    def high_alloc():
        with qstore.open(qs, num_threads=threads) as f:
            return {name: f.get_tensor(name) for name in f.keys()}

    def low():
        with qstore.open(qs, num_threads=threads) as f:
            return {name: f.get_tensor(name, "low") for name in f.keys()}

    def high_many():
        with qstore.open(qs, num_threads=threads) as f:
            return f.get_tensors()

    def low_many():
        with qstore.open(qs, num_threads=threads) as f:
            return f.get_tensors(precision="low")

    return [lambda body=body: timed(body) for body in (high_into, high_alloc, low, high_many, low_many)]


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory() as work:
        qs, exe = prepare(args, work)
        import numpy as np
        import qstore
        loops = python_rounds(qstore, np, qs, args.threads)
        high_into, high_alloc, low, high_many, low_many = loops
        for warm_up in loops:
            warm_up()
        times = {key: [] for key in ("c_high", "py_high", "py_high_alloc", "c_low", "py_low", "c_high_many",
                                     "py_high_many", "c_low_many", "py_low_many")}
        for _ in range(args.rounds):
            times["c_high"].append(c_round(exe, qs, "high", args.threads))
            times["py_high"].append(high_into())
            times["py_high_alloc"].append(high_alloc())
            times["c_low"].append(c_round(exe, qs, "low", args.threads))
            times["py_low"].append(low())
            times["c_high_many"].append(c_round(exe, qs, "high-many", args.threads))
            times["py_high_many"].append(high_many())
            times["c_low_many"].append(c_round(exe, qs, "low-many", args.threads))
            times["py_low_many"].append(low_many())
    med = {key: [statistics.median(v[k] for v in values) for k in (0, 1)] for key, values in times.items()}
    print("%s, %d rounds, threads %s, median ms of open + every tensor + close (wall / process CPU)"
          % (os.path.basename(args.qs or args.model), args.rounds, args.threads or "one per CPU"))
    print("| load | C API wall | Python wall | Python / C wall | C API CPU | Python CPU | Python / C CPU |")
    print("|---|---|---|---|---|---|---|")
    for label, c, py in (("high, into allocated arrays", "c_high", "py_high"),
                         ("high, Python allocating its arrays", "c_high", "py_high_alloc"),
                         ("low (level 0), arrays per tensor", "c_low", "py_low"),
                         ("high, batched (get_tensors / qs_load_high_many)", "c_high_many", "py_high_many"),
                         ("low, batched (get_tensors / qs_load_low_many)", "c_low_many", "py_low_many")):
        (cw, cc), (pw, pc) = med[c], med[py]
        print("| %s | %.1f | %.1f | %.3f | %.1f | %.1f | %.3f |" % (label, cw, pw, pw / cw, cc, pc, pc / cc))


if __name__ == "__main__":
    main()
