"""File.view_low: the raw-stored low precision as read-only numpy arrays over the handle's
mapping (qs_view_low_e), holding the handle so that the mapping outlives close()."""
import ctypes

import numpy as np

from ._cstructs import QsLevelInfo
from ._dtypes import wrap
from ._errors import NOT_AVAILABLE, NotAvailableError, check, err_ptr
from ._lib import lib
from ._low import Quantized, part_layout, scheme_name


class _Mapped:
    """nbytes at address, read-only, as numpy sees them; holds `owner` (the _Handle)."""

    def __init__(self, address, nbytes, owner):
        self.__array_interface__ = {"data": (address, True), "shape": (nbytes,), "typestr": "|u1", "version": 3}
        self.owner = owner


def _over(owner, address, nbytes, dtype, shape, qstore_dtype):
    if nbytes == 0:
        array = np.empty(shape, dtype=dtype)
        array.flags.writeable = False
    else:
        array = np.asarray(_Mapped(address, nbytes, owner)).view(dtype).reshape(shape)
    return wrap(array, qstore_dtype)


def view_low(owner, t, i):
    """Tensor i's level 0 over the mapping of owner (a live _Handle)."""
    handle = owner.value
    err = err_ptr()
    shape = t.shapes[i]
    level = None
    if t.num_levels[i] > 1:
        level = QsLevelInfo()
        level.struct_size = ctypes.sizeof(QsLevelInfo)
        check(lib.qs_level_info_get_e(handle, i, 0, ctypes.byref(level), err), err)
        if level.zero_point_bytes:
            raise NotAvailableError(NOT_AVAILABLE, "tensor %r: scheme %s has zero points, which view_low does not "
                                    "give; use get_tensor(name, 'low')" % (t.names[i], scheme_name(
                                        level.scheme, level.group_size)))
    codes, scales = ctypes.c_void_p(), ctypes.c_void_p()
    check(lib.qs_view_low_e(handle, i, ctypes.byref(codes), ctypes.byref(scales), err), err)
    if level is None:
        return _over(owner, codes.value, t.high_bytes[i], t.np_dtypes[i], shape, t.dtype_names[i])
    scheme = scheme_name(level.scheme, level.group_size)
    code_shape, code_dtype, code_name, scale, _ = part_layout(level, scheme, shape[0] if shape else 1, shape)
    c = _over(owner, codes.value, level.code_bytes, code_dtype, code_shape, code_name)
    s = None if scale is None else _over(owner, scales.value, level.scale_bytes, scale[1], scale[0], None)
    return Quantized(scheme, level.group_size, 0, shape, t.dtype_names[i], c, s, None)
