"""What the binding tests share: finding the package, the library and the CLI; a tiny
safetensors reader and writer (the originals and `qstore unpack` outputs are read with it,
not with qstore); where each scheme puts its low-precision tensors in such a file.

Environment: QSTORE_LIBRARY (the libqstore.so.1 to test), QSTORE_CLI (the qstore
program), QSTORE_MODELS (folder of real .safetensors models). A missing numpy exits 77
(a skip) unless CI is set, then 1 (a failure)."""
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))


def _in_ci():
    value = os.environ.get("CI", "")
    return value not in ("", "0") and value.lower() not in ("false", "no")


try:
    import numpy as np  # noqa: F401
except ImportError:
    print("numpy is missing (Debian: apt-get install python3-numpy)%s" % ("" if _in_ci() else ": skipped"))
    sys.exit(1 if _in_ci() else 77)

if os.environ.get("QSTORE_PYTHONPATH") is None:
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
import qstore  # noqa: E402

CLI = os.environ.get("QSTORE_CLI", os.path.join(ROOT, "build", "cli", "qstore"))
MODELS = os.environ.get("QSTORE_MODELS", os.path.join(ROOT, "..", "shared", "models"))

# safetensors dtype name -> numpy dtype of its bytes
ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
             "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?", "F8_E4M3": "u1",
             "F8_E5M2": "u1"}


def read_safetensors(path):
    """(metadata dict, {name: (dtype name, shape tuple, raw bytes)}) in file order."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, entry in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = entry["data_offsets"]
        tensors[name] = (entry["dtype"], tuple(entry["shape"]), data[base + begin:base + end])
    return metadata, tensors


def write_safetensors(path, tensors, metadata=None):
    """tensors: [(name, dtype name, numpy array)] in file order."""
    header = {}
    offset = 0
    for name, dtype, array in tensors:
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    if metadata:
        header["__metadata__"] = metadata
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for _, _, array in tensors:
            f.write(np.ascontiguousarray(array).tobytes())


def run_cli(*args):
    subprocess.run([CLI] + [str(a) for a in args], check=True, stdout=subprocess.DEVNULL)


def low_names(scheme, name):
    """(codes, scales, zero points) tensor names of `name`'s low precision in an
    unpacked safetensors file (docs/CLI.md, safetensors layouts); None: none."""
    base = scheme.split(":")[0]
    prefix = name[:-len(".weight")] if name.endswith(".weight") and len(name) > len(".weight") else name
    if base in ("int8-row", "int8-tensor"):
        return name, prefix + ".SCB", None
    if base == "fp8-e4m3-block128":
        return name, prefix + ".weight_scale_inv", None
    if base in ("q8_0", "q4_0"):
        return name, None, None
    if base in ("int4-asym-group", "gptq-int4"):
        return prefix + ".qweight", prefix + ".scales", prefix + ".qzeros"
    if base == "uint8-asym-tensor":
        return name + "_quantized", name + "_scale", name + "_zero_point"
    return name, prefix + ".weight_scale", None


def as_bytes(array):
    return np.ascontiguousarray(array).tobytes()


class TempDir:
    def __enter__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="qstore-py-")
        return self._dir.name

    def __exit__(self, *exc):
        self._dir.cleanup()
