"""The tensor index of an open file, read once at open into flat lists (one entry per
tensor), so that a load costs a few list lookups: every qs_tensor_info is fetched into
one numpy record array, then converted column by column."""
import ctypes

import numpy as np

from ._cstructs import QsTensorInfo
from ._dtypes import DTYPES
from ._errors import check, err_ptr
from ._lib import lib
from ._low import scheme_name

_UNKNOWN = ("UNKNOWN", np.dtype("u1"))


def _record_dtype(structure):
    """numpy record dtype laid out as a ctypes Structure (pointers as uint64)."""
    names, formats, offsets = [], [], []
    for name, ctype in structure._fields_:
        field = getattr(structure, name)
        names.append(name)
        offsets.append(field.offset)
        if name == "name":
            formats.append(np.uintp)
        elif name == "shape":
            formats.append((np.uint64, ctype._length_))
        else:
            formats.append(np.dtype(ctype))
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": ctypes.sizeof(structure)})


_RECORD = _record_dtype(QsTensorInfo)


class TensorInfo:
    """What the file says about one tensor (File.info)."""
    __slots__ = ("name", "dtype", "shape", "scheme", "group_size", "num_levels", "high_bytes")

    def __init__(self, name, dtype, shape, scheme, group_size, num_levels, high_bytes):
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.scheme = scheme
        self.group_size = group_size
        self.num_levels = num_levels
        self.high_bytes = high_bytes

    def __repr__(self):
        return "TensorInfo(name=%r, dtype=%r, shape=%r, scheme=%r, num_levels=%d)" % (
            self.name, self.dtype, self.shape, self.scheme, self.num_levels)


class TensorIndex:
    """Per tensor (by index): names, shapes, dtype names, numpy dtypes, high_bytes,
    num_levels; by_name maps a name to its index."""

    def __init__(self, handle):
        count = lib.qs_tensor_count(handle)
        records = np.zeros(count, dtype=_RECORD)
        records["struct_size"] = _RECORD.itemsize
        base = records.ctypes.data
        err = err_ptr()
        info_get = lib.qs_tensor_info_get_e
        size = _RECORD.itemsize
        for i in range(count):
            status = info_get(handle, i, base + i * size, err)
            if status:
                check(status, err)
        self.names = [ctypes.string_at(p).decode("utf-8") for p in records["name"].tolist()]
        self.shapes = [tuple(s[:n]) for s, n in zip(records["shape"].tolist(), records["ndim"].tolist())]
        dtypes = [DTYPES.get(d, _UNKNOWN) for d in records["high_dtype"].tolist()]
        self.dtype_names = [d[0] for d in dtypes]
        self.np_dtypes = [d[1] for d in dtypes]
        self.high_bytes = records["high_bytes"].tolist()
        self.num_levels = records["num_levels"].tolist()
        self.schemes = records["low_scheme"].tolist()
        self.group_sizes = records["low_group_size"].tolist()
        # level 0's layout (qs_tensor_info describes the lowest level): get_tensors("low")
        self.level0 = list(zip(*(records[field].tolist() for field in
                                 ("low_dtype", "low_scale_dtype", "low_code_bytes", "low_scale_bytes",
                                  "low_zero_point_bytes"))))
        self.by_name = {name: i for i, name in enumerate(self.names)}
        self.low_layouts = None  # _batch.low_layout fills it, tensor by tensor, at their first low load
        self.low_layouts_alike = None  # _batch.low_layout: layouts by what they are made from

    def __len__(self):
        return len(self.names)

    def info(self, i):
        return TensorInfo(self.names[i], self.dtype_names[i], self.shapes[i],
                          scheme_name(self.schemes[i], self.group_sizes[i]), self.group_sizes[i],
                          self.num_levels[i], self.high_bytes[i])
