"""A low precision level as runtimes use it: codes, scales and zero points shaped per
scheme, the same shapes as `qstore unpack --precision low` writes (docs/CLI.md,
"Safetensors layouts of a low precision")."""
import numpy as np

from ._dtypes import DTYPES

# qs_low_scheme number -> name as `qstore pack --low` spells it (":G" added for groups)
SCHEMES = {
    0: "passthrough", 1: "int8-row", 2: "int8-tensor", 3: "fp8-e4m3-row", 4: "fp8-e4m3-tensor",
    5: "fp8-e5m2-tensor", 6: "int8-group", 7: "q8_0", 8: "q4_0", 9: "fp8-e4m3-block128",
    10: "int4-asym-group", 11: "uint8-asym-tensor", 12: "gptq-int4", 13: "int8-row-ct",
}
SCHEME_NUMBERS = {name: number for number, name in SCHEMES.items()}
_GROUPED = ("int8-group", "int4-asym-group", "gptq-int4")
_PER_VECTOR = ("int8-row", "int8-tensor", "fp8-e4m3-tensor", "fp8-e5m2-tensor")

# ggml's blocks of 32 elements along a row: float16 d, then the codes
Q8_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "i1", (32,))])
Q4_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def scheme_name(number, group_size):
    name = SCHEMES.get(number, "scheme-%d" % number)
    return "%s:%d" % (name, group_size) if name in _GROUPED else name


def parse_scheme(text):
    """'int4-asym-group:64' -> (qs_low_scheme number, group size or 0)."""
    name, _, group = text.partition(":")
    if name not in SCHEME_NUMBERS or name == "passthrough":
        raise ValueError("unknown low-precision scheme %r" % text)
    if name in _GROUPED:
        return SCHEME_NUMBERS[name], int(group) if group else 128
    if group:
        raise ValueError("scheme %r takes no group size" % name)
    return SCHEME_NUMBERS[name], 0


def code_shape(scheme, rows, shape, count):
    """Shape of the codes array of `count` elements of the code dtype."""
    scheme = scheme.partition(":")[0]
    if scheme in ("q8_0", "q4_0", "int4-asym-group"):
        return (rows, count // rows if rows else 0)
    if scheme == "gptq-int4":  # AutoGPTQ's qweight [in/8, out]
        return (count // rows if rows else 0, rows)
    return (rows,) + tuple(shape[1:])


def scale_shape(scheme, rows, cols, count):
    """Shape of the scales (and zero points) array of `count` values."""
    scheme = scheme.partition(":")[0]
    if scheme in _PER_VECTOR:
        return (count,)
    if scheme in ("fp8-e4m3-row", "int8-row-ct"):
        return (count, 1)
    if scheme == "gptq-int4":  # [groups, out]
        return (count // rows if rows else 0, rows)
    if scheme == "uint8-asym-tensor":
        return ()
    if scheme == "fp8-e4m3-block128":
        col_tiles = (cols + 127) // 128
        return (count // col_tiles if col_tiles else 0, col_tiles)
    return (rows, count // rows if rows else 0)  # groups along the row


class Quantized:
    """One low precision level of a tensor.

    scheme       'int8-row', 'int4-asym-group:128', ... (as qstore pack --low spells it)
    level        the level number (0 = lowest)
    shape        the tensor's shape (of the rows loaded); dtype: its high dtype name
    codes        int8 / uint8 / int32 array; F8 codes are uint8 with .qstore_dtype
    scales       float32 or float16 array, or None (q8_0 / q4_0 keep d inside the blocks)
    zero_points  uint8 array (int4-asym-group, uint8-asym-tensor), int32 qzeros (gptq-int4) or None
    """
    __slots__ = ("scheme", "group_size", "level", "shape", "dtype", "codes", "scales", "zero_points")

    def __init__(self, scheme, group_size, level, shape, dtype, codes, scales, zero_points):
        self.scheme = scheme
        self.group_size = group_size
        self.level = level
        self.shape = shape
        self.dtype = dtype
        self.codes = codes
        self.scales = scales
        self.zero_points = zero_points

    @property
    def blocks(self):
        """q8_0 / q4_0: the codes as ggml blocks, fields 'd' (float16) and 'qs', [rows, cols/32]."""
        block = {"q8_0": Q8_0_BLOCK, "q4_0": Q4_0_BLOCK}.get(self.scheme)
        if block is None:
            raise AttributeError("scheme %s has no ggml blocks" % self.scheme)
        return np.asarray(self.codes).view(block)

    def __repr__(self):
        return "Quantized(scheme=%r, level=%d, shape=%r, codes=%s%r, scales=%r, zero_points=%r)" % (
            self.scheme, self.level, self.shape, getattr(self.codes, "qstore_dtype", None) or self.codes.dtype,
            self.codes.shape, None if self.scales is None else self.scales.shape,
            None if self.zero_points is None else self.zero_points.shape)


def scale_rows(scheme, scales, first, stop):
    """The scales (or zero points) of rows [first, stop) of a level's whole `scales`, as
    the C API's row loads give them: per-tensor schemes their one scale, 128-row tiles
    the tile rows the range touches, the others one row (or one value) per row."""
    base = scheme.partition(":")[0]
    if scales is None or base in ("int8-tensor", "fp8-e4m3-tensor", "fp8-e5m2-tensor", "uint8-asym-tensor"):
        return scales
    if base == "fp8-e4m3-block128":
        return scales[first // 128:(stop - 1) // 128 + 1] if stop > first else scales[:0]
    if base == "gptq-int4":  # rows are columns of [groups, out] (and of qzeros, eight per word)
        if stop <= first:
            return scales[:, :0]
        return scales[:, first:stop] if scales.dtype == np.float16 else scales[:, first // 8:(stop + 7) // 8]
    return scales[first:stop]


def part_layout(level_info, scheme, rows, shape):
    """How a level's parts are laid out: (codes' shape, numpy dtype and dtype name,
    scales' shape and numpy dtype or None, zero points' shape and numpy dtype or None)."""
    code_name, code_dtype = DTYPES[level_info.code_dtype]
    cols = 1
    for d in shape[1:]:
        cols *= d
    codes = code_shape(scheme, rows, shape, level_info.code_bytes // code_dtype.itemsize)
    scales = zero_points = None
    if level_info.scale_bytes:
        scale_dtype = DTYPES[level_info.scale_dtype][1]
        scales = (scale_shape(scheme, rows, cols, level_info.scale_bytes // scale_dtype.itemsize), scale_dtype)
    if level_info.zero_point_bytes and scheme.partition(":")[0] == "gptq-int4":  # qzeros [groups, ceil(out/8)]
        words = (rows + 7) // 8
        zero_points = ((level_info.zero_point_bytes // 4 // words, words), np.dtype(np.int32))
    elif level_info.zero_point_bytes:
        zero_points = (scale_shape(scheme, rows, cols, level_info.zero_point_bytes), np.dtype(np.uint8))
    return codes, code_dtype, code_name, scales, zero_points


def empty_parts(level_info, scheme, rows, shape):
    """Arrays to load a level into: (codes, scales or None, zero points or None, the
    codes' dtype name)."""
    codes, code_dtype, code_name, scales, zero_points = part_layout(level_info, scheme, rows, shape)
    return (np.empty(codes, dtype=code_dtype), None if scales is None else np.empty(scales[0], dtype=scales[1]),
            None if zero_points is None else np.empty(zero_points[0], dtype=zero_points[1]), code_name)
