#!/usr/bin/python3
"""The Python binding's whole-model load (bench/bindings/run.sh):

    load_all.py FILE.qs PASSES new|reuse|many

After one untimed pass (none when PASSES is 0: then the open and one pass are timed,
the first loads of a fresh process), each pass loads every tensor, high precision then
low, and prints "high WALL CPU" and "low WALL CPU" (seconds), as load_all.c does with the C API.
new: every tensor into new arrays (get_tensor(name), get_tensor(name, "low")); reuse:
the high precision into one array made once for the largest tensor (get_tensor(name,
out=a view of it)), the low one as in new (the package has no low load into caller
arrays); many: all tensors in one call (get_tensors(), get_tensors(precision="low")).
The package is imported from the source tree, the library from QSTORE_LIBRARY or the
usual places (bindings/python/README.md)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "bindings", "python"))
import numpy as np  # noqa: E402
import qstore  # noqa: E402


def one_pass(f, names, high, mode, outs):
    if mode == "many":
        return f.get_tensors(precision="high" if high else "low")
    if high and mode == "reuse":
        return [f.get_tensor(name, out=outs[name]) for name in names]  # views of one buffer
    return [f.get_tensor(name, "high" if high else "low") for name in names]


def report(what, t0):
    """Prints "WHAT WALL CPU": the seconds since t0 (perf_counter, process_time)."""
    print("%s %.6f %.6f" % (what, time.perf_counter() - t0[0], time.process_time() - t0[1]))


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("new", "reuse", "many"):
        sys.stderr.write("usage: load_all.py FILE.qs PASSES new|reuse|many\n")
        return 2
    passes, mode = int(sys.argv[2]), sys.argv[3]
    t0 = (time.perf_counter(), time.process_time())
    with qstore.open(sys.argv[1]) as f:
        if passes == 0:
            report("open", t0)
        names = f.keys()
        outs = {}
        if mode == "reuse":  # one buffer for the largest tensor, as load_all.c's
            sizes = {name: f.info(name).high_bytes for name in names}
            buffer = np.empty(max(sizes.values(), default=1), dtype=np.uint8)
            outs = {name: buffer[:size] for name, size in sizes.items()}
        for high in (True, False) if passes > 0 else ():
            one_pass(f, names, high, mode, outs)
        for _ in range(max(passes, 1)):
            for high in (True, False):
                t0 = (time.perf_counter(), time.process_time())
                one_pass(f, names, high, mode, outs)
                report("high" if high else "low", t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
