"""qstore.open and File: a .qs file (path or bytes in memory) read through the C API."""
import ctypes
import os

import numpy as np

from . import _errors
from ._cstructs import QsLevelInfo, QsTensorInfo
from ._dtypes import DTYPES, widen as _widen, wrap
from ._errors import check, err_ptr, error_from
from ._lib import lib
from ._low import Quantized, empty_parts, scheme_name
from ._metadata import read_metadata

_HIGH = "high"
_LOW = "low"


class TensorInfo:
    """What the file says about one tensor (File.info)."""
    __slots__ = ("index", "name", "shape", "dtype", "np_dtype", "high_bytes", "num_levels", "scheme",
                 "row_bytes")

    def __init__(self, index, c_info):
        self.index = index
        self.name = c_info.name.decode("utf-8")
        self.shape = tuple(c_info.shape[:c_info.ndim])
        self.dtype, self.np_dtype = DTYPES.get(c_info.high_dtype, ("UNKNOWN", np.dtype("u1")))
        self.high_bytes = c_info.high_bytes
        self.num_levels = c_info.num_levels
        self.scheme = scheme_name(c_info.low_scheme, c_info.low_group_size)
        rows = self.shape[0] if self.shape else 1
        self.row_bytes = self.high_bytes // rows if rows else 0

    def __repr__(self):
        return "TensorInfo(name=%r, dtype=%r, shape=%r, scheme=%r, num_levels=%d)" % (
            self.name, self.dtype, self.shape, self.scheme, self.num_levels)


def _pointer(array):
    return array.__array_interface__["data"][0]


def _open_options(num_threads, verify_checksums):
    options = lib.qs_open_options_default()
    options.num_threads = num_threads
    options.verify_checksums = 1 if verify_checksums else 0
    return options


def open(source, *, num_threads=0, verify_checksums=True):  # noqa: A001 (qstore.open, like io.open)
    """Opens a .qs file: a path (str, bytes or os.PathLike), or the file's bytes in memory
    (bytes, bytearray, memoryview, mmap or a numpy uint8 array; kept referenced, and must
    not change, while the File is open). Returns a File (a context manager)."""
    options = _open_options(num_threads, verify_checksums)
    handle = ctypes.c_void_p()
    err = err_ptr()
    keep = None
    if isinstance(source, (str, os.PathLike)):
        path = os.fsencode(source)
        status = lib.qs_open_e(path, ctypes.byref(options), ctypes.byref(handle), err)
        if status == _errors.IO and not os.path.exists(path):
            raise error_from(status, err, _errors.FileMissingError)
    else:
        try:
            keep = np.frombuffer(source, dtype=np.uint8)
        except (TypeError, ValueError, BufferError) as e:
            raise TypeError("qstore.open takes a path or a contiguous bytes-like object, not %s (%s)"
                            % (type(source).__name__, e)) from None
        status = lib.qs_open_memory_e(_pointer(keep) if keep.size else None, keep.size, ctypes.byref(options),
                                      ctypes.byref(handle), err)
    check(status, err)
    return File(handle, keep)


