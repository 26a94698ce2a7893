"""Element types: qs_dtype numbers, their safetensors names, their numpy dtypes, and the
arrays of the types numpy lacks (BF16, F8_E4M3, F8_E5M2) with exact widening to float32."""
import numpy as np

# qs_dtype number -> (safetensors name, numpy dtype holding its bytes)
DTYPES = {
    1: ("F32", np.dtype("<f4")),
    2: ("F16", np.dtype("<f2")),
    3: ("BF16", np.dtype("<u2")),
    4: ("F64", np.dtype("<f8")),
    5: ("I8", np.dtype("i1")),
    6: ("U8", np.dtype("u1")),
    7: ("I16", np.dtype("<i2")),
    8: ("U16", np.dtype("<u2")),
    9: ("I32", np.dtype("<i4")),
    10: ("U32", np.dtype("<u4")),
    11: ("I64", np.dtype("<i8")),
    12: ("U64", np.dtype("<u8")),
    13: ("BOOL", np.dtype("?")),
    14: ("F8_E4M3", np.dtype("u1")),
    15: ("F8_E5M2", np.dtype("u1")),
}
DTYPE_NUMBERS = {name: number for number, (name, _) in DTYPES.items()}
# numpy dtype -> qs_dtype name, for arrays given to the writer without a dtype name
FROM_NUMPY = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.float64): "F64",
              np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8", np.dtype(np.int16): "I16",
              np.dtype(np.uint16): "U16", np.dtype(np.int32): "I32", np.dtype(np.uint32): "U32",
              np.dtype(np.int64): "I64", np.dtype(np.uint64): "U64", np.dtype(np.bool_): "BOOL"}
NON_NUMPY = ("BF16", "F8_E4M3", "F8_E5M2")


class RawFloatArray(np.ndarray):
    """The bytes of a float type numpy lacks: uint16 for BF16, uint8 for F8_E4M3 and
    F8_E5M2. .qstore_dtype names the type; .widen() gives the exact float32 values."""

    def __new__(cls, array, qstore_dtype):
        obj = np.asarray(array).view(cls)
        obj.qstore_dtype = qstore_dtype
        return obj

    def __array_finalize__(self, obj):
        self.qstore_dtype = getattr(obj, "qstore_dtype", None)

    def widen(self):
        return widen(np.asarray(self), self.qstore_dtype)


def _fp8_table(exp_bits, man_bits, bias, has_inf):
    """float32 value of each of the 256 codes of an OCP FP8 format."""
    table = np.empty(256, dtype=np.float32)
    for code in range(256):
        sign = -1.0 if code & 0x80 else 1.0
        e = (code >> man_bits) & ((1 << exp_bits) - 1)
        m = code & ((1 << man_bits) - 1)
        top = e == (1 << exp_bits) - 1
        if has_inf and top:
            value = sign * float("inf") if m == 0 else float("nan")
        elif not has_inf and top and m == (1 << man_bits) - 1:
            value = float("nan")  # E4M3: S.1111.111 is NaN, no infinities
        elif e == 0:
            value = sign * m * 2.0 ** (1 - bias - man_bits)
        else:
            value = sign * (1 + m / (1 << man_bits)) * 2.0 ** (e - bias)
        table[code] = value
    return table


_FP8 = {"F8_E4M3": _fp8_table(4, 3, 7, False), "F8_E5M2": _fp8_table(5, 2, 15, True)}


def widen(raw, qstore_dtype):
    """Exact float32 values of BF16 / F8 bytes (F16 and F32 are converted by numpy)."""
    raw = np.asarray(raw)
    if qstore_dtype == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    if qstore_dtype in _FP8:
        return _FP8[qstore_dtype][raw]
    return raw.astype(np.float32)


def wrap(array, qstore_dtype):
    """array as it is, or labelled with its dtype when numpy lacks that type."""
    if qstore_dtype in NON_NUMPY:
        return RawFloatArray(array, qstore_dtype)
    return array
