"""File.get_tensors: many tensors in one call of qs_load_high_many_e / qs_load_low_many_e,
which decodes them in parallel on the handle's threads (small tensors included). The
Python work per tensor is kept to making its arrays: shapes, dtypes and level 0's
layout come from the tensor index, worked out once per file."""
import collections
import ctypes

import numpy as np

from ._dtypes import NON_NUMPY, RawFloatArray, widen as _widen
from ._errors import check, err_ptr
from ._lib import lib
from ._low import Quantized, part_layout, scheme_name


# Level 0's layout as part_layout reads it (qs_level_info's fields), from the tensor index.
_Level0 = collections.namedtuple("_Level0", "code_dtype scale_dtype code_bytes scale_bytes zero_point_bytes")

# How get_tensors(precision="low") makes one tensor's arrays: kind PASSTHROUGH (one
# array, the tensor's own dtype), BATCHED (codes and scales, loaded by
# qs_load_low_many_e) or ALONE (a scheme with zero points, loaded by load_level).
PASSTHROUGH, BATCHED, ALONE = 0, 1, 2
_LowLayout = collections.namedtuple("_LowLayout", "kind scheme codes scales")  # parts as allocate() takes them

# Parts smaller than this share blocks (one numpy allocation per call for all of them):
# a model of many small tensors then costs one array object per part, not one
# allocation plus an address lookup. A small part keeps its block alive (at most
# _SMALL bytes per part it shares with); larger parts get their own allocation.
_SMALL = 1 << 16
_ALIGN = 64
_ndarray_new = np.ndarray.__new__
_char_from_buffer = ctypes.c_char.from_buffer
_addressof = ctypes.addressof


def _array(shape, dtype, qstore_dtype, block, offset):
    """An array over block[offset:] (block None: a new allocation), labelled as wrap() does."""
    cls = RawFloatArray if qstore_dtype in NON_NUMPY else np.ndarray
    array = _ndarray_new(cls, shape, dtype) if block is None else _ndarray_new(cls, shape, dtype, block, offset)
    if cls is RawFloatArray:
        array.qstore_dtype = qstore_dtype
    return array


def allocate(specs):
    """Arrays for parts given as (shape, numpy dtype, qs dtype name or None, bytes) or
    None (no part): (arrays, ctypes array of their addresses, ctypes array of sizes)."""
    count = len(specs)
    sizes = np.fromiter((0 if s is None else s[3] for s in specs), dtype=np.uint64, count=count)
    small = sizes < _SMALL
    room = np.where(small, (sizes + (_ALIGN - 1)) & ~np.uint64(_ALIGN - 1), 0).astype(np.uint64)
    offsets = np.cumsum(room) - room
    block = np.empty(int(room.sum()) + _ALIGN, dtype=np.uint8)
    skip = (-block.ctypes.data) % _ALIGN  # the block's first 64-byte aligned byte
    pointers = np.where(small & (sizes > 0), offsets + np.uint64(block.ctypes.data + skip), 0).astype(np.uint64)
    arrays = []
    for k, (spec, offset, in_block) in enumerate(zip(specs, (offsets + np.uint64(skip)).tolist(), small.tolist())):
        if spec is None:
            arrays.append(None)
        elif in_block:
            arrays.append(_array(spec[0], spec[1], spec[2], block, offset))
        else:
            array = _array(spec[0], spec[1], spec[2], None, 0)
            pointers[k] = _addressof(_char_from_buffer(array))
            arrays.append(array)
    return (arrays, (ctypes.c_void_p * count).from_buffer(pointers), (ctypes.c_size_t * count).from_buffer(sizes))


def _call_many(function, handle, indices, *parts):
    """function(handle, count, indices, then per part pointers and sizes, err): parts
    are the (pointers, sizes) of allocate(), in `indices`' order."""
    count = len(indices)
    args = [handle, count, (ctypes.c_size_t * count)(*indices)]
    for pointers, sizes in parts:
        args += [pointers, sizes]
    err = err_ptr()
    check(function(*args, err), err)