class File:
    """An open .qs file. Loads may run from several threads at once; close() must not."""

    def __init__(self, handle, keep_alive=None):
        self._handle = handle.value
        self._keep_alive = keep_alive
        self._infos = []
        self._by_name = {}
        try:
            self._read_index()
        except BaseException:
            self.close()
            raise

    def _read_index(self):
        err = err_ptr()
        c_info = QsTensorInfo()
        for index in range(lib.qs_tensor_count(self._handle)):
            c_info.struct_size = ctypes.sizeof(QsTensorInfo)
            check(lib.qs_tensor_info_get_e(self._handle, index, ctypes.byref(c_info), err), err)
            info = TensorInfo(index, c_info)
            self._infos.append(info)
            self._by_name[info.name] = info

    # ---- lifetime ----
    def close(self):
        """Closes the file (again: nothing). Arrays already returned stay valid."""
        handle, self._handle = self._handle, None
        if handle:
            lib.qs_close(handle)
        self._keep_alive = None

    @property
    def closed(self):
        return self._handle is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_handle", None):
            self.close()

    def _live(self):
        if self._handle is None:
            raise ValueError("operation on a closed qstore file")
        return self._handle

    # ---- what the file holds ----
    def keys(self):
        """Tensor names in file order."""
        self._live()
        return [info.name for info in self._infos]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        self._live()
        return len(self._infos)

    def __contains__(self, name):
        self._live()
        return name in self._by_name

    def info(self, name):
        """TensorInfo of a tensor: name, dtype, shape, scheme, num_levels."""
        self._live()
        try:
            return self._by_name[name]
        except KeyError:
            raise _errors.NotFoundError(_errors.NOT_FOUND, "no tensor named %r" % (name,)) from None
        except TypeError:
            raise TypeError("tensor names are str, not %s" % type(name).__name__) from None

    @property
    def level_count(self):
        """The largest number of precision levels of any tensor (1: nothing quantized)."""
        return lib.qs_level_count(self._live())

    def metadata(self):
        """The model's metadata as a dict (safetensors' __metadata__: str to str)."""
        return read_metadata(self._live())

    def verify(self):
        """Checks every checksum and decodes every tensor; raises on the first fault."""
        err = err_ptr()
        check(lib.qs_verify_e(self._live(), err), err)

    # ---- loading ----
    def get_tensor(self, name, precision=_HIGH, *, rows=None, widen=False, out=None):
        """One precision of a tensor.

        precision  "high" (bit-exact original), "low" (level 0) or a level number
                   (0 = lowest .. num_levels-1 = high). The high level is a numpy array
                   in the tensor's shape (BF16 / F8: uint16 / uint8 with .qstore_dtype;
                   widen=True gives float32 instead, exactly); a lower level of a quantized
                   tensor is a Quantized (codes, scales, zero_points shaped per scheme).
        rows       a slice of dimension 0 (step 1): load only those rows.
        out        (high only) a C-contiguous writable array of exactly the bytes to load.
        """
        info = self.info(name)
        level = self._level(info, precision)
        first, count = self._rows(info, rows)
        if level == info.num_levels - 1:
            array = self._load_high(info, first, count, out)
            return _widen(array, info.dtype) if widen else wrap(array, info.dtype)
        if out is not None:
            raise ValueError("out= is for the high precision only")
        return self._load_level(info, level, first, count)

    def _level(self, info, precision):
        if isinstance(precision, str):
            if precision == _HIGH:
                return info.num_levels - 1
            if precision == _LOW:
                return 0
            raise ValueError("precision must be 'high', 'low' or a level number, not %r" % precision)
        if isinstance(precision, bool) or not isinstance(precision, (int, np.integer)):
            raise TypeError("precision must be 'high', 'low' or a level number, not %r" % (precision,))
        if not 0 <= precision < info.num_levels:
            raise ValueError("tensor %r has levels 0..%d, not %d" % (info.name, info.num_levels - 1, precision))
        return int(precision)

    @staticmethod
    def _rows(info, rows):
        if rows is None:
            return None, None
        if not isinstance(rows, slice):
            raise TypeError("rows must be a slice of dimension 0, not %s" % type(rows).__name__)
        if not info.shape:
            raise ValueError("tensor %r has no rows (a scalar)" % info.name)
        start, stop, step = rows.indices(info.shape[0])
        if step != 1:
            raise ValueError("rows: only a step of 1 is supported")
        return start, max(stop - start, 0)

    def _load_high(self, info, first, count, out):
        handle = self._live()
        err = err_ptr()
        shape = info.shape if first is None else (count,) + info.shape[1:]
        nbytes = info.high_bytes if first is None else count * info.row_bytes
        if out is None:
            array = np.empty(shape, dtype=info.np_dtype)
        else:
            array = out
            if not (isinstance(out, np.ndarray) and out.flags.c_contiguous and out.flags.writeable):
                raise ValueError("out must be a C-contiguous writable numpy array")
            if out.nbytes != nbytes:
                raise ValueError("out holds %d bytes, tensor %r needs %d" % (out.nbytes, info.name, nbytes))
        pointer = _pointer(array)
        if first is None:
            status = lib.qs_load_high_e(handle, info.index, pointer, nbytes, err)
        else:
            status = lib.qs_load_high_rows_e(handle, info.index, first, count, pointer, nbytes, err)
        if status:
            raise error_from(status, err)
        return array

    def _load_level(self, info, level, first, count):
        handle = self._live()
        err = err_ptr()
        c_level = QsLevelInfo()
        c_level.struct_size = ctypes.sizeof(QsLevelInfo)
        if first is None:
            check(lib.qs_level_info_get_e(handle, info.index, level, ctypes.byref(c_level), err), err)
            rows = info.shape[0] if info.shape else 1
        else:
            check(lib.qs_rows_level_info_get_e(handle, info.index, level, first, count, ctypes.byref(c_level), err),
                  err)
            rows = count
        scheme = scheme_name(c_level.scheme, c_level.group_size)
        codes, scales, zero_points, code_name = empty_parts(c_level, scheme, rows, info.shape)
        parts = (_pointer(codes), codes.nbytes,
                 _pointer(scales) if scales is not None else None, 0 if scales is None else scales.nbytes,
                 _pointer(zero_points) if zero_points is not None else None,
                 0 if zero_points is None else zero_points.nbytes)
        if first is None:
            status = lib.qs_load_level_e(handle, info.index, level, *parts, err)
        else:
            status = lib.qs_load_level_rows_e(handle, info.index, level, first, count, *parts, err)
        check(status, err)
        shape = info.shape if first is None else (count,) + info.shape[1:]
        return Quantized(scheme, c_level.group_size, level, shape, info.dtype, wrap(codes, code_name), scales,
                         zero_points)

    def __repr__(self):
        state = "closed" if self._handle is None else "%d tensors" % len(self._infos)
        return "<qstore.File %s>" % state
