#!/usr/bin/python3
"""Whole-model load from Python (bindings/python) against the same loads from C, in one run.

    /usr/bin/python3 bench/python_load.py [--model M.safetensors | --qs M.qs] [--rounds N] [--build DIR]

Packs the model with the CLI (default: maxim, the largest BF16 model of ../shared/models),
compiles bench/load_loop.c against the build tree, then alternates rounds: the C loop
(one process per round, timing itself) and the Python loop, each round = open, load
every tensor, close. Two workloads:
  high  every tensor's high precision into buffers allocated once (C: malloc'ed;
        Python: get_tensor(name, out=array)); also Python allocating its arrays;
  low   every tensor's level 0 into arrays allocated per tensor (Python: get_tensor(name, "low")).
Prints the median of each and the ratio Python / C (the goal: within 5%)."""
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
    subprocess.run(["cc", "-O2", "-I", os.path.join(ROOT, "include"), os.path.join(ROOT, "bench", "load_loop.c"),
                    "-o", exe, "-L", args.build, "-l:libqstore.so.1", "-Wl,-rpath," + args.build], check=True)
    return qs, exe


def c_round(exe, qs, precision):
    """One timed round of the C loop, after one untimed round in the same process (as
    the Python rounds run in a process that has loaded before)."""
    out = subprocess.run([exe, qs, precision, "2"], check=True, capture_output=True, text=True).stdout
    return float(out.split()[1])


def python_rounds(qstore, np, qs):
    """The Python loops, each returning its time in ms."""
    with qstore.open(qs) as f:
        outs = {name: np.zeros(f.info(name).high_bytes, dtype=np.uint8) for name in f.keys()}

    def high_into():
        t = time.perf_counter()
        with qstore.open(qs) as f:
            for name in f.keys():
                f.get_tensor(name, out=outs[name])
        return (time.perf_counter() - t) * 1e3

    def high_alloc():
        t = time.perf_counter()
        with qstore.open(qs) as f:
            tensors = {name: f.get_tensor(name) for name in f.keys()}
        elapsed = (time.perf_counter() - t) * 1e3
        del tensors
        return elapsed

    def low():
        t = time.perf_counter()
        with qstore.open(qs) as f:
            tensors = {name: f.get_tensor(name, "low") for name in f.keys()}
        elapsed = (time.perf_counter() - t) * 1e3
        del tensors
        return elapsed

    return high_into, high_alloc, low


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory() as work:
        qs, exe = prepare(args, work)
        import numpy as np
        import qstore
        high_into, high_alloc, low = python_rounds(qstore, np, qs)
        for warm_up in (high_into, high_alloc, low):
            warm_up()
        times = {key: [] for key in ("c_high", "py_high", "py_high_alloc", "c_low", "py_low")}
        for _ in range(args.rounds):
            times["c_high"].append(c_round(exe, qs, "high"))
            times["py_high"].append(high_into())
            times["py_high_alloc"].append(high_alloc())
            times["c_low"].append(c_round(exe, qs, "low"))
            times["py_low"].append(low())
    med = {key: statistics.median(values) for key, values in times.items()}
    print("%s, %d rounds, median ms (open + every tensor + close)" % (os.path.basename(args.qs or args.model),
                                                                       args.rounds))
    print("| load | C API | Python | Python / C |")
    print("|---|---|---|---|")
    for label, c, py in (("high, into allocated arrays", "c_high", "py_high"),
                         ("high, Python allocating its arrays", "c_high", "py_high_alloc"),
                         ("low (level 0), arrays per tensor", "c_low", "py_low")):
        print("| %s | %.1f | %.1f | %.3f |" % (label, med[c], med[py], med[py] / med[c]))


if __name__ == "__main__":
    main()
