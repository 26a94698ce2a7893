#!/usr/bin/env python3
"""Fails if an include in src/ runs upward: a file in layer L may include only files of
its own folder and of the folders of lower layers (src/README.md lists the layers).
read/ and pack/ share a layer and must not include each other.
    check_layers.py SRC_DIR"""
import pathlib
import re
import sys

LAYERS = {"base": 1, "io": 2, "net": 3, "entropy": 4, "schemes": 5, "residual": 6, "container": 7, "read": 8, "pack": 8}


def main():
    src = pathlib.Path(sys.argv[1])
    problems = []
    files = sorted(p for p in src.rglob("*") if p.suffix in (".hpp", ".cpp"))
    for path in files:
        rel = path.relative_to(src)
        folder = rel.parts[0]
        if len(rel.parts) != 2 or folder not in LAYERS:
            problems.append(f"{rel}: not in a layer folder ({', '.join(LAYERS)})")
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r'#include "([^"]+)"', line)
            if not m:
                continue
            target = m.group(1)
            if target.startswith("qstore/"):
                continue  # the public header
            to = target.split("/")[0]
            if to not in LAYERS:
                problems.append(f"{rel}:{n}: includes {target}, which names no layer folder")
            elif to != folder and LAYERS[to] >= LAYERS[folder]:
                problems.append(f"{rel}:{n}: {folder}/ (layer {LAYERS[folder]}) includes {target} "
                                f"(layer {LAYERS[to]})")
    if not files:
        problems.append(f"{src}: no sources found")
    for p in problems:
        print(p)
    print(f"{len(files)} files, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
