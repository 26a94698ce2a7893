"""qstore.open, qstore.open_reader and File: a .qs file (a path, a URL, bytes in memory or a
read-at callback) read through the C API."""
import ctypes
import os

import numpy as np

from . import _errors
from ._batch import load_high_many, load_low_many, load_low_one
from ._cstructs import QsLevelInfo
from ._dtypes import widen as _widen, wrap
from ._errors import check, err_ptr, error_from
from ._lib import lib
from ._index import TensorIndex
from ._low import Quantized, empty_parts, scale_rows, scheme_name
from ._metadata import read_metadata
from ._source import c_source, callable_filler, file_like_filler, file_size
from ._view import view_low

_HIGH = "high"
_LOW = "low"
_URL_SCHEMES = ("http://", "https://")


def _pointer(array):
    """Address of a numpy array's first byte."""
    return array.__array_interface__["data"][0]


def _writable_pointer(array):
    """Address of a writable numpy array's first byte (faster than _pointer)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(array)) if array.nbytes else None


def _open_options(num_threads, verify_checksums):
    options = lib.qs_open_options_default()
    options.num_threads = num_threads
    options.verify_checksums = 1 if verify_checksums else 0
    return options


def open(source, *, num_threads=0, verify_checksums=True):  # noqa: A001 (qstore.open, like io.open)
    """Opens a .qs file: a path (str, bytes or os.PathLike), an http:// or https:// URL
    (str; read with HTTP range requests, see qs_open_url_e), a binary file object (with
    readinto and seek; read through it, kept referenced while the File is open), or the
    file's bytes in memory (bytes, bytearray, memoryview, mmap or a numpy uint8 array; kept
    referenced, and must not change, while the File is open). Returns a File (a context
    manager)."""
    if hasattr(source, "readinto") and hasattr(source, "seek"):
        return _open_source(file_like_filler(source), file_size(source), str(getattr(source, "name", "<file>")),
                            num_threads, verify_checksums)
    options = _open_options(num_threads, verify_checksums)
    handle = ctypes.c_void_p()
    err = err_ptr()
    keep = None
    if isinstance(source, str) and source.startswith(_URL_SCHEMES):
        status = lib.qs_open_url_e(source.encode(), ctypes.byref(options), ctypes.byref(handle), err)
    elif isinstance(source, (str, os.PathLike)):
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


def open_reader(read_at, size, *, name="<source>", num_threads=0, verify_checksums=True):
    """Opens the `size` bytes that read_at(offset, n) returns (exactly n bytes-like) as a
    .qs file: an object store client, an archive member... read_at is called from the
    file's threads, only for the bytes an operation needs, and kept referenced while the
    File is open; an exception in it makes that load raise IOFailureError. `name` names
    the file in error messages."""
    if not callable(read_at):
        raise TypeError("read_at must be callable, not %s" % type(read_at).__name__)
    return _open_source(callable_filler(read_at), size, name, num_threads, verify_checksums)


def _open_source(fill, size, name, num_threads, verify_checksums):
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError("size must be an int >= 0, not %r" % (size,))
    source, keep = c_source(fill, size, name)
    options = _open_options(num_threads, verify_checksums)
    handle = ctypes.c_void_p()
    err = err_ptr()
    check(lib.qs_open_source_e(ctypes.byref(source), ctypes.byref(options), ctypes.byref(handle), err), err)
    return File(handle, keep)


class _Handle:
    """The C handle and what it reads from; closed when the last reference goes: the
    File's (close() drops it) or that of an array of File.view_low, which points into the
    handle's mapping."""
    __slots__ = ("value", "keep_alive", "__weakref__")

    def __init__(self, value, keep_alive):
        self.value = value
        self.keep_alive = keep_alive

    def __del__(self):
        value, self.value = self.value, None
        if value and lib is not None:
            lib.qs_close(value)