def load_high_many(handle, t, indices, widen):
    """{name: high precision array} (as get_tensor(name) returns it)."""
    shapes, dtypes, names, nbytes = t.shapes, t.np_dtypes, t.dtype_names, t.high_bytes
    outs, pointers, sizes = allocate([(shapes[i], dtypes[i], names[i], nbytes[i]) for i in indices])
    if indices:
        _call_many(lib.qs_load_high_many_e, handle, indices, (pointers, sizes))
    if widen:
        return {t.names[i]: _widen(out, names[i]) for i, out in zip(indices, outs)}
    return dict(zip([t.names[i] for i in indices], outs))


def _low_layout(t, i):
    """Tensor i's _LowLayout, from the tensor index."""
    if t.num_levels[i] == 1:
        return _LowLayout(PASSTHROUGH, None, (t.shapes[i], t.np_dtypes[i], t.dtype_names[i], t.high_bytes[i]), None)
    scheme = scheme_name(t.schemes[i], t.group_sizes[i])
    shape = t.shapes[i]
    level0 = _Level0(*t.level0[i])
    codes, code_dtype, code_name, scales, zero_points = part_layout(level0, scheme, shape[0] if shape else 1, shape)
    return _LowLayout(BATCHED if zero_points is None else ALONE, scheme, (codes, code_dtype, code_name, level0.code_bytes),
                      None if scales is None else (scales[0], scales[1], None, level0.scale_bytes))


def low_layout(t, i):
    """Tensor i's _LowLayout, worked out at its first low load and kept in the index
    (tensors alike in what _low_layout reads share one: models repeat their shapes)."""
    layouts = t.low_layouts
    if layouts is None:
        layouts = t.low_layouts = [None] * len(t)
        t.low_layouts_alike = {}
    layout = layouts[i]
    if layout is None:
        key = (t.num_levels[i] == 1, t.schemes[i], t.group_sizes[i], t.shapes[i], t.level0[i], t.dtype_names[i],
               t.high_bytes[i])
        layout = t.low_layouts_alike.get(key)
        if layout is None:
            layout = t.low_layouts_alike[key] = _low_layout(t, i)
        layouts[i] = layout
    return layout


def load_low_one(handle, t, i):
    """get_tensor(name, "low") of a quantized tensor without zero points, in one C call
    (qs_load_level_e, level 0); None for a scheme with zero points."""
    layout = low_layout(t, i)
    if layout.kind != BATCHED:
        return None
    codes = _array(*layout.codes[:3], None, 0)
    scales = None if layout.scales is None else _array(*layout.scales[:3], None, 0)
    err = err_ptr()
    status = lib.qs_load_level_e(handle, i, 0, _addressof(_char_from_buffer(codes)) if codes.nbytes else None,
                                 codes.nbytes, None if scales is None or not scales.nbytes else
                                 _addressof(_char_from_buffer(scales)), 0 if scales is None else scales.nbytes,
                                 None, 0, err)
    check(status, err)
    return Quantized(layout.scheme, t.group_sizes[i], 0, t.shapes[i], t.dtype_names[i], codes, scales, None)


def load_low_many(handle, t, indices, load_level):
    """{name: low precision} (as get_tensor(name, "low") returns it: a Quantized, or the
    array of a tensor stored unquantized). Schemes with zero points (which
    qs_load_low_many does not return) are loaded one by one through load_level(i)."""
    layouts, names = [low_layout(t, i) for i in indices], t.names
    batch = [i for i, layout in zip(indices, layouts) if layout.kind != ALONE]
    codes, code_pointers, code_sizes = allocate([layout.codes for layout in layouts if layout.kind != ALONE])
    scales, scale_pointers, scale_sizes = allocate([layout.scales for layout in layouts if layout.kind != ALONE])
    if batch:
        _call_many(lib.qs_load_low_many_e, handle, batch, (code_pointers, code_sizes), (scale_pointers, scale_sizes))
    result, k = {}, 0
    for i, layout in zip(indices, layouts):
        if layout.kind == ALONE:
            result[names[i]] = load_level(i)
            continue
        c, s = codes[k], scales[k]
        k += 1
        result[names[i]] = c if layout.kind == PASSTHROUGH else Quantized(layout.scheme, t.group_sizes[i], 0,
                                                                          t.shapes[i], t.dtype_names[i], c, s, None)
    return result  # in the order of indices: each tensor was added in its turn
