"""File.metadata(): the model's metadata entries (qs_metadata_*) as a Python dict."""
import ctypes

import numpy as np

from ._cstructs import QsMetadataEntry
from ._errors import check, err_ptr
from ._lib import lib

# qs_value_type number -> numpy dtype of one value (0, strings, are handled apart)
_VALUE_DTYPES = {1: np.uint8, 2: np.int8, 3: np.uint16, 4: np.int16, 5: np.uint32, 6: np.int32, 7: np.uint64,
                 8: np.int64, 9: np.float32, 10: np.float64, 11: np.bool_}
_STRING = 0


def _text(pointer, size):
    return ctypes.string_at(pointer, size).decode("utf-8", "replace") if size else ""


def _string_array(handle, index, count, err):
    text = ctypes.c_char_p()
    size = ctypes.c_uint64()
    values = []
    for element in range(count):
        check(lib.qs_metadata_string_at_e(handle, index, element, ctypes.byref(text), ctypes.byref(size), err), err)
        values.append(_text(ctypes.cast(text, ctypes.c_void_p).value, size.value))
    return values


def _value(handle, index, entry, err):
    if entry.type == _STRING:
        if entry.is_array:
            return _string_array(handle, index, entry.count, err)
        return _text(entry.string, entry.string_bytes)
    dtype = np.dtype(_VALUE_DTYPES[entry.type])
    raw = ctypes.string_at(entry.values, dtype.itemsize * entry.count) if entry.count else b""
    values = np.frombuffer(raw, dtype=dtype).copy()
    return values if entry.is_array else values[0].item()


def read_metadata(handle):
    """{key: value}: str for strings, Python numbers, numpy arrays / lists of str for arrays."""
    err = err_ptr()
    entry = QsMetadataEntry()
    result = {}
    for index in range(lib.qs_metadata_count(handle)):
        entry.struct_size = ctypes.sizeof(QsMetadataEntry)
        check(lib.qs_metadata_get_e(handle, index, ctypes.byref(entry), err), err)
        result[entry.key.decode("utf-8", "replace")] = _value(handle, index, entry, err)
    return result
