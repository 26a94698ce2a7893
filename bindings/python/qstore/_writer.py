"""qstore.Writer and qstore.pack: a .qs file written tensor by tensor (qs_writer_*),
the same bytes `qstore pack` writes for the same tensors and options."""
import ctypes
import os

import numpy as np

from ._cstructs import QsGivenLow
from ._dtypes import DTYPE_NUMBERS, FROM_NUMPY
from ._errors import check, err_ptr
from ._lib import lib
from ._low import parse_scheme


def _pointer(array):
    return array.__array_interface__["data"][0]


def _dtype_number(array, dtype):
    name = dtype or getattr(array, "qstore_dtype", None) or FROM_NUMPY.get(array.dtype)
    if name not in DTYPE_NUMBERS:
        raise ValueError("no qstore dtype for %s; pass dtype= (e.g. 'BF16' for a uint16 array of bf16 bits)"
                         % (name or array.dtype))
    return DTYPE_NUMBERS[name]


def _given_low(low, keep):
    """A qs_given_low for a Quantized (or any object with scheme, codes, scales, zero_points)."""
    scheme, group = parse_scheme(low.scheme)
    given = QsGivenLow()
    given.struct_size = ctypes.sizeof(QsGivenLow)
    given.scheme = scheme
    given.group_size = group
    for part in ("codes", "scales", "zero_points"):
        value = getattr(low, part, None)
        if value is None:
            continue
        array = np.ascontiguousarray(value)
        keep.append(array)
        setattr(given, part, _pointer(array))
        setattr(given, part + "_size", array.nbytes)
    return given


class Writer:
    """Writes a .qs file at `path`; it appears there only at finish(), atomically.

    low          the low precisions, highest first: "int8-row" (default), "fp8-e4m3-row",
                 "int4-asym-group:64", ..., or a list for a chain: ["int8-row", "q4_0"]
    low_raw      store low codes raw and 64-byte aligned (zero-copy loads)
    exclude      fnmatch patterns of tensor names to store unquantized
    zstd_level   -7..22; num_threads: 0 = one per CPU
    strict       a quantizable tensor without given low codes is an error when others have them

    Used as a context manager, it finishes at the end of the block, or aborts (nothing
    is written) when the block raises.
    """

    def __init__(self, path, *, low="int8-row", low_raw=False, exclude=(), zstd_level=1, num_threads=0,
                 strict=False):
        options = lib.qs_writer_options_default()
        schemes = low if isinstance(low, str) else ",".join(low)
        options.low_schemes = schemes.encode()
        options.low_raw = 1 if low_raw else 0
        patterns = [os.fsencode(p) if not isinstance(p, bytes) else p for p in exclude]
        array = (ctypes.c_char_p * max(len(patterns), 1))(*patterns)
        options.exclude = ctypes.cast(array, ctypes.POINTER(ctypes.c_char_p))
        options.exclude_count = len(patterns)
        options.zstd_level = zstd_level
        options.num_threads = num_threads
        options.strict_given_low = 1 if strict else 0
        handle = ctypes.c_void_p()
        err = err_ptr()
        check(lib.qs_writer_create_e(os.fsencode(path), ctypes.byref(options), ctypes.byref(handle), err), err)
        self._handle = handle.value

    def _live(self):
        if self._handle is None:
            raise ValueError("operation on a finished or aborted qstore writer")
        return self._handle

    def set_metadata(self, key, value):
        """A string pair of the file's metadata (safetensors' __metadata__)."""
        err = err_ptr()
        check(lib.qs_writer_set_metadata_e(self._live(), key.encode(), value.encode(), err), err)

    def add_tensor(self, name, array, *, dtype=None, low=None):
        """Adds one tensor (copied before returning). `array` holds its high-precision
        values; `dtype` names its type when the array does not say it (BF16 and F8 as
        uint16 / uint8 bits). `low`: its low precision made elsewhere (a Quantized,
        e.g. from File.get_tensor(name, "low"), in the writer's single scheme)."""
        handle = self._live()
        number = _dtype_number(array, dtype)
        data = np.ascontiguousarray(array)
        shape = (ctypes.c_uint64 * max(data.ndim, 1))(*data.shape)
        keep = []
        given = None if low is None else ctypes.byref(_given_low(low, keep))
        err = err_ptr()
        check(lib.qs_writer_add_tensor_e(handle, name.encode("utf-8"), number, data.ndim, shape,
                                         _pointer(data) if data.nbytes else None, data.nbytes, given, err), err)

    def finish(self):
        """Writes what remains and moves the file into place."""
        handle = self._live()
        self._handle = None
        err = err_ptr()
        try:
            check(lib.qs_writer_finish_e(handle, err), err)
        finally:
            lib.qs_writer_free(handle)

    def abort(self):
        """Drops the file being written; `path` is left as it was. Again: nothing."""
        handle, self._handle = self._handle, None
        if handle:
            lib.qs_writer_free(handle)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.finish()
        else:
            self.abort()

    def __del__(self):
        if getattr(self, "_handle", None):
            self.abort()


def pack(path, tensors, *, metadata=None, **options):
    """Writes `tensors` ({name: array} or (name, array) pairs, in file order) to a .qs
    file at `path`; options as Writer's. Arrays of BF16/F8 bits need .qstore_dtype
    (as get_tensor returns them)."""
    items = tensors.items() if hasattr(tensors, "items") else tensors
    with Writer(path, **options) as writer:
        for key, value in (metadata or {}).items():
            writer.set_metadata(key, value)
        for name, array in items:
            writer.add_tensor(name, array)
