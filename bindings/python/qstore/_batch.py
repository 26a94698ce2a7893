"""File.get_tensors: many tensors in one call of qs_load_high_many_e / qs_load_low_many_e,
which decodes them in parallel on the handle's threads (small tensors included)."""
import collections
import ctypes

import numpy as np

from ._dtypes import widen as _widen, wrap
from ._errors import check, err_ptr
from ._lib import lib
from ._low import Quantized, empty_parts, scheme_name


# Level 0's layout as empty_parts reads it (qs_level_info's fields), from the tensor index.
_Level0 = collections.namedtuple("_Level0", "code_dtype scale_dtype code_bytes scale_bytes zero_point_bytes")


def _address(array):
    return ctypes.addressof(ctypes.c_char.from_buffer(array)) if array.nbytes else None


def _call_many(function, handle, indices, *parts):
    """function(handle, count, indices, then per part pointers and sizes, err):
    parts are lists of numpy arrays (or None) in `indices`' order."""
    count = len(indices)
    args = [handle, count, (ctypes.c_size_t * count)(*indices)]
    for arrays in parts:
        args.append((ctypes.c_void_p * count)(*[None if a is None else _address(a) for a in arrays]))
        args.append((ctypes.c_size_t * count)(*[0 if a is None else a.nbytes for a in arrays]))
    err = err_ptr()
    check(function(*args, err), err)


def load_high_many(handle, t, indices, widen):
    """{name: high precision array} (as get_tensor(name) returns it)."""
    outs = [np.empty(t.shapes[i], dtype=t.np_dtypes[i]) for i in indices]
    if indices:
        _call_many(lib.qs_load_high_many_e, handle, indices, outs)
    convert = _widen if widen else wrap
    return {t.names[i]: convert(out, t.dtype_names[i]) for i, out in zip(indices, outs)}


def _low_parts(t, i):
    """Empty arrays for tensor i's low precision: (codes, scales, zero points, codes'
    dtype name, scheme name) as get_tensor(name, "low") fills them."""
    scheme = scheme_name(t.schemes[i], t.group_sizes[i])
    shape = t.shapes[i]
    codes, scales, zero_points, code_name = empty_parts(_Level0(*t.level0[i]), scheme, shape[0] if shape else 1,
                                                        shape)
    return codes, scales, zero_points, code_name, scheme


def load_low_many(handle, t, indices, load_level):
    """{name: low precision} (as get_tensor(name, "low") returns it: a Quantized, or the
    array of a tensor stored unquantized). Schemes with zero points (which
    qs_load_low_many does not return) are loaded one by one through load_level(i)."""
    result, batch, codes, scales, parts = {}, [], [], [], {}
    for i in indices:
        if t.num_levels[i] == 1:
            batch.append(i)
            codes.append(np.empty(t.shapes[i], dtype=t.np_dtypes[i]))
            scales.append(None)
            continue
        part = _low_parts(t, i)
        if part[2] is not None:
            result[t.names[i]] = load_level(i)
            continue
        batch.append(i)
        codes.append(part[0])
        scales.append(part[1])
        parts[i] = part
    if batch:
        _call_many(lib.qs_load_low_many_e, handle, batch, codes, scales)
    for i, c, s in zip(batch, codes, scales):
        if i not in parts:
            result[t.names[i]] = wrap(c, t.dtype_names[i])
            continue
        _, _, _, code_name, scheme = parts[i]
        result[t.names[i]] = Quantized(scheme, t.group_sizes[i], 0, t.shapes[i], t.dtype_names[i],
                                       wrap(c, code_name), s, None)
    return {t.names[i]: result[t.names[i]] for i in indices}
