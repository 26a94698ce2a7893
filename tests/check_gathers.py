#!/usr/bin/env python3
"""Checks where the built library uses vector gather instructions (vpgatherdd and kin).

The word-rANS decoders' gather-free table lookup (TableLookup::loads, base/cpu.hpp; the
default where Linux does not report the CPU unaffected by GDS, whose microcode
mitigation makes gathers 2-3x slower) must hold no gather instruction, and no other
decoding code may. So in the disassembly of the library (objdump -d -C):
  - the gather-free decoder kernels (avx2_groups<V, C, false>, avx512_groups<V, false>)
    exist for every lane count, and none holds a gather;
  - the only functions that hold gathers are the decoder kernels of TableLookup::gather
    (template argument true) and the encoders (pack side, "*encode*"): a gather the
    compiler adds anywhere else on the decode path fails this check.

usage: check_gathers.py LIBRARY
"""
import re
import subprocess
import sys

FUNCTION = re.compile(r"^[0-9a-f]+ <(.*)>:$")
GATHER = re.compile(r"\bv(p?gather|gather)\w*")
# The decoder kernels: name, template arguments (the last one is kGather).
KERNEL = re.compile(r"\b(avx2_groups|avx512_groups)<([^>]*)>\(")


def functions(library):
    """{function name: number of gather instructions} from the disassembly."""
    out = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", library], check=True,
                         capture_output=True, text=True).stdout
    counts, name = {}, None
    for line in out.splitlines():
        m = FUNCTION.match(line)
        if m:
            name = m.group(1)
            counts.setdefault(name, 0)
        elif name is not None and GATHER.search(line):
            counts[name] += 1
    return counts


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    counts = functions(sys.argv[1])
    errors = []
    gather_free = {"avx2_groups": set(), "avx512_groups": set()}
    for name, gathers in counts.items():
        kernel = KERNEL.search(name)
        if kernel:
            args = [a.strip() for a in kernel.group(2).split(",")]
            uses_gather = args[-1] == "true"
            if not uses_gather:
                gather_free[kernel.group(1)].add(tuple(args[:-1]))
                if gathers:
                    errors.append(f"{gathers} gather(s) in the gather-free kernel {name}")
            continue
        if gathers and "encode" not in name:
            errors.append(f"{gathers} gather(s) outside the rANS kernels of TableLookup::gather: {name}")
    # Lane counts (vectors per group) and, for AVX2, with and without contexts.
    expected = {"avx2_groups": {(v, c) for v in ("1", "2", "4", "8") for c in ("true", "false")},
                "avx512_groups": {(v,) for v in ("1", "2", "4")}}
    for kernel, want in expected.items():
        missing = want - gather_free[kernel]
        if missing:
            errors.append(f"gather-free {kernel} not found in the library for {sorted(missing)}")
    for e in errors:
        print("check_gathers:", e)
    if errors:
        sys.exit(1)
    print(f"check_gathers: {sum(len(v) for v in gather_free.values())} gather-free decoder kernels, no gather "
          f"outside the gather kernels and the encoders")


if __name__ == "__main__":
    main()