class File:
    """An open .qs file. Loads may run from several threads at once; close() must not."""

    def __init__(self, handle, keep_alive=None):
        self._owner = _Handle(handle.value, keep_alive)
        self._handle = handle.value
        try:
            self._t = TensorIndex(self._handle)
        except BaseException:
            self.close()
            raise

    # ---- lifetime ----
    def close(self):
        """Closes the file (again: nothing). Arrays already returned stay valid; the C
        handle lives on until the last array of view_low is gone."""
        self._handle = None
        self._owner = None  # closes the handle unless a view holds it

    @property
    def closed(self):
        return self._handle is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_owner", None):
            self.close()

    def _live(self):
        if self._handle is None:
            raise ValueError("operation on a closed qstore file")
        return self._handle

    # ---- what the file holds ----
    def keys(self):
        """Tensor names in file order."""
        self._live()
        return list(self._t.names)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        self._live()
        return len(self._t)

    def __contains__(self, name):
        self._live()
        return name in self._t.by_name

    def _find(self, name):
        """Index of tensor `name` (KeyError / TypeError otherwise)."""
        self._live()
        if not isinstance(name, str):
            raise TypeError("tensor names are str, not %s" % type(name).__name__)
        i = self._t.by_name.get(name)
        if i is None:
            raise _errors.NotFoundError(_errors.NOT_FOUND, "no tensor named %r" % (name,))
        return i

    def info(self, name):
        """TensorInfo of a tensor: name, dtype, shape, scheme, group_size, num_levels, high_bytes."""
        return self._t.info(self._find(name))

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
        out        (high only) a C-contiguous writable array of exactly the bytes to load,
                   returned as it is (any dtype; no widening).
        """
        t = self._t
        i = t.by_name.get(name) if type(name) is str and self._handle else None
        if i is None:
            i = self._find(name)  # raises the right error
        if out is not None and widen:
            raise ValueError("out= and widen=True exclude each other")
        if rows is None and precision is _HIGH and out is not None:
            return self._load_high_into(i, out)  # the hot path of a loader reusing its arrays
        if rows is None and type(precision) is str and precision == _HIGH:
            array = self._load_high(i, None, None, out)
        else:
            level = self._level(i, precision)
            first, count = self._rows(i, rows)
            if level != t.num_levels[i] - 1:
                if out is not None:
                    raise ValueError("out= is for the high precision only")
                low = load_low_one(self._handle, t, i) if level == 0 and first is None else None
                return self._load_level(i, level, first, count) if low is None else low
            array = self._load_high(i, first, count, out)
        if out is not None:
            return out
        dtype = t.dtype_names[i]
        return _widen(array, dtype) if widen else wrap(array, dtype)

    def view_low(self, name):
        """The low precision (level 0) of a tensor whose codes are stored raw (files
        packed with --low-raw, and unquantized tensors), without copying: read-only arrays
        over the file's mapping, shaped as get_tensor(name, "low") shapes them (a
        Quantized, or the tensor's array). They keep the mapping alive, also after
        close(). NotAvailableError for entropy-coded codes, schemes with zero points, and
        files opened from a URL, a file object or open_reader."""
        i = self._find(name)
        return view_low(self._owner, self._t, i)

    def get_tensors(self, names=None, precision=_HIGH, *, widen=False):
        """Many tensors in one call: {name: what get_tensor(name, precision) returns},
        in the order of `names` (default: every tensor, in file order). precision is
        "high" or "low"; the tensors are decoded in parallel on the file's threads
        (qs_load_high_many / qs_load_low_many). widen=True: BF16/F8 high as float32."""
        handle = self._live()
        indices = range(len(self._t)) if names is None else [self._find(n) for n in names]
        if type(precision) is str and precision == _HIGH:
            return load_high_many(handle, self._t, indices, widen)
        if type(precision) is str and precision == _LOW:
            if widen:
                raise ValueError("widen=True is for the high precision only")
            return load_low_many(handle, self._t, indices, lambda i: self._load_level(i, 0, None, None))
        raise ValueError("get_tensors: precision must be 'high' or 'low', not %r" % (precision,))

    def _level(self, i, precision):
        levels = self._t.num_levels[i]
        if isinstance(precision, str):
            if precision == _HIGH:
                return levels - 1
            if precision == _LOW:
                return 0
            raise ValueError("precision must be 'high', 'low' or a level number, not %r" % precision)
        if isinstance(precision, bool) or not isinstance(precision, (int, np.integer)):
            raise TypeError("precision must be 'high', 'low' or a level number, not %r" % (precision,))
        if levels == 1 and 0 <= precision < lib.qs_level_count(self._handle):
            return 0  # a passthrough tensor is the same at every level of the file
        if not 0 <= precision < levels:
            raise ValueError("tensor %r has levels 0..%d, not %d" % (self._t.names[i], levels - 1, precision))
        return int(precision)

    def _rows(self, i, rows):
        if rows is None:
            return None, None
        if not isinstance(rows, slice):
            raise TypeError("rows must be a slice of dimension 0, not %s" % type(rows).__name__)
        shape = self._t.shapes[i]
        if not shape:
            raise ValueError("tensor %r has no rows (a scalar)" % self._t.names[i])
        start, stop, step = rows.indices(shape[0])
        if step != 1:
            raise ValueError("rows: only a step of 1 is supported")
        return start, max(stop - start, 0)

    def _load_high_into(self, i, out):
        """The whole high precision into `out`, returned as it is."""
        nbytes = self._t.high_bytes[i]
        if type(out) is not np.ndarray and not isinstance(out, np.ndarray):
            raise ValueError("out must be a C-contiguous writable numpy array")
        if out.nbytes != nbytes:
            raise ValueError("out holds %d bytes, tensor %r needs %d" % (out.nbytes, self._t.names[i], nbytes))
        try:
            pointer = ctypes.addressof(ctypes.c_char.from_buffer(out)) if nbytes else None
        except TypeError:  # read-only or not C-contiguous
            raise ValueError("out must be a C-contiguous writable numpy array") from None
        err = err_ptr()
        status = lib.qs_load_high_e(self._handle, i, pointer, nbytes, err)
        if status:
            raise error_from(status, err)
        return out

    def _load_high(self, i, first, count, out):
        handle = self._live()
        t = self._t
        if first is None:
            shape, nbytes = t.shapes[i], t.high_bytes[i]
        else:
            shape = (count,) + t.shapes[i][1:]
            nbytes = count * (t.high_bytes[i] // t.shapes[i][0])
        if out is None:
            array = np.empty(shape, dtype=t.np_dtypes[i])
        else:
            array = out
            if not (isinstance(out, np.ndarray) and out.flags.c_contiguous and out.flags.writeable):
                raise ValueError("out must be a C-contiguous writable numpy array")
            if out.nbytes != nbytes:
                raise ValueError("out holds %d bytes, tensor %r needs %d" % (out.nbytes, t.names[i], nbytes))
        pointer = _writable_pointer(array)
        err = err_ptr()
        if first is None:
            status = lib.qs_load_high_e(handle, i, pointer, nbytes, err)
        else:
            status = lib.qs_load_high_rows_e(handle, i, first, count, pointer, nbytes, err)
        if status:
            raise error_from(status, err)
        return array

    def _load_level(self, i, level, first, count):
        if count == 0:  # no rows: the whole level's layout with zero rows
            whole = self._load_level(i, level, None, None)
            whole.shape = (0,) + whole.shape[1:]
            whole.codes = whole.codes[:, first:first] if whole.scheme.startswith("gptq-int4") else whole.codes[first:first]
            whole.scales = scale_rows(whole.scheme, whole.scales, first, first)
            whole.zero_points = scale_rows(whole.scheme, whole.zero_points, first, first)
            return whole
        handle = self._live()
        t = self._t
        err = err_ptr()
        c_level = QsLevelInfo()
        c_level.struct_size = ctypes.sizeof(QsLevelInfo)
        shape = t.shapes[i]
        if first is None:
            check(lib.qs_level_info_get_e(handle, i, level, ctypes.byref(c_level), err), err)
        else:
            check(lib.qs_rows_level_info_get_e(handle, i, level, first, count, ctypes.byref(c_level), err), err)
            shape = (count,) + shape[1:]
        scheme = scheme_name(c_level.scheme, c_level.group_size)
        codes, scales, zero_points, code_name = empty_parts(c_level, scheme, shape[0] if shape else 1, shape)
        parts = (_writable_pointer(codes), codes.nbytes,
                 None if scales is None else _writable_pointer(scales), 0 if scales is None else scales.nbytes,
                 None if zero_points is None else _writable_pointer(zero_points),
                 0 if zero_points is None else zero_points.nbytes)
        if first is None:
            status = lib.qs_load_level_e(handle, i, level, *parts, err)
        else:
            status = lib.qs_load_level_rows_e(handle, i, level, first, count, *parts, err)
        check(status, err)
        return Quantized(scheme, c_level.group_size, level, shape, t.dtype_names[i], wrap(codes, code_name), scales,
                         zero_points)

    def __repr__(self):
        state = "closed" if self._handle is None else "%d tensors" % len(self._t)
        return "<qstore.File %s>" % state
